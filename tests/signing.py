"""Real OpenSSH keys for the tests: made once per session by ssh-keygen, listed in an
allowed-signers file the way a team lists its reviewers' and CI's keys."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from governance_assets.core.params import SignoffSpec, load_params
from governance_assets.core.record import storage
from governance_assets.core.trust import signoff
from governance_assets.core.trust.authority import AllowedSigners
from governance_assets.core.trust.keyring import allowed_line
from governance_assets.core.trust.signatures import SIGNING_KEY_ENV, Signer

from .conftest import built_once, set_params

PEOPLE = ("alice", "bob", "carol", "dave")
PIPELINE = "ci-pipeline"


@dataclass(frozen=True)
class Keys:
    """Private keys by principal, and the allowed-signers file that lists them all."""

    folder: Path
    allowed: Path

    def signer(self, principal: str) -> Signer:
        return Signer(self.folder / principal)

    def path(self, principal: str) -> Path:
        return self.folder / principal

    def trust(self, spec: SignoffSpec) -> signoff.Trust:
        return signoff.Trust(spec, AllowedSigners.load(self.allowed))

    def install(self, project: Path, spec: SignoffSpec | None = None) -> None:
        """Put the allowed-signers file where a project's params.yaml names it."""
        target = project / (spec.allowed_signers if spec else "governance/allowed_signers")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.allowed.read_text())

    def install_as(self, project: Path, principals: dict[str, str]) -> None:
        """An allowed-signers file naming the project's own principals (params' roles) for
        these keys, e.g. {"model-risk-officer": "alice"}: how a team lists its people."""
        target = project / "governance" / "allowed_signers"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(
            allowed_line(principal, Path(f"{self.path(holder)}.pub").read_text()) + "\n"
            for principal, holder in principals.items()))

    def adopt(self, project: Path, require_signed_run: bool = True) -> signoff.Trust:
        """A project that trusts these keys: alice approves and promotes, ci-pipeline signs
        runs. `require_signed_run=False` for a project made by an unsigned local run (the
        session's shared graph runs): the signed-run rule is test_signoff's."""
        set_params(project, signoff__approvers=["alice"], signoff__promoters=[],
                   signoff__pipeline_signers=[PIPELINE],
                   signoff__require_signed_run=require_signed_run)
        self.install(project)
        return signoff.Trust.of(project, load_params(project).signoff)

    def promote(self, root: storage.RegistryPath, version: str, trust: signoff.Trust,
                approver: str = "alice", promoter: str = "alice") -> dict:
        """Production moved as a team moves it: a signed approval, a promoter's signed
        request, then the move that cites both."""
        signoff.approve(root, version, self.signer(approver), "test: reviewed", trust)
        signoff.request_promotion(root, version, self.signer(promoter), trust)
        return signoff.promote_to_production(root, version, trust)

    @contextmanager
    def signing(self, principal: str) -> Iterator[None]:
        """Entries written inside are signed by this principal's key, the way a run signs its
        own with GOVERNANCE_SIGNING_KEY; the variable is restored afterwards."""
        previous = os.environ.get(SIGNING_KEY_ENV)
        os.environ[SIGNING_KEY_ENV] = str(self.path(principal))
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop(SIGNING_KEY_ENV, None)
            else:
                os.environ[SIGNING_KEY_ENV] = previous


def make_key(folder: Path, principal: str, kind: tuple[str, ...] = ("-t", "ed25519")) -> Path:
    path = folder / principal
    subprocess.run(["ssh-keygen", "-q", *kind, "-N", "", "-C", principal, "-f", str(path)],
                   check=True, capture_output=True)
    return path


# Both key types people hold: alice and bob Ed25519; carol and dave ECDSA P-256, the type a
# pipeline key must have (model-signing signs with elliptic-curve keys only), since tests
# have them sign runs.
KEY_TYPES = {"alice": ("-t", "ed25519"), "bob": ("-t", "ed25519"),
             "carol": ("-t", "ecdsa", "-b", "256"), "dave": ("-t", "ecdsa", "-b", "256")}


def _make_keys(folder: Path) -> None:
    lines = [allowed_line(p, Path(f"{make_key(folder, p, KEY_TYPES[p])}.pub").read_text())
             for p in PEOPLE]
    pipeline = make_key(folder, PIPELINE, ("-t", "ecdsa", "-b", "256"))
    lines.append(allowed_line(PIPELINE, Path(f"{pipeline}.pub").read_text()))
    make_key(folder, "mallory")  # a real key nobody listed
    (folder / "allowed_signers").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    """One set of keys per session, shared by the xdist workers: a folder one worker builds
    (the DVC first run, say) carries allowed signers that the other worker's tests sign for."""
    folder = built_once(tmp_path_factory, "keys", _make_keys)
    return Keys(folder, folder / "allowed_signers")
