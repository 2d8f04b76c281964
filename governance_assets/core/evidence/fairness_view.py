"""The fairness report as a reviewer reads it in the UI: Markdown tables and a rate chart."""

from __future__ import annotations

from pathlib import Path

from ..report import markdown, plots

SUMMARY_LABELS = {
    "disparate_impact_ratio_min": "lowest DIR",
    "demographic_parity_difference": "DPD",
    "equalized_odds_difference": "EOD",
    "equal_opportunity_difference": "EOpD",
}
RATE_LABELS = {"selection_rate": "selection", "true_positive_rate": "TPR",
               "false_positive_rate": "FPR", "false_negative_rate": "FNR",
               "precision": "precision"}


def _with_interval(value: float | None, interval: list[float] | None) -> str:
    if value is None:
        return "null"
    return f"{value:.3f}" + (f" [{interval[0]:.2f}, {interval[1]:.2f}]" if interval else "")


def all_groupings(report: dict) -> dict[str, dict]:
    return {**report["features"], **report.get("intersections", {})}


def summary_table(report: dict) -> str:
    """One row per attribute and intersection: every summary figure with its interval."""
    rows = []
    for name, result in all_groupings(report).items():
        summaries = result.get("intervals", {}).get("summaries", {})
        rows.append([name, result["reference_group"] or "none"] + [
            _with_interval(result[key], summaries.get(key, {}).get("ci"))
            for key in SUMMARY_LABELS])
    return markdown.table(["attribute", "reference group", *SUMMARY_LABELS.values()], rows)


def group_table(report: dict) -> str:
    """One row per group: size, every rate with its interval, DIR; null says undefined."""
    rows = []
    for name, result in all_groupings(report).items():
        intervals = result.get("intervals", {}).get("groups", {})
        for group, rates in result["groups"].items():
            rows.append([name, group, rates["count"]] + [
                _with_interval(rates[rate], intervals.get(group, {}).get(rate))
                for rate in RATE_LABELS] + [rates["disparate_impact_ratio"],
                                            "; ".join(rates["undefined"].values()) or ""])
    return markdown.table(["attribute", "group", "rows", *RATE_LABELS.values(), "DIR",
                           "undefined because"], rows)


ADVERSE_LABELS = {"flagged_rate": "flagged adverse", "false_positive_rate":
                  "FPR (flagged among truly favourable)", "false_negative_rate":
                  "FNR (not flagged among truly adverse)", "true_positive_rate":
                  "TPR (flagged among truly adverse)",
                  "precision": "precision (truly adverse among flagged)"}


def adverse_table(report: dict) -> str:
    """The same groups in the adverse-outcome orientation auditors publish (older reports,
    without it, give an empty string)."""
    rows = [[name, group, rates["count"]] + [
        "null" if rates["adverse_outcome"][rate] is None
        else f"{rates['adverse_outcome'][rate]:.3f}" for rate in ADVERSE_LABELS]
        for name, result in all_groupings(report).items()
        for group, rates in result["groups"].items() if "adverse_outcome" in rates]
    if not rows:
        return ""
    return markdown.table(["attribute", "group", "rows", *ADVERSE_LABELS.values()], rows)


def counterfactual_table(report: dict) -> str:
    """The flip rates per attribute; the notes below the table, where they have room."""
    attributes = report["counterfactual"]["attributes"]
    rows = [[name, "yes" if a["model_reads_attribute"] else "no",
             a["attribute"]["rate"], ", ".join(a["proxies"]) or "none",
             a["attribute_and_proxies"]["rate"]] for name, a in attributes.items()]
    notes = [f"- {name}: {a['note']}" for name, a in attributes.items() if a["note"]]
    return "\n\n".join([markdown.table(["attribute", "model reads it", "flip rate (attribute)",
                                         "proxies swapped", "flip rate (with proxies)"], rows),
                         *(["\n".join(notes)] if notes else [])])


def mitigation_table(report: dict) -> str:
    comparison = report["mitigation"]
    keys = [k for k in comparison["without"] if k != "attributes"]
    rows = [[key, comparison["without"][key], comparison["with"][key]] for key in keys]
    for attribute in comparison["without"]["attributes"]:
        for stat in SUMMARY_LABELS:
            rows.append([f"{attribute} {SUMMARY_LABELS[stat]}",
                         comparison["without"]["attributes"][attribute][stat],
                         comparison["with"]["attributes"][attribute][stat]])
    return markdown.table(["figure (golden set)", "without mitigation",
                           f"with {comparison['method']}"], rows)


def plot_selection_rates(report: dict, path: Path) -> Path:
    """Selection rate per group with its bootstrap interval, one panel row per grouping."""
    plt = plots.pyplot()
    bars = []
    for name, result in all_groupings(report).items():
        intervals = result.get("intervals", {}).get("groups", {})
        for group, rates in result["groups"].items():
            if rates["selection_rate"] is not None:
                ci = intervals.get(group, {}).get("selection_rate")
                bars.append((f"{name}={group}", rates["selection_rate"], ci))
    figure, axis = plt.subplots(figsize=(8, 0.32 * len(bars) + 1.4))
    labels = [b[0] for b in bars][::-1]
    values = [b[1] for b in bars][::-1]
    errors = [[v - (b[2][0] if b[2] else v) for v, b in zip(values, bars[::-1], strict=True)],
              [(b[2][1] if b[2] else v) - v for v, b in zip(values, bars[::-1], strict=True)]]
    axis.barh(labels, values, xerr=errors, color="#2c7fb8", ecolor="#333333", capsize=3)
    axis.set_xlabel("selection rate (favourable decisions) with bootstrap interval")
    axis.set_xlim(0, 1)
    axis.set_title("Selection rate by group on the golden test set", fontsize=10)
    figure.tight_layout()
    return plots.save(figure, path)


def statistic_table(report: dict, key: str, threshold: float, comparison: str) -> str:
    """What a fairness gate judged: per attribute and intersection, the value, where, interval,
    the threshold it was held to, and which groups it had to leave out."""
    rows = []
    for name, result in all_groupings(report).items():
        value = result.get(key)
        interval = result.get("intervals", {}).get("summaries", {}).get(key, {}).get("ci")
        if value is None:
            verdict = "not measured"
        else:
            ok = value >= threshold if comparison == ">=" else value <= threshold
            verdict = "pass" if ok else "FAIL"
        rows.append([name, _with_interval(value, interval), result.get("worst", {}).get(key, ""),
                     f"{comparison} {threshold:g}", verdict,
                     ", ".join(result.get("left_out", {}).get(key, [])) or "none"])
    return markdown.table(["attribute", "value [interval]", "where", "threshold", "verdict",
                           "groups left out (too few rows, positives or negatives)"], rows)
