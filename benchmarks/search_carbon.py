"""Time the default constraint-aware search (and its refit) on German credit and the census
sample, with codecarbon's energy and emissions; write SEARCH_CARBON.md.

What is timed: `search.run_search` with the bundled `model.search` block (12 trials, seeded
TPE, per-trial fairness, size and latency) plus the champion's refit, inside the same
codecarbon tracker the pipeline uses. Loading, validating and splitting are set-up. Median of
RUNS runs on this machine; the load average before each run is recorded beside it, because
other processes on a shared machine change both time and estimated energy.
"""

import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from governance_assets.core.data.raw_files import read_raw
from governance_assets.core.data.splits import split_dataset
from governance_assets.core.data.validation import validate
from governance_assets.core.model import carbon, search, training
from governance_assets.core.params import load_params  # noqa: E402

RUNS = 3
TARGET_SECONDS = 30.0
RESULTS = REPO / "benchmarks" / "SEARCH_CARBON.md"
# (label, dataset, band restored): the census sample also runs with the search's 0.9
# disparate-impact band restored (its block removes it), where no plain trial is feasible and
# the fairness-aware search tries its mitigated variants.
CASES = (("german_credit", "german_credit", False), ("census_income", "census_income", False),
         ("census_income, 0.9 band restored", "census_income", True))
CENSUS_OVERRIDE = "    search_constraints:\n      min_disparate_impact: null\n"


def _params_for(dataset: str, band_restored: bool = False):
    """The bundled params with `dataset` active, loaded through the same validator."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        text = (REPO / "params.yaml").read_text().replace(
            "dataset: german_credit ", f"dataset: {dataset} ", 1)
        if band_restored:
            assert CENSUS_OVERRIDE in text, "the census block's search_constraints moved"
            text = text.replace(CENSUS_OVERRIDE, "    search_constraints: {}\n", 1)
        (root / "params.yaml").write_text(text)
        for relative in ("data/raw", "data/reference"):
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(REPO / relative, root / relative)
        for datasheet in (REPO / "data").glob("DATASHEET_*.md"):
            os.symlink(datasheet, root / "data" / datasheet.name)
        return load_params(root)


def _splits(params):
    spec = params.active
    frame, report = validate(read_raw(REPO / spec.path), spec, params.policy, spec.path)
    assert report.valid, f"{spec.path} must validate"
    return split_dataset(frame, spec, params.split).frames


def _one_run(params, frames) -> dict:
    load = os.getloadavg()[0]
    started = time.perf_counter()
    with carbon.tracked("search+refit", params.model.search.carbon_country) as used:
        outcome = search.run_search(frames["train"], frames["validation"], params)
        champion = outcome.champion
        if champion is not None and champion.variant is None:
            training.refit(champion.algorithm, champion.hyperparameters, frames["train"],
                           frames["validation"], params.active, params.model,
                           params.model.search.seed)
    return {"seconds": time.perf_counter() - started, "load": load,
            "feasible": sum(t.feasible for t in outcome.trials), "trials": len(outcome.trials),
            "variants": sum(t.variant is not None for t in outcome.trials),
            "champion": f"{champion.algorithm} ({champion.label})" if champion
            else "none", **used.figures}


def main() -> None:
    rows = []
    for label, dataset, band_restored in CASES:
        params = _params_for(dataset, band_restored)
        frames = _splits(params)
        runs = [_one_run(params, frames) for _ in range(RUNS)]
        rows.append((label, len(frames["train"]), len(frames["validation"]), runs))
        print(label, [round(r["seconds"], 1) for r in runs], flush=True)
    lines = [
        "# Constraint-aware search: wall time and carbon",
        "",
        f"`benchmarks/search_carbon.py`, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}. Median of {RUNS} runs of the bundled `model.search` "
        "block (12 trials, seeded TPE; per trial: fit, threshold tuned on validation, "
        "validation metrics, fairness, perturbation, size, and warm single-row latency for "
        "trials that meet every other constraint; fairlearn's mitigated variants when no plain "
        "trial is feasible and a fairness constraint binds) plus the champion's refit (a "
        "mitigated champion's refit is not timed), inside codecarbon's "
        f"OfflineEmissionsTracker. Target: German credit <= {TARGET_SECONDS:g} s on 2 cores.",
        "",
        "| dataset | train / validation rows | median s | runs (s) | load avg 1 min | "
        "feasible / trials (mitigated variants) | champion | median energy kWh | "
        "median g CO2eq | power mode |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for dataset, train_rows, validation_rows, runs in rows:
        seconds = statistics.median(r["seconds"] for r in runs)
        lines.append(
            f"| {dataset} | {train_rows} / {validation_rows} | {seconds:.1f} | "
            + ", ".join(f"{r['seconds']:.1f}" for r in runs) + " | "
            + ", ".join(f"{r['load']:.1f}" for r in runs) + " | "
            f"{runs[0]['feasible']} / {runs[0]['trials']} ({runs[0]['variants']}) | "
            f"{runs[0]['champion']} | "
            f"{statistics.median(r['energy_kwh'] for r in runs):.3g} | "
            f"{statistics.median(r['emissions_kg_co2eq'] for r in runs) * 1000:.3g} | "
            f"{runs[0]['power_mode']} |")
    lines += ["", "Energy is codecarbon's estimate: with no power counters exposed (mode "
              "`cpu_load`) it is the CPU's TDP scaled by this process's CPU load plus a RAM "
              "figure, times the grid intensity of the country in `model.search."
              "carbon_country`. Wall time and energy rise with the machine's load (column "
              "'load avg').", ""]
    RESULTS.write_text("\n".join(lines))
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
