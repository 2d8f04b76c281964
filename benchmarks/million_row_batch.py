"""One 1,000,000-row census batch validated, scored (production and shadow) into the decision
log and monitored; writes benchmarks/MILLION_ROW_BATCH.md.

Set-up as benchmarks/monitoring.py (its functions, its folder benchmarks/.work/monitoring, kept
between runs): the census candidate trained on the bundled sample's 1994 rows is production, a
logistic regression on the same rows the shadow. Each batch is 1,000,000 rows drawn with
replacement from both full KDD files (../shared/data; real rows, repeated), a different seed per
run so each run scores a batch the log has not seen. Each run is one fresh process that
materializes scored_batch and batch_monitoring for its partition, as the schedule's run does;
its wall time and peak RSS are measured from outside. Median of 3.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import monitoring as setup  # noqa: E402
from benchmarks.run_benchmarks import _machine  # noqa: E402

ROWS = 1_000_000
REPEATS = 3
RESULTS = REPO / "benchmarks" / "MILLION_ROW_BATCH.md"

RUN = """
import json, resource, sys, time
from dagster import DagsterInstance, materialize
from governance_assets.assets.monitoring import batch_monitoring, batch_partitions, scored_batch
from governance_assets.resources import AlertWebhook, GovernanceProject
started = time.perf_counter()
with DagsterInstance.ephemeral() as instance:
    instance.add_dynamic_partitions(batch_partitions.name, [sys.argv[2]])
    result = materialize([scored_batch, batch_monitoring], instance=instance,
                         partition_key=sys.argv[2],
                         resources={"project": GovernanceProject(root=sys.argv[1]),
                                    "alerts": AlertWebhook()}, raise_on_error=False)
print(json.dumps({"success": result.success, "seconds": time.perf_counter() - started,
                  "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def production_ready(root: Path) -> bool:
    return (root / "registry" / "aliases" / "production.json").is_file()


def write_batch(root: Path, seed: int) -> str:
    full = pd.concat([pd.read_csv(setup.SHARED / f"census_income_kdd_{part}.csv.gz", dtype=str,
                                  keep_default_na=False) for part in ("train", "test")],
                     ignore_index=True)
    name = f"million-{seed}"
    for earlier in (f"reports/monitoring/{name}", f"data/monitoring/{name}",
                    f"registry/decision_log/{name}"):   # an earlier benchmark's run of it
        shutil.rmtree(root / earlier, ignore_errors=True)
    folder = root / "data/batches/census_income"
    folder.mkdir(parents=True, exist_ok=True)
    full.sample(ROWS, replace=True, random_state=seed).to_csv(folder / f"{name}.csv",
                                                               index=False)
    return name


def run(root: Path, batch: str) -> tuple[float, float, float]:
    """Wall seconds of the child, seconds inside materialize, its peak RSS (MiB, its own
    getrusage: materialize runs in that process)."""
    started = time.perf_counter()
    done = subprocess.run([str(REPO / ".venv/bin/python"), "-c", RUN, str(root), batch],
                          capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "DAGSTER_HOME": str(root / ".dagster")})
    wall = time.perf_counter() - started
    outcome = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "{}"
    parsed = json.loads(outcome)
    if not parsed.get("success"):
        sys.exit(f"monitoring {batch} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return wall, parsed["seconds"], parsed["peak_kib"] / 1024


def main() -> None:
    root = setup.WORK
    if not production_ready(root):
        from dagster import DagsterInstance

        root = setup.project()
        with DagsterInstance.ephemeral() as instance:
            setup.train_and_register(root, instance)
    runs, loads = [], [os.getloadavg()[0]]
    for seed in range(REPEATS):
        batch = write_batch(root, 100 + seed)
        runs.append(run(root, batch))
        loads.append(os.getloadavg()[0])
        (root / "data/batches/census_income" / f"{batch}.csv").unlink()
    report = setup.read_json(root / f"reports/monitoring/{batch}/report.json")
    scored = setup.read_json(root / f"reports/monitoring/{batch}/scored.json")
    logging = {entry["role"]: entry for entry in scored["logging"]}
    lines = [
        "# One 1,000,000-row batch end to end (benchmarks/million_row_batch.py)", "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on: {_machine()}. Load "
        f"average (1 min) during the runs: {', '.join(f'{x:.1f}' for x in loads)}.", "",
        f"Production {scored['production_version']} (census, HistGradientBoosting, "
        f"{len(scored['features'])} inputs), shadow {scored['shadow_version']}. Batch: "
        f"{ROWS:,} rows of both full KDD files drawn with replacement, a new seed per run. "
        "Each run: one process materializing scored_batch and batch_monitoring (read and "
        "validate in pieces of monitoring.stream_rows, score production and shadow into the "
        "decision log, drift by SQL over scored.parquet, label drift, AUC, fairness with its "
        "bootstrap interval, the report).", "",
        "| measure | median | runs | target |", "|---|---|---|---|",
        f"| end to end, the process's wall time (s) | {statistics.median(r[0] for r in runs):.1f}"
        f" | {', '.join(f'{r[0]:.1f}' for r in runs)} | <= 90 |",
        f"| inside materialize (s) | {statistics.median(r[1] for r in runs):.1f} | "
        f"{', '.join(f'{r[1]:.1f}' for r in runs)} | - |",
        f"| peak RSS (MiB) | {statistics.median(r[2] for r in runs):,.0f} | "
        f"{', '.join(f'{r[2]:,.0f}' for r in runs)} | <= 3,072 |", "",
        f"Last run: production scoring into the log {logging['production']['seconds']:.1f} s "
        f"({ROWS / logging['production']['seconds']:,.0f} rows/s), shadow "
        f"{logging['shadow']['seconds']:.1f} s; drift level {report['drift_level']}, "
        f"lowest DIR {report['fairness']['disparate_impact_ratio_min']}.", ""]
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
