"""Time the main job, the no-op `dvc repro` and the package import; write RESULTS.md.

Runs in a throw-away git copy of the working tree (benchmarks/.work), so the project's own
outputs, instance and registry are untouched. Median of RUNS runs each, on this machine.
"""

import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

RUNS = 3
REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "benchmarks" / ".work"
RESULTS = REPO / "benchmarks" / "RESULTS.md"
PYTHON = REPO / ".venv" / "bin" / "python"
sys.path.insert(0, str(REPO))
from tests.worktree import git_copy_of_working_tree  # noqa: E402  (run as a script)

TARGETS = {"main job (`governance run --force`: dvc repro of all 5 stages + report)": 60.0,
           "no-op `governance run` (input check + dvc repro + report, nothing changed)": 8.0,
           "no-op `dvc repro` (nothing changed)": 3.0,
           "`import governance_assets` (fresh interpreter)": 3.0}


def _timed(command: list[str], cwd: Path) -> float:
    env = {**os.environ, "DAGSTER_HOME": str(cwd / ".dagster")}
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                            check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return elapsed


def _machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor())
    memory = next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    return (f"{os.cpu_count()} cores ({cpu}), {int(memory) / 1024 / 1024:.0f} GiB RAM, "
            f"Python {platform.python_version()}, {platform.platform()}, "
            f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', 'unset')} "
            "(the environments are bytecode-compiled at install, so it costs nothing)")


def main() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    root = git_copy_of_working_tree(REPO, WORK, skip_prefix="benchmarks/")
    governance = str(REPO / ".venv" / "bin" / "governance")
    dvc = str(REPO / ".venv-dvc" / "bin" / "dvc")
    samples = {
        list(TARGETS)[0]: [_timed([governance, "--root", str(root), "run", "--force"], root)
                           for _ in range(RUNS)],
        list(TARGETS)[1]: [_timed([governance, "--root", str(root), "run"], root)
                           for _ in range(RUNS)],
        list(TARGETS)[2]: [_timed([dvc, "repro"], root) for _ in range(RUNS)],
        list(TARGETS)[3]: [_timed([str(PYTHON), "-c", "import governance_assets"], root)
                           for _ in range(RUNS)],
    }
    rows = ["| measurement | median (s) | runs (s) | target (s) | within target |",
            "|---|---|---|---|---|"]
    for name, values in samples.items():
        median = statistics.median(values)
        runs = ", ".join(f"{v:.1f}" for v in values)
        rows.append(f"| {name} | {median:.1f} | {runs} | {TARGETS[name]:g} | "
                    f"{'yes' if median <= TARGETS[name] else 'no'} |")
    text = "\n".join([
        "# Benchmark results", "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by "
        "`benchmarks/run_benchmarks.py` (`make bench`), median of "
        f"{RUNS} runs, on: {_machine()}.", "",
        "Data: the bundled German credit set (1,000 rows) under the bundled params.yaml.", "",
        *rows, "",
    ])
    RESULTS.write_text(text)
    shutil.rmtree(WORK, ignore_errors=True)
    print(text)


if __name__ == "__main__":
    main()
