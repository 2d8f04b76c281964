"""The full UCI census through the whole governed graph at 1x, 2x and 4x rows; writes SCALE.md.

Reads ../shared/data on purpose (this benchmark says so; the pipeline never does). For each
size a fresh temporary git copy of the working tree gets `data/raw/census_income_full.csv.gz`
(data/build_census_full.py: a seeded per-year share of both UCI files, 4x = all 299,285
rows) and `dataset: census_income_full`, and runs the real `governance run` (check, then
`dvc repro` of the five stages, each a `governance stage`) under /usr/bin/time -v. Each run
is cold: a new copy has no DVC cache, no run cache and no Dagster instance. The checkout's own
outputs are never touched.

Per run: wall seconds, each stage's seconds (the `stage NAME: ... in S s` lines of the run
log; `check + dvc` is the rest: the input check before DVC starts, DVC's hashing and its
process starts), peak RSS (largest single process, from time -v, and the sum over the
process tree, polled every 0.2 s), exit code and verdict, whether every gate was evaluated,
what was sampled, and the load average before and after.

    .venv/bin/python benchmarks/census_scale.py        # 1x and 2x once, 4x twice
    .venv/bin/python benchmarks/census_scale.py --sizes 4x --repeats-largest 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "data"))

from build_census_full import build  # noqa: E402

from tests.worktree import git_copy_of_working_tree  # noqa: E402

FRACTIONS = {"1x": 0.25, "2x": 0.5, "4x": 1.0}
STAGES = ("prepare", "train", "evaluate", "document", "promote")
STAGE_LINE = re.compile(r"stage (\w+): (\d+) asset\(s\) in ([0-9.]+) s, exit (\d)")
OUTPUT = REPO / "benchmarks" / "SCALE.md"
# Issue 23: the full census (4x) through `governance run` in <= 120 s and <= 2 GB peak.
TARGET_SECONDS, TARGET_RSS_GB = 120, 2.0


@dataclass
class RunResult:
    size: str
    rows: int
    wall_seconds: float
    exit_code: int
    stage_seconds: dict[str, float]
    peak_rss_mb_process: float
    peak_rss_mb_tree: float
    peak_pss_mb_tree: float
    decision: str
    refused_by: list[str]
    gates: int
    not_evaluated: list[str]
    sampling: dict
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    top_steps: list[tuple[str, float]] = field(default_factory=list)


def prepare_copy(size: str, workdir: Path) -> tuple[Path, int]:
    """A git copy of the working tree with the census slice as `census_income_full`."""
    root = workdir / f"project-{size}"
    root.mkdir(parents=True)
    git_copy_of_working_tree(REPO, root)
    rows = build(root / "data" / "raw" / "census_income_full.csv.gz", FRACTIONS[size])
    params = root / "params.yaml"
    text = params.read_text()
    params.write_text(re.sub(r"^dataset: \w+", "dataset: census_income_full", text, count=1,
                             flags=re.M))
    return root, rows


class TreeMemory:
    """Polls what a process and its descendants hold, every 0.2 s: the summed RSS, and the
    summed PSS (proportional set size: a page shared by n processes counts 1/n in each).
    The stage server's children are forks that share the server's imported libraries, so RSS
    counts those pages once per process; PSS counts them once, as the machine holds them."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak_rss, self.peak_pss = pid, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        import psutil

        while not self._stop.is_set():
            rss = pss = 0
            try:
                parent = psutil.Process(self.pid)
                for process in [parent, *parent.children(True)]:
                    try:
                        memory = process.memory_full_info()
                    except psutil.Error:
                        continue
                    rss, pss = rss + memory.rss, pss + memory.pss
            except psutil.Error:
                pass
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            time.sleep(0.2)

    def stop(self) -> tuple[float, float]:
        """Peak summed RSS and peak summed PSS, MB."""
        self._stop.set()
        self._thread.join()
        return self.peak_rss / 2**20, self.peak_pss / 2**20


def run_once(size: str, workdir: Path, nice: int) -> RunResult:
    root, rows = prepare_copy(size, workdir)
    timing = root / "time.txt"
    command = ["/usr/bin/time", "-v", "-o", str(timing), str(root / ".venv/bin/governance"),
               "run"]
    if nice:
        command = ["nice", "-n", str(nice), *command]
    load_before = os.getloadavg()
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "DAGSTER_HOME": str(root / ".dagster")})
    tree = TreeMemory(process.pid)
    output, _ = process.communicate()
    wall = time.perf_counter() - started
    tree_rss_mb, tree_pss_mb = tree.stop()
    load_after = os.getloadavg()
    (root / "run-output.txt").write_text(output)
    return RunResult(size, rows, round(wall, 1), process.returncode, _stage_seconds(root, wall),
                     _max_rss_mb(timing), round(tree_rss_mb), round(tree_pss_mb),
                     *_outcome(root), load_before,
                     load_after, _top_steps(root))


def _stage_seconds(root: Path, wall: float) -> dict[str, float]:
    log = (root / "logs" / "latest.log").read_text(errors="replace")
    seconds = {m.group(1): float(m.group(3)) for m in STAGE_LINE.finditer(log)}
    seconds["check + dvc"] = round(wall - sum(seconds.values()), 1)
    return seconds


def _top_steps(root: Path, count: int = 8) -> list[tuple[str, float]]:
    """The slowest Dagster steps of the run (assets and gate checks), from the run log."""
    log = (root / "logs" / "latest.log").read_text(errors="replace")
    units = {"ms": 1e-3, "s": 1.0, "m": 60.0}
    steps = []
    for name, value in re.findall(r'Finished execution of step "(\w+)" in ([0-9.a-z]+)\.', log):
        parts = re.findall(r"([0-9.]+)(ms|s|m)", value)
        steps.append((name, round(sum(float(n) * units[u] for n, u in parts), 1)))
    return sorted(steps, key=lambda s: -s[1])[:count]


def _max_rss_mb(timing: Path) -> float:
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", timing.read_text())
    return round(int(found.group(1)) / 1024) if found else float("nan")


def _outcome(root: Path) -> tuple[str, list[str], int, list[str], dict]:
    """Decision, refusing gates, gates counted, gates never evaluated, what was sampled."""
    reports = root / "reports"
    decision = json.loads((reports / "decision.json").read_text()) \
        if (reports / "decision.json").exists() else {}
    gates = json.loads((reports / "gates.json").read_text()) \
        if (reports / "gates.json").exists() else []
    rows = gates if isinstance(gates, list) else gates.get("gates", [])
    missing = [g["name"] for g in rows if g.get("verdict") in ("NOT EVALUATED", "STALE")]
    card = reports / "model_card.json"
    sampled = {r["step"]: f"{r['rows_used']} of {r['rows_available']}"
               for r in json.loads(card.read_text()).get("sampling", [])
               if r.get("sampled")} if card.exists() else {}
    return (str(decision.get("decision", "none")), list(decision.get("refused_by", [])),
            len(rows), missing, sampled)


def machine() -> dict:
    return {"cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(),
            "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)}


def _median(results: list[RunResult], pick) -> float:
    return round(statistics.median(pick(r) for r in results), 1)


def write_markdown(results: list[RunResult], path: Path) -> None:
    by_size = {size: [r for r in results if r.size == size] for size in FRACTIONS}
    by_size = {k: v for k, v in by_size.items() if v}
    info = machine()
    lines = [
        "# The full census through the whole governed graph",
        "",
        "Written by `benchmarks/census_scale.py` (`make bench-scale`). Each run: a fresh git copy "
        "of the working tree, `dataset: census_income_full` on a seeded per-year share of both "
        "UCI Census-Income (KDD) files, the real `governance run` (input check, then `dvc "
        "repro` of prepare, train, evaluate, document, promote), cold (no DVC or run cache).",
        "",
        f"Machine: {info['cores']} cores, {info['memory_gb']} GB, {info['platform']}, "
        f"Python {info['python']}. Shared with other jobs: the load average (1 min) before and "
        "after each run is in the per-run table.",
        "",
        "| size | rows | runs | wall s (median) | prepare | train | evaluate | document | "
        "promote | check + dvc | peak RSS MB, one process | peak RSS MB, process tree | "
        "peak PSS MB, process tree | s per 100k rows | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size, runs in by_size.items():
        stages = [_median(runs, lambda r, s=s: r.stage_seconds.get(s, 0.0))
                  for s in (*STAGES, "check + dvc")]
        wall = _median(runs, lambda r: r.wall_seconds)
        verdicts = sorted({f"{r.decision} (exit {r.exit_code})" for r in runs})
        lines.append(
            f"| {size} | {runs[0].rows:,} | {len(runs)} | {wall} | "
            + " | ".join(str(s) for s in stages)
            + f" | {max(r.peak_rss_mb_process for r in runs):.0f} | "
              f"{max(r.peak_rss_mb_tree for r in runs):.0f} | "
              f"{max(r.peak_pss_mb_tree for r in runs):.0f} | "
              f"{wall / runs[0].rows * 1e5:.1f} | {', '.join(verdicts)} |")
    lines += ["", *_growth(by_size), "", "## Every run", "",
              "| size | wall s | exit | decision | refused by | gates | not evaluated | "
              "load before | load after |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.size} | {r.wall_seconds} | {r.exit_code} | {r.decision} | "
                     f"{', '.join(r.refused_by) or '-'} | {r.gates} | "
                     f"{', '.join(r.not_evaluated) or 'none'} | "
                     f"{r.load_before[0]:.2f} | {r.load_after[0]:.2f} |")
    last = {size: runs[-1] for size, runs in by_size.items()}
    lines += ["", "## Slowest steps (last run of each size, seconds)", ""]
    for size, r in last.items():
        lines.append(f"- {size}: " + ", ".join(f"{n} {s}" for n, s in r.top_steps))
    lines += ["", "## What was sampled (last run of each size, from the model card)", ""]
    for size, r in last.items():
        lines.append(f"- {size}: " + ("; ".join(f"{k}: {v}" for k, v in r.sampling.items())
                                      or "nothing"))
    lines += ["", f"Targets: whole graph <= {TARGET_SECONDS} s and <= {TARGET_RSS_GB:g} GB peak "
              "memory at 4x, near-linear growth. The process tree's memory is judged by its "
              "PSS: the stage children are forks of the stage server and share its libraries' "
              "pages, which the summed RSS counts once per process.", ""]
    path.write_text("\n".join(lines))
    (path.with_suffix(".json")).write_text(json.dumps([asdict(r) for r in results], indent=1))


def _growth(by_size: dict[str, list[RunResult]]) -> list[str]:
    """Wall time ratios between consecutive sizes (2.0 = linear in rows)."""
    walls = {size: statistics.median(r.wall_seconds for r in runs)
             for size, runs in by_size.items()}
    sizes = list(walls)
    return [f"Growth: {b}/{a} wall-time ratio {walls[b] / walls[a]:.2f} for "
            f"{by_size[b][0].rows / by_size[a][0].rows:.2f}x the rows."
            for a, b in zip(sizes, sizes[1:], strict=False)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=list(FRACTIONS), choices=list(FRACTIONS))
    parser.add_argument("--repeats", type=int, default=1, help="runs of each size")
    parser.add_argument("--repeats-largest", type=int, default=2,
                        help="runs of the largest size (the median needs at least 2)")
    parser.add_argument("--nice", type=int, default=0, help="run the graph under nice -n N")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--keep", action="store_true", help="keep the temporary copies")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="census-scale-"))
    results = []
    try:
        largest = args.sizes[-1]
        for repeat in range(max(args.repeats, args.repeats_largest)):
            for size in args.sizes:
                if repeat >= (args.repeats_largest if size == largest else args.repeats):
                    continue
                result = run_once(size, workdir / f"run{repeat}", args.nice)
                results.append(result)
                print(f"{size} run {repeat + 1}: {result.rows} rows, {result.wall_seconds} s, "
                      f"exit {result.exit_code} ({result.decision}), stages "
                      f"{result.stage_seconds}, peak RSS {result.peak_rss_mb_process} MB "
                      f"(tree RSS {result.peak_rss_mb_tree} MB, PSS {result.peak_pss_mb_tree} MB)",
                      flush=True)
                if not args.keep:
                    shutil.rmtree(workdir / f"run{repeat}" / f"project-{size}",
                                  ignore_errors=True)
        write_markdown(results, args.output)
        print(f"wrote {args.output}")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
