"""Time `governance verify` over 100,000 ledger entries and 100 registry versions, and an
approval round trip; write LEDGER_RESULTS.md.

The 100 versions are registered through the real `registry.register`, each holding the files
of the project's last promoted version (4 MB: model, card, reports, drift HTML) with a model
that differs by a trailing byte. The ledger is then padded to 100,000 entries with verdict
entries chained exactly as `ledger.append` chains them (written in one go: appending 100,000
times with an fsync each is the slow part of building, not of verifying). Needs a registry
version to copy: run `make run` first. Median of RUNS runs, on this machine.
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
from governance_assets.core import audit, ledger, registry, signoff  # noqa: E402
from governance_assets.core.params import SignoffSpec  # noqa: E402

RUNS, VERSIONS, ENTRIES = 5, 100, 100_000
RESULTS = REPO / "benchmarks" / "LEDGER_RESULTS.md"
GOVERNANCE = REPO / ".venv" / "bin" / "governance"
SPEC = SignoffSpec(approvers=["reviewer"])


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


def pad_ledger(root: Path) -> None:
    """Verdict entries chained after the registry's own, up to ENTRIES in all."""
    last = ledger.head(root)
    previous, seq = last["hash"], last["seq"] + 1
    actor = ledger.identity()
    with (root / ledger.LEDGER_FILE).open("a") as out:
        for number in range(seq, ENTRIES):
            body = {"seq": number, "at": ledger.now(), "kind": "verdict", "actor": actor,
                    "data": {"gate": f"gate{number % 24}", "outcome": "pass", "value": 0.9,
                             "threshold": 0.8, "fingerprint": f"{number:024x}",
                             "run_id": f"run-{number // 24}"},
                    "prev": previous, "alg": "sha256"}
            previous = ledger.entry_hash(body, None)
            out.write(ledger.canonical({**body, "hash": previous}) + "\n")
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


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="ledger-bench-"))
    project = work / "project"
    root = project / "registry"
    try:
        (project).mkdir()
        shutil.copy(REPO / "params.yaml", project / "params.yaml")
        for folder in ("raw", "reference"):
            shutil.copytree(REPO / "data" / folder, project / "data" / folder)
        versions = build_registry(root, work)
        pad_ledger(root)
        size = (root / ledger.LEDGER_FILE).stat().st_size
        stored = sum(p.stat().st_size for p in (root / "versions").rglob("*") if p.is_file())
        rows = [("`audit.verify` in-process (ledger + every registry file + aliases)",
                 *_median(lambda: _verify(root)), 5.0),
                ("`governance verify` (a fresh process: imports + the same)",
                 *_median(lambda: _cli(project, "verify")), 5.0)]
        target = versions[-1]
        os.environ[ledger.USER_ENV] = "bench"
        rows.append(("approval round trip in-process (`approve` + `approval_standing`)",
                     *_median(lambda: (signoff.approve(root, target, "reviewer", "ok", SPEC),
                                       signoff.approval_standing(root, target, SPEC))), 1.0))
        spec_file = project / "params.yaml"
        spec_file.write_text(spec_file.read_text().replace(
            "approvers: [model-risk-officer, head-of-credit-risk]", "approvers: [reviewer]"))
        rows.append(("approval round trip by CLI (`governance approve` + `governance show`)",
                     *_median(lambda: (_cli(project, "approve", target, "--by", "reviewer",
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
        f"Ledger: {ENTRIES:,} entries ({ledger_bytes / 1e6:.1f} MB); registry: {VERSIONS} "
        f"versions ({stored_bytes / 1e6:.0f} MB, every file re-hashed by verify).", "",
        "| what | median s | runs (s) | target s | within |", "|---|---|---|---|---|"]
    for name, median, times, target in rows:
        lines.append(f"| {name} | {median:.2f} | {', '.join(f'{t:.2f}' for t in times)} | "
                     f"≤ {target:g} | {'yes' if median <= target else '**no**'} |")
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
