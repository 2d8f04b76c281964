"""The decision log's audit questions over 10,000,000 logged decisions; writes
benchmarks/LOG_QUERIES.md.

The log is generated, not scored: 200 batches of 50,000 decisions in parts of
monitoring.log_chunk_rows (5,000) rows, 2,000 Parquet parts laid out and typed as the writer
(core/monitor/decision_log.py) lays them out: the same columns and types, a random sha256 per
decision (incompressible, as real ones are), two model versions, a shadow on every fourth
batch, decisions spread over twelve months. Scoring 10 million rows would measure the model,
not the log; the 1,000,000-row batch benchmark (benchmarks/monitoring.py --rows) measures the
writer.

Each question runs through `governance log` in a fresh process (what an auditor types, Python
start and imports included) and, separately, as `log_queries.ask` alone; median of 3, with the
peak RSS of the process.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "benchmarks" / ".work" / "decision_log_10m"
RESULTS = REPO / "benchmarks" / "LOG_QUERIES.md"
PYTHON = REPO / ".venv" / "bin" / "python"
GOVERNANCE = REPO / ".venv" / "bin" / "governance"
sys.path.insert(0, str(REPO))

from benchmarks.run_benchmarks import _machine  # noqa: E402
from governance_assets.core.monitor import decision_log  # noqa: E402

BATCHES, BATCH_ROWS, PART_ROWS = 200, 50_000, 5_000
REPEATS = 3
START = datetime(2026, 1, 1, tzinfo=timezone.utc)
GROUPS = {"sex": ["female", "male"], "age_band": ["under_25", "25_and_over"]}
QUESTIONS = [("volume", []), ("by-group-month", ["--version", "v1", "--attribute", "sex"]),
             ("batches", []), ("subject", ["--input", "SUBJECT"])]


def _sha256_hex(rng: np.random.Generator, rows: int) -> np.ndarray:
    return np.array([bytes(row).hex() for row in rng.integers(0, 256, (rows, 32),
                                                               dtype=np.uint8)])


def _part(rng, batch: int, start: int, role: str, version: str, at: datetime) -> pa.Table:
    rows = PART_ROWS
    score = rng.beta(2, 2, rows)
    columns = {
        "batch": np.full(rows, f"b{batch:04d}"), "row": np.arange(start, start + rows),
        "input_sha256": _sha256_hex(rng, rows), "model_version": np.full(rows, version),
        "model_sha256": np.full(rows, f"{hash(version) & 0xFFFF:064x}"),
        "role": np.full(rows, role), "score": score,
        "decision": np.where(score >= 0.5, decision_log.FAVOURABLE, decision_log.UNFAVOURABLE),
        "threshold": np.full(rows, 0.5),
        "decided_at": np.full(rows, np.datetime64(at.replace(tzinfo=None), "ns")),
        "run_id": np.full(rows, f"run-{batch:04d}"),
    }
    for attribute, groups in GROUPS.items():
        columns[decision_log.group_column(attribute)] = rng.choice(groups, rows)
    table = pa.table(columns)
    return table.set_column(table.schema.get_field_index("decided_at"), "decided_at",
                            table["decided_at"].cast(pa.timestamp("ns", tz="UTC")))


def generate(registry: Path) -> float:
    """The 10M-row log, once (a marker file says it is complete, and how long it took)."""
    done = registry / "decision_log" / ".complete"
    if done.exists():
        return float(done.read_text() or "nan")
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    for batch in range(BATCHES):
        version = "v1" if batch < BATCHES * 3 // 5 else "v2"
        at = START + timedelta(days=batch * 365 // BATCHES, hours=batch % 24)
        folder = registry / "decision_log" / f"b{batch:04d}" / f"{batch:016x}"
        folder.mkdir(parents=True, exist_ok=True)
        roles = [("production", version)] + ([("shadow", "v2")] if batch % 4 == 0 else [])
        for role, scorer in roles:
            for start in range(0, BATCH_ROWS, PART_ROWS):
                name = f"{role}-{scorer}-{start:09d}-{start + PART_ROWS:09d}.parquet"
                pq.write_table(_part(rng, batch, start, role, scorer, at), folder / name)
    seconds = time.perf_counter() - started
    done.write_text(f"{seconds:.1f}")
    return seconds


def _project(registry: Path) -> Path:
    """A project copy whose registry is the generated one (params and code from the repo)."""
    root = WORK / "project"
    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_bytes((REPO / "params.yaml").read_bytes())
    for name, target in (("datasets", REPO / "datasets"), ("data", REPO / "data"),
                         ("registry", registry)):
        if not (root / name).exists():
            (root / name).symlink_to(target)
    return root


ASK = """
import resource, sys, time
from pathlib import Path
from governance_assets.core.monitor import log_queries
started = time.perf_counter()
answer = log_queries.ask(Path(sys.argv[1]), sys.argv[2], version=sys.argv[3] or None,
                         attribute=sys.argv[4] or None, input_sha256=sys.argv[5] or None,
                         sensitive=("sex", "age_band"))
print(time.perf_counter() - started, len(answer),
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _child_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _cli(root: Path, question: str, arguments: list[str]) -> tuple[float, float]:
    """Seconds of the whole `governance log` command and its process's peak RSS (MiB)."""
    command = [str(PYTHON), "-c", "import resource, subprocess, sys; "
               "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)",
               str(GOVERNANCE), "--root", str(root), "log", question, *arguments]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return time.perf_counter() - started, int(done.stdout.split()[-1]) / 1024


def _ask(registry: Path, question: str, arguments: list[str]) -> tuple[float, int, float]:
    options = dict(zip(arguments[::2], arguments[1::2], strict=True))
    done = subprocess.run([str(PYTHON), "-c", ASK, str(registry), question,
                           options.get("--version", ""), options.get("--attribute", ""),
                           options.get("--input", "")],
                          capture_output=True, text=True, check=True, cwd=REPO)
    seconds, rows, peak = done.stdout.split()
    return float(seconds), int(rows), int(peak) / 1024


def main() -> None:
    registry = WORK / "registry"
    generated = generate(registry)
    root = _project(registry)
    subject = pq.read_table(next((registry / "decision_log").glob("b0150/*/*.parquet")),
                            columns=["input_sha256"])["input_sha256"][7].as_py()
    parts = len(list((registry / "decision_log").glob("*/*/*.parquet")))
    size = sum(p.stat().st_size for p in (registry / "decision_log").glob("*/*/*.parquet"))
    loads, lines = [os.getloadavg()[0]], []
    for question, arguments in QUESTIONS:
        arguments = [subject if a == "SUBJECT" else a for a in arguments]
        cli = [_cli(root, question, arguments) for _ in range(REPEATS)]
        ask = [_ask(registry, question, arguments) for _ in range(REPEATS)]
        loads.append(os.getloadavg()[0])
        lines.append(
            f"| `governance log {' '.join([question, *arguments])[:60]}` | {ask[0][1]} | "
            f"{statistics.median(a[0] for a in ask):.2f} ({', '.join(f'{a[0]:.2f}' for a in ask)})"
            f" | {statistics.median(c[0] for c in cli):.2f} "
            f"({', '.join(f'{c[0]:.2f}' for c in cli)}) | {max(c[1] for c in cli):.0f} |")
    rows = BATCHES * BATCH_ROWS
    text = "\n".join([
        "# Audit questions over a 10,000,000-decision log (benchmarks/decision_log_scale.py)", "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on: {_machine()}. Load "
        f"average (1 min) during the runs: {', '.join(f'{x:.1f}' for x in loads)}.", "",
        f"The log: {rows:,} production decisions (+{BATCHES // 4 * BATCH_ROWS:,} shadow) in "
        f"{BATCHES} batches, {parts:,} Parquet parts of {PART_ROWS:,} rows, "
        f"{size / 2**20:,.0f} MiB on disk, generated once in {generated:.0f} s and kept "
        "between runs (the writer's columns and types, random sha256s, twelve months; not "
        "scored). DuckDB scans the parts where they are; only the answer comes back.", "",
        "| question | answer rows | `log_queries.ask` alone, median (s) (runs) | whole "
        "command, median (s) (runs) | peak RSS of the command (MiB) |", "|---|---|---|---|---|",
        *lines, "",
        "Target: all decisions of a version by group and month in <= 10 s "
        "(`by-group-month`).", ""])
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
