"""The performance and drift evidence as a reviewer reads it on the asset's page in the UI.

Pure text: Markdown tables the Dagster layer wraps in `MetadataValue.md`, so each metric is
seen with its bootstrap interval and each feature's PSI beside its noise floor, without opening
the JSON the gates read.
"""

from __future__ import annotations

from . import markdown

# The credit-scoring convention the drift report quotes (core.evidence.drift.PSI_BANDS).
PSI_MODERATE, PSI_SIGNIFICANT = 0.1, 0.25


def _interval(bounds: list[float] | None) -> str:
    return "-" if not bounds else f"{bounds[0]:.4g} to {bounds[1]:.4g}"


def metrics_table(metrics: dict[str, dict], rounds: int) -> str:
    """Each golden-set metric with its 95% bootstrap interval."""
    return markdown.table(["metric", "value", f"95% interval ({rounds} bootstrap rounds)"],
                          [[name, m["value"], _interval(m.get("ci95"))]
                           for name, m in metrics.items()])


def latency_table(latency: dict, budget_ms: float) -> str:
    """The warm single-row latency the latency gate reads, with the spread of its repeats."""
    return markdown.table(
        ["p50 ms", "p99 ms (median of repeats)", "p99 spread ms", "repeats x calls",
         "budget ms (policy.max_latency_ms)"],
        [[latency["p50"], latency["p99"], _interval([latency["p99_min"], latency["p99_max"]]),
          f"{latency['repeats']} x {latency['calls_per_repeat']}", f"{budget_ms:g}"]])


def regression_table(regression: dict | None, bound: float) -> str:
    """The paired-bootstrap AUC drop against production, beside the bound the gate holds its
    upper end to; a sentence when there is no production version to compare with."""
    if regression is None:
        return "No production version in the registry: nothing to compare with."
    return markdown.table(
        ["production version", "mean AUC drop", "95% interval",
         "upper end must be <= (policy.max_regression)"],
        [[regression["production_version"], regression["mean"],
          _interval(regression["ci95"]), bound]])


def performance_markdown(report: dict, latency: dict, budget_ms: float, bound: float) -> str:
    """The whole performance page: metrics, latency, regression against production."""
    return "\n\n".join([
        f"Golden-set metrics on {report['evaluation_rows']['rows']} rows at decision threshold "
        f"{report['decision_threshold']:.4g}:", metrics_table(report["metrics"],
                                                              report["bootstrap_rounds"]),
        "Latency (machine-dependent, reports/runtime/latency.json):",
        latency_table(latency, budget_ms),
        "Regression against production:", regression_table(report["regression"], bound)])


def psi_level(value: float) -> str:
    """The convention's band for a PSI."""
    if value < PSI_MODERATE:
        return "stable"
    return "moderate" if value <= PSI_SIGNIFICANT else "significant"


def drift_table(report: dict, max_psi: float) -> str:
    """Every feature's PSI beside its noise floor and band, and whether it counts as drift
    (above policy.max_psi and above its floor), largest PSI first."""
    drifted, above_floor = set(report["drifted_features"]), set(report["above_noise_floor"])
    rows = [[feature, value, report["psi_noise_floor"][feature], psi_level(value),
             "yes" if feature in above_floor else "no", "yes" if feature in drifted else "no"]
            for feature, value in sorted(report["psi"].items(), key=lambda kv: -kv[1])]
    return markdown.table(["feature", "PSI", "noise floor", "level", "above floor",
                           f"drifted (PSI > {max_psi:g} and above floor)"], rows)
