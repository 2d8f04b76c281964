"""`governance keys init`: demo keys for a local try-out, and their allowed-signers lines.

A team uses its own keys: each reviewer's existing OpenSSH public key goes into the committed
allowed-signers file under the principal params.yaml names in a role, through a reviewed git
change, and CI holds the pipeline's private key. For a try-out on one machine this makes one key
per approver and one for the pipeline (ECDSA P-256: the OpenSSF model-signing format accepts
elliptic-curve keys), in a git-ignored folder, and adds their lines to the file.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from ..params import SignoffSpec
from ..record.model_signature import PUBLIC_KEY_HINT
from .signatures import NAMESPACE, SIGNING_KEY_ENV

DEMO_FOLDER = ".governance-keys"


class KeyringError(RuntimeError):
    """ssh-keygen could not make a key; the message names it."""


def _make_key(path: Path, kind: list[str], principal: str) -> None:
    if path.is_file():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    made = subprocess.run(["ssh-keygen", "-q", *kind, "-N", "", "-C", principal, "-f",
                           str(path)], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    if made.returncode != 0:
        raise KeyringError(f"ssh-keygen could not make {path}: {made.stderr.strip()}")


def allowed_line(principal: str, public_line: str) -> str:
    kind, key = public_line.split()[:2]
    return f'{principal} namespaces="{NAMESPACE}" {kind} {key}'


def _add_line(allowed: Path, line: str) -> bool:
    existing = allowed.read_text() if allowed.is_file() else ""
    key = line.split()[-1]
    if any(row.split()[-1:] == [key] for row in existing.splitlines() if row.strip()):
        return False
    allowed.parent.mkdir(parents=True, exist_ok=True)
    allowed.write_text(existing + ("" if not existing or existing.endswith("\n") else "\n")
                       + line + "\n")
    return True


def _export_pem(key: Path, target: Path) -> Path:
    """The public key in the PEM form model-signing's verifier reads."""
    made = subprocess.run(["ssh-keygen", "-e", "-m", "PKCS8", "-f", f"{key}.pub"],
                          capture_output=True, text=True, timeout=60)
    if made.returncode != 0:
        raise KeyringError(f"ssh-keygen could not export {key}.pub: {made.stderr.strip()}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(made.stdout)
    return target


def demo_principals(spec: SignoffSpec) -> list[tuple[str, list[str]]]:
    """(principal, ssh-keygen type flags): every approver and promoter, then the pipeline."""
    people = list(dict.fromkeys(spec.approvers + spec.promoters))
    pipeline = spec.pipeline_signers[:1] or ["ci-pipeline"]
    return ([(p, ["-t", "ed25519"]) for p in people]
            + [(p, ["-t", "ecdsa", "-b", "256"]) for p in pipeline])


def init_demo(project: Path, folder: Path, spec: SignoffSpec) -> list[str]:
    """Make the demo keys (kept when they exist) and add them to the allowed-signers file;
    returns what to tell the user."""
    allowed = project / spec.allowed_signers
    told = []
    for principal, kind in demo_principals(spec):
        key = folder / principal
        _make_key(key, kind, principal)
        added = _add_line(allowed, allowed_line(principal, Path(f"{key}.pub").read_text()))
        shown = key.relative_to(project) if key.is_relative_to(project) else key
        told.append(f"{principal:<22} {shown}  ({'added to' if added else 'already in'} "
                    f"{spec.allowed_signers})")
    pipeline, people = told[-1].split()[1], [t.split()[1] for t in told[:-1]]
    pem = _export_pem(folder / demo_principals(spec)[-1][0], project / PUBLIC_KEY_HINT)
    told.append(f"{'(model-signing)':<22} {pem.relative_to(project)}  (the pipeline's public "
                "key as PEM, for `model_signing verify`)")
    told += ["", "Sign the pipeline's entries (what CI does with its own key):",
             f"  export {SIGNING_KEY_ENV}={pipeline}",
             "Then a reviewer approves and a promoter promotes, each with their key:",
             f"  governance approve staging --key {people[0]} --reason '...'",
             f"  governance promote-production --key {people[-1]}"]
    return told
