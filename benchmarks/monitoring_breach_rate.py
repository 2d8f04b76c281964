"""How often batch monitoring raises a fairness breach on 400-row batches: noise, or bias?

Two production versions, each the champion of the governed graph run on a copy of the project
in benchmarks/.work/breach_rate:

- fair: the bundled German credit champion (bundled params and data);
- unfair: the champion of the same graph on data with injected bias (tests/test_graph.py
  inject_bias: 80 % of women relabelled bad, and the model allowed to read the code that carries
  sex), with the search's fairness constraints lifted so a champion exists (the golden-set
  four-fifths gate refuses it; this benchmark uses it as production anyway).

Each is monitored on BATCHES seeded 400-row batches drawn without replacement from the bundled
German credit rows (seed = batch number; simulated batches include training rows), scored by the
version at its card's decision threshold, judged by core/monitor/monitoring.monitor — the
function the batch_monitoring asset calls — against the version's reference (its train +
validation rows). The old rule (before the interval) is computed side by side, as the old code
computed it (old_point_dir): ERROR when the point estimate of the lowest ratio, over groups of at
least policy.min_group_size rows, is below monitoring.disparate_impact.error; the script checks
that it equals the point estimate the new report carries.

The two champions are also monitored at other decision thresholds (borderline: the fair
champion's lowest ratio on all rows just above the error level; moderate: below it), where
sampling noise and real bias are hard to tell apart. `--reuse` keeps champions built by an
earlier run. Writes its section of benchmarks/MONITORING.md (from SECTION on;
benchmarks/monitoring.py keeps it).
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from dagster import DagsterInstance, materialize

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "benchmarks" / ".work" / "breach_rate"
sys.path.insert(0, str(REPO))

from governance_assets.assets import GRAPH_ASSETS, PROMOTION_CHECKS  # noqa: E402
from governance_assets.checks import GATE_CHECKS  # noqa: E402
from governance_assets.core.data import validation  # noqa: E402
from governance_assets.core.data.columns import input_columns  # noqa: E402
from governance_assets.core.files import read_json  # noqa: E402
from governance_assets.core.layout import Layout  # noqa: E402
from governance_assets.core.model import model_files  # noqa: E402
from governance_assets.core.monitor import batch_fairness, monitoring  # noqa: E402
from governance_assets.core.params import load_params  # noqa: E402
from governance_assets.resources import GovernanceProject  # noqa: E402

BATCHES = 60
BATCH_ROWS = 400
BORDERLINE_DIR, MODERATE_DIR = 0.85, 0.7
SECTION = "## Fairness breaches on 400-row batches (benchmarks/monitoring_breach_rate.py)"
COPIED = ("params.yaml", "datasets", "governance/allowed_signers", "data/raw", "data/reference",
          "data/DATASHEET_german_credit.md", "data/DATASHEET_census_income.md",
          "requirements.lock", "requirements-dvc.lock", "Containerfile")


def project(name: str) -> Path:
    root = WORK / name
    shutil.rmtree(root, ignore_errors=True)
    for relative in COPIED:
        source, target = REPO / relative, root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy)(source, target)
    return root


def set_keys(path: Path, updates: dict) -> None:
    """Dotted keys of one YAML file set to values."""
    document = yaml.safe_load(path.read_text())
    for dotted, value in updates.items():
        *parents, leaf = dotted.split(".")
        node = document
        for key in parents:
            node = node[key]
        node[leaf] = value
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def inject_bias(root: Path) -> None:
    """As tests/test_graph.py inject_bias, plus a search free to pick the biased champion."""
    raw = root / "data/raw/german_credit.csv"
    frame = pd.read_csv(raw, dtype=str)
    women = frame["personal_status_and_sex"].eq("A92")
    frame.loc[women & (np.random.default_rng(7).random(len(frame)) < 0.8), "credit_risk"] = "2"
    frame.to_csv(raw, index=False)
    set_keys(root / "datasets/german_credit.yaml",
             {"exclude_from_model": ["age_in_years", "foreign_worker"]})
    set_keys(root / "params.yaml", {"model.search.constraints.min_disparate_impact": None,
                                    "model.search.constraints.max_perturbation_auc_drop": None,
                                    "model.search.mitigated_variants.when": "never"})


def champion(root: Path) -> float:
    """The governed graph on the project; its seconds."""
    started = time.perf_counter()
    with DagsterInstance.ephemeral() as instance:
        materialize([*GRAPH_ASSETS, *GATE_CHECKS, *PROMOTION_CHECKS], instance=instance,
                    resources={"project": GovernanceProject(root=str(root))},
                    raise_on_error=False)
    return time.perf_counter() - started


def baseline(root: Path) -> dict:
    """What monitoring.card_baseline reads from a registry version, read from the reports."""
    performance = read_json(root / "reports/performance.json")
    fairness = read_json(root / "reports/fairness.json")
    card = read_json(root / "reports/model_card.json")
    return {"auc": performance["metrics"]["auc"]["value"],
            "disparate_impact": {name: result.get("disparate_impact_ratio_min")
                                 for name, result in fairness["features"].items()},
            "decision_threshold": card["champion"]["decision_threshold"]}


def old_point_dir(batch: pd.DataFrame, attributes: list[str], favourable: pd.Series,
                  min_group_size: int) -> float | None:
    """The lowest ratio as the code before the interval computed it (fairlearn selection rates
    over groups of at least min_group_size rows, against the highest), to check the report's
    point estimate is the same number."""
    from fairlearn.metrics import MetricFrame, selection_rate

    lowest = []
    for attribute in attributes:
        frame = MetricFrame(metrics={"rate": selection_rate, "rows": lambda t, p: len(t)},
                            y_true=favourable.to_numpy(), y_pred=favourable.to_numpy(),
                            sensitive_features=batch[attribute].astype(str).to_numpy())
        sized = frame.by_group[frame.by_group["rows"] >= min_group_size]
        if len(sized) >= 2 and sized["rate"].max():
            lowest.append(float((sized["rate"] / sized["rate"].max()).min()))
    return min(lowest) if lowest else None


def scored(model, features: list[str], params, raw: pd.DataFrame, name: str) -> pd.DataFrame:
    """Rows validated as a batch is, with the version's score."""
    frame, _ = validation.validate(raw, params.active, params.policy, name, validation.BATCH)
    batch = frame.reset_index(drop=True)
    batch[monitoring.SCORE] = model.predict_proba(batch[features])[:, 1]
    return batch


def decided(batch: pd.DataFrame, threshold: float) -> pd.Series:
    return pd.Series(np.where(batch[monitoring.SCORE] >= threshold, "favourable",
                              "unfavourable"))


def threshold_for(population: pd.DataFrame, spec, min_group_size: int, target: float) -> float:
    """The decision threshold at which the version's lowest ratio on the whole population comes
    closest to `target` (scanned in steps of 0.01)."""
    def population_dir(threshold: float) -> float:
        favourable = (decided(population, threshold) == "favourable").astype(int)
        value = old_point_dir(population, spec.sensitive_features, favourable, min_group_size)
        return 1.0 if value is None else value

    return min(np.round(np.arange(0.2, 0.9, 0.01), 2),
               key=lambda t: abs(population_dir(t) - target))


def breach_counts(root: Path, population: pd.DataFrame, target_dir: float | None = None
                  ) -> dict:
    """The version monitored on BATCHES seeded batches: breaches old and new, levels, DIRs.
    With `target_dir`, the version's decision threshold is moved until its lowest ratio on the
    whole population is closest to it (the same model, a stricter or laxer operating point)."""
    params, layout = load_params(root), Layout(root)
    spec = params.active
    model = model_files.loads(layout.model.read_bytes(), str(layout.model),
                              model_files.declared_types(spec))
    features = input_columns(model, spec.model_features)
    rows = pd.concat([pd.read_parquet(layout.split("train")),
                      pd.read_parquet(layout.split("validation"))], ignore_index=True)
    reference = rows[list(dict.fromkeys([*features, *spec.sensitive_features,
                                         "_favourable"]))].copy()
    reference[monitoring.SCORE] = model.predict_proba(reference[features])[:, 1]
    card = baseline(root)
    everyone = scored(model, features, params, population, "population")
    if target_dir is not None:
        card["decision_threshold"] = float(threshold_for(everyone, spec,
                                                         params.policy.min_group_size,
                                                         target_dir))
    fairness_settings = batch_fairness.settings(params.policy, params.fairness, params.split.seed)
    error = params.monitoring.disparate_impact.error
    outcome = {"old": 0, "new": 0, "levels": {}, "dir": [], "straddling": 0, "seconds": 0.0}
    for seed in range(BATCHES):
        batch = scored(model, features, params, population.sample(BATCH_ROWS, random_state=seed),
                       f"batch-{seed}")
        decisions = decided(batch, card["decision_threshold"])
        started = time.perf_counter()
        report = monitoring.monitor(reference, batch, spec, features, decisions, card,
                                    params.monitoring, fairness_settings, params.split.seed)
        outcome["seconds"] += time.perf_counter() - started
        point = report["fairness"]["disparate_impact_ratio_min"]
        old = old_point_dir(batch, spec.sensitive_features, (decisions == "favourable"
                                                             ).astype(int),
                            params.policy.min_group_size)
        assert (old is None and point is None) or abs(old - point) < 1e-6, (seed, old, point)
        old_breach = old is not None and old < error
        outcome["old"] += old_breach
        outcome["new"] += report["fairness_breach"]
        outcome["straddling"] += old_breach and not report["fairness_breach"]
        level = report["levels"]["batch_disparate_impact"]
        outcome["levels"][level] = outcome["levels"].get(level, 0) + 1
        outcome["dir"].append(point)
    outcome["card"] = card["disparate_impact"]
    outcome["threshold"] = card["decision_threshold"]
    outcome["population_dir"] = old_point_dir(
        everyone, spec.sensitive_features,
        (decided(everyone, card["decision_threshold"]) == "favourable").astype(int),
        params.policy.min_group_size)
    outcome["refused_by"] = read_json(root / "reports/decision.json")["refused_by"]
    outcome["settings"] = fairness_settings
    return outcome


def versions(fair: Path, unfair: Path) -> list[tuple[str, Path, float | None]]:
    """The versions monitored: the two champions at their own thresholds, and the fair
    champion at operating points whose population DIR sits just above the error level (fair,
    but within the noise of 400 rows) and below it."""
    return [("fair: bundled champion", fair, None),
            ("fair, borderline: bundled champion, stricter threshold", fair, BORDERLINE_DIR),
            ("unfair, moderate: bundled champion, other threshold", fair, MODERATE_DIR),
            ("unfair: champion on injected bias", unfair, None)]


def rate(count: int) -> str:
    return f"{count} of {BATCHES} ({count / BATCHES:.0%})"


def section(results: dict[str, dict], graph_seconds: dict[str, float | None]) -> list[str]:
    settings = next(iter(results.values()))["settings"]
    lines = [
        SECTION, "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores shared with other work "
        f"(load average {os.getloadavg()[0]:.1f} at the end), Python "
        f"{platform.python_version()}. Batches: {BATCHES} × {BATCH_ROWS} rows drawn without "
        f"replacement from the 1,000 bundled German credit rows, batch i with seed i "
        f"(i = 0..{BATCHES - 1}); simulated batches, they include training rows. Intervals: "
        f"{settings.bootstrap_rounds} bootstrap resamples per batch, seed {settings.seed}, "
        f"{settings.confidence:.0%}; policy.min_group_size {settings.min_group_size}. The two "
        "champions are those of the governed graph on their own project copies "
        f"({_graph_times(graph_seconds)}); the borderline and moderate versions are the fair "
        "champion at the decision threshold whose lowest ratio on all 1,000 rows (the "
        f"population the batches are drawn from) is closest to {BORDERLINE_DIR} and "
        f"{MODERATE_DIR}. Every batch is judged by monitoring.monitor(), the function the "
        "batch_monitoring asset calls.",
        "",
        "Old rule: the point estimate of the lowest disparate impact ratio below "
        "monitoring.disparate_impact.error (0.8) is a breach. New rule: the whole bootstrap "
        "interval must be below it. The old rule is computed as the old code computed it "
        "(old_point_dir), on the same decisions, and equals the new report's point estimate "
        "on every batch (checked).",
        "",
        "| production version | refused at promotion by | card DIR (golden set, card threshold) "
        "| decision "
        "threshold | DIR on all 1,000 rows | batches | breaches, old rule | breaches, new rule "
        "| point below 0.8, interval straddling | levels (new) | median batch DIR "
        "| monitor() per batch |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, outcome in results.items():
        card = ", ".join(f"{k} {v}" for k, v in outcome["card"].items())
        levels = ", ".join(f"{k} {v}" for k, v in sorted(outcome["levels"].items()))
        measured = [d for d in outcome["dir"] if d is not None]
        lines.append(
            f"| {name} | {', '.join(outcome['refused_by']) or 'nothing'} | {card} | "
            f"{outcome['threshold']:.2f} | {outcome['population_dir']:.3f} | {BATCHES} | "
            f"{rate(outcome['old'])} | {rate(outcome['new'])} | "
            f"{outcome['straddling']} | {levels} | {np.median(measured):.3f} | "
            f"{outcome['seconds'] / BATCHES:.2f} s |")
    lines += ["", "On the fair version a breach is a false alarm (and, with "
              "monitoring.rollback_on_fairness_breach, a rollback); on the unfair one, a "
              "detection.", ""]
    return lines


def _graph_times(graph_seconds: dict[str, float | None]) -> str:
    return ", ".join(f"{name} graph {seconds:.0f} s" if seconds is not None
                     else f"{name} graph reused from an earlier run (--reuse)"
                     for name, seconds in graph_seconds.items())


def write_section(lines: list[str]) -> None:
    """Replace this benchmark's section of MONITORING.md, keep benchmarks/monitoring.py's."""
    path = REPO / "benchmarks" / "MONITORING.md"
    text = path.read_text() if path.is_file() else ""
    kept = text.split(SECTION)[0].rstrip("\n")
    path.write_text((kept + "\n\n" if kept else "") + "\n".join(lines))


def main() -> None:
    population = pd.read_csv(REPO / "data/raw/german_credit.csv", dtype=str,
                             keep_default_na=False)
    reuse = "--reuse" in sys.argv[1:]
    fair, unfair = WORK / "fair", WORK / "unfair"
    graph_seconds = {}
    for name, root in (("fair", fair), ("unfair", unfair)):
        if reuse and (root / "reports/decision.json").is_file():
            graph_seconds[name] = None
            continue
        project(name)
        if name == "unfair":
            inject_bias(root)
        graph_seconds[name] = champion(root)
    results = {name: breach_counts(root, population, target)
               for name, root, target in versions(fair, unfair)}
    lines = section(results, graph_seconds)
    write_section(lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
