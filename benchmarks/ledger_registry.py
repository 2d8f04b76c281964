"""Time `governance verify` over 100,000 signed ledger entries and 100 registry versions, and
a signed approval round trip; write LEDGER_RESULTS.md.

Keys are real OpenSSH keys made by ssh-keygen: an ECDSA pipeline key (as `governance keys
init` makes it) and an Ed25519 reviewer key, listed in an allowed-signers file. The 100
versions are registered through the real `registry.register` with the pipeline key set (each
entry signed by `ssh-keygen -Y sign`), each holding the files of the project's last promoted
version with a model that differs by a trailing byte. The ledger is then padded to 100,000
verdict entries chained and signed exactly as `ledger.append` does, except that the SSHSIG
is made in-process with the same private key (100,000 ssh-keygen processes would be the slow
part of building, not of verifying; `tests/test_trust.py` holds the format equal to
ssh-keygen's). Needs a registry version to copy: run `make run` first. Median of RUNS runs.
"""

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
import base64  # noqa: E402
import hashlib  # noqa: E402
import struct  # noqa: E402

from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, utils  # noqa: E402

from governance_assets.core.params import SignoffSpec  # noqa: E402
from governance_assets.core.record import audit, ledger, registry
from governance_assets.core.record.ledger import reading
from governance_assets.core.trust import signatures, signoff
from governance_assets.core.trust.authority import AllowedSigners
from governance_assets.core.trust.keyring import allowed_line

RUNS, VERSIONS, ENTRIES = 5, 100, 100_000
RESULTS = REPO / "benchmarks" / "LEDGER_RESULTS.md"
GOVERNANCE = REPO / ".venv" / "bin" / "governance"
SPEC = SignoffSpec(approvers=["reviewer"], pipeline_signers=["ci-pipeline"])


def make_keys(folder: Path) -> tuple[Path, Path, Path]:
    """(pipeline key, reviewer key, allowed-signers file), by ssh-keygen."""
    made = {}
    for principal, kind in (("ci-pipeline", ["-t", "ecdsa", "-b", "256"]),
                            ("reviewer", ["-t", "ed25519"])):
        made[principal] = folder / principal
        subprocess.run(["ssh-keygen", "-q", *kind, "-N", "", "-C", principal, "-f",
                        str(made[principal])], check=True)
    allowed = folder / "allowed_signers"
    allowed.write_text("".join(allowed_line(p, Path(f"{k}.pub").read_text()) + "\n"
                               for p, k in made.items()))
    return made["ci-pipeline"], made["reviewer"], allowed


def _string(value: bytes) -> bytes:
    return struct.pack(">I", len(value)) + value


def _mpint(value: int) -> bytes:
    return _string(value.to_bytes(value.bit_length() // 8 + 1, "big"))


class FastEcdsaSigner:
    """SSHSIG (PROTOCOL.sshsig) by an ECDSA P-256 OpenSSH key, in-process: for building."""

    def __init__(self, key: Path):
        self.private = serialization.load_ssh_private_key(key.read_bytes(), None)
        self.public = signatures.public_blob_of_line(Path(f"{key}.pub").read_text())
        self.fingerprint = signatures.fingerprint(self.public)

    def sign(self, message: bytes) -> str:
        namespace = signatures.NAMESPACE.encode()
        signed = (signatures.MAGIC + _string(namespace) + _string(b"") + _string(b"sha512")
                  + _string(hashlib.sha512(message).digest()))
        r, s = utils.decode_dss_signature(self.private.sign(signed, ec.ECDSA(hashes.SHA256())))
        wrapped = _string(b"ecdsa-sha2-nistp256") + _string(_mpint(r) + _mpint(s))
        blob = (signatures.MAGIC + struct.pack(">I", 1) + _string(self.public)
                + _string(namespace) + _string(b"") + _string(b"sha512") + _string(wrapped))
        text = base64.b64encode(blob).decode()
        lines = [text[i:i + 70] for i in range(0, len(text), 70)]
        return "\n".join([signatures.ARMOR_BEGIN, *lines, signatures.ARMOR_END]) + "\n"


def _template() -> Path:
    staged = registry.get_alias(REPO / "registry", "staging")
    if staged is None:
        sys.exit("no staging version in registry/: run `make run` first")
    return REPO / "registry" / "versions" / staged


def build_registry(root: Path, work: Path) -> list[str]:
    template, made = _template(), []
    evidence = {p.name: p for p in template.iterdir()
                if p.name not in ("manifest.json", registry.MODEL_FILE)}
    model = work / registry.MODEL_FILE
    for number in range(VERSIONS):
        model.write_bytes((template / registry.MODEL_FILE).read_bytes() + number.to_bytes(4, "big"))
        made.append(registry.register(root, model, evidence, {"decision": "promote"})["version"])
    return made


def pad_ledger(root: Path, pipeline: Path) -> None:
    """Signed verdict entries chained after the registry's own, up to ENTRIES in all."""
    signer = FastEcdsaSigner(pipeline)
    last = ledger.head(root)
    previous, seq = last["hash"], last["seq"] + 1
    actor = ledger.identity()
    with (root / ledger.LEDGER_FILE).open("a") as out:
        for number in range(seq, ENTRIES):
            body = {"seq": number, "at": ledger.now(), "kind": "verdict", "actor": actor,
                    "data": {"gate": f"gate{number % 24}", "outcome": "pass", "value": 0.9,
                             "threshold": 0.8, "fingerprint": f"{number:024x}",
                             "record_sha256": f"{number:064x}",
                             "run_id": f"run-{number // 24}"},
                    "prev": previous, "alg": "sha256", "signer": {"key": signer.fingerprint}}
            previous = ledger.entry_hash(body, None)
            out.write(ledger.canonical({**body, "hash": previous,
                                        "sig": signer.sign(previous.encode())}) + "\n")
    (root / ledger.HEAD_FILE).write_text(json.dumps({"seq": ENTRIES - 1, "hash": previous}))


def _median(action) -> tuple[float, list[float]]:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times


def _cli(project: Path, *arguments: str) -> None:
    result = subprocess.run([str(GOVERNANCE), "--root", str(project), *arguments],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"governance {' '.join(arguments)} failed:\n{result.stdout}\n{result.stderr}")


def _verify(root: Path) -> None:
    report = audit.verify(root)
    assert report.problems == [] and report.entries == ENTRIES, report.problems


def _cold_read(root: Path, cache: Path) -> None:
    """A reader with nothing verified before (a new user, a new machine): the whole chain."""
    shutil.rmtree(cache, ignore_errors=True)
    reading.VERIFIED.clear()
    reading.INDEX_CACHE.clear()
    assert ledger.last_entry(root, "register") is not None


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="ledger-bench-"))
    project = work / "project"
    root = project / "registry"
    cache = work / "verify-cache"
    os.environ[ledger.VERIFY_CACHE_ENV] = str(cache)
    try:
        (project).mkdir()
        pipeline, reviewer, allowed = make_keys(work)
        shutil.copy(REPO / "params.yaml", project / "params.yaml")
        (project / "governance").mkdir()
        shutil.copy(allowed, project / "governance" / "allowed_signers")
        for folder in ("raw", "reference"):
            shutil.copytree(REPO / "data" / folder, project / "data" / folder)
        os.environ[signatures.SIGNING_KEY_ENV] = str(pipeline)
        versions = build_registry(root, work)
        pad_ledger(root, pipeline)
        del os.environ[signatures.SIGNING_KEY_ENV]
        size = (root / ledger.LEDGER_FILE).stat().st_size
        stored = sum(p.stat().st_size for p in (root / "versions").rglob("*") if p.is_file())
        rows = [("`audit.verify` in-process (every signature, the chain, every registry file, "
                 "aliases, records)", *_median(lambda: _verify(root)), 10.0),
                ("`governance verify` (a fresh process: imports + the same)",
                 *_median(lambda: _cli(project, "verify")), 10.0),
                ("first read by a reader with nothing verified yet (whole chain, signatures)",
                 *_median(lambda: _cold_read(root, cache)), 10.0)]
        target, trust = versions[-1], signoff.Trust(SPEC, AllowedSigners.load(allowed))
        key = signatures.Signer(reviewer)
        rows.append(("signed approval round trip in-process (`approve` signed by ssh-keygen + "
                     "`approval_standing`)",
                     *_median(lambda: (signoff.approve(root, target, key, "ok", trust),
                                       signoff.approval_standing(root, target, trust))), 1.0))
        spec_file = project / "params.yaml"
        spec_file.write_text(spec_file.read_text().replace(
            "approvers: [model-risk-officer, head-of-credit-risk]", "approvers: [reviewer]"
        ).replace("require_signed_run: true", "require_signed_run: false"))
        rows.append(("signed approval round trip by CLI (`governance approve --key` + "
                     "`governance show`)",
                     *_median(lambda: (_cli(project, "approve", target, "--key", str(reviewer),
                                            "--reason", "ok"), _cli(project, "show", target))),
                     1.0))
        _write(rows, size, stored)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _write(rows, ledger_bytes: int, stored_bytes: int) -> None:
    lines = [
        "# Ledger and registry benchmarks", "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {platform.platform()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; median of {RUNS} runs "
        "(warm page cache). Produced by `benchmarks/ledger_registry.py`.", "",
        f"Ledger: {ENTRIES:,} entries, each SSH-signed ({ledger_bytes / 1e6:.1f} MB); "
        f"registry: {VERSIONS} "
        f"versions ({stored_bytes / 1e6:.0f} MB, every file re-hashed by verify).", "",
        "| what | median s | runs (s) | target s | within |", "|---|---|---|---|---|"]
    for name, median, times, target in rows:
        lines.append(f"| {name} | {median:.2f} | {', '.join(f'{t:.2f}' for t in times)} | "
                     f"≤ {target:g} | {'yes' if median <= target else '**no**'} |")
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
