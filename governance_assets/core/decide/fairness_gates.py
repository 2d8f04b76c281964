"""Rules on fairness: parity of decisions across groups, counterfactual flips, protected influence.

The worst group over every sensitive attribute and intersection decides; thin groups and
unresolved intervals are named and handled as the policy says. Each rule is evidence + policy
in, a verdict out; `blocking` decides what the verdict does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..params import Policy
from .blocking import FAIL, INSUFFICIENT, PASS, Handling, combined_blocking
from .rule_verdict import Verdict, bound, insufficient, judged, not_applicable


@dataclass(frozen=True)
class _Figure:
    """One grouping's value of a fairness statistic, where it is worst, and its interval."""

    value: float
    grouping: str
    where: str
    ci: list[float] | None
    intersection: bool

    def describe(self, short: str) -> str:
        interval = f" [{self.ci[0]:.3g}, {self.ci[1]:.3g}]" if self.ci else ""
        figure = f"{short} {self.value:.3g}{interval}"
        if " vs " in self.where:
            return f"{self.grouping}: {figure} ({self.where})"
        return f"{self.grouping}: {self.where} {figure}".replace(":  ", ": ")


def _groupings(fairness: dict):
    for name, result in fairness["features"].items():
        yield name, result, False
    for name, result in fairness.get("intersections", {}).items():
        yield name, result, True


def _figures(fairness: dict, key: str) -> list[_Figure]:
    figures = []
    for name, result, crossed in _groupings(fairness):
        if result.get(key) is None:
            continue
        interval = result.get("intervals", {}).get("summaries", {}).get(key, {}).get("ci")
        figures.append(_Figure(result[key], name, result.get("worst", {}).get(key, ""),
                               interval, crossed))
    return figures


def _left_out(fairness: dict, key: str, crossed: bool) -> list[str]:
    """Groups a statistic had to leave out: a rate it needs is undefined for them.

    Older reports only list groups with too few rows.
    """
    return [f"{name}={group}" for name, result, is_crossed in _groupings(fairness)
            if is_crossed == crossed
            for group in result.get("left_out", {}).get(key, result["insufficient_groups"])]


def _fails(value: float, threshold: float, comparison: str) -> bool:
    return value < threshold if comparison == ">=" else value > threshold


def _straddles(figure: _Figure, threshold: float) -> bool:
    return bool(figure.ci) and figure.ci[0] < threshold < figure.ci[1]


def _fairness_gate(gate: str, fairness: dict, key: str, threshold: float, comparison: str,
                   what: str, short: str, policy: Policy, evidence: str) -> Verdict:
    """Worst value over attributes and intersections; undefined or unresolved is named.

    The point estimate decides. Insufficient evidence is a group whose rate rests on too few
    rows, positives or negatives (single attributes: policy.insufficient_evidence;
    intersections: policy.intersection_insufficient_evidence) or, when the policy asks, an
    interval straddling the threshold.
    """
    figures = _figures(fairness, key)
    single, crossed = _left_out(fairness, key, False), _left_out(fairness, key, True)
    if not figures:
        return judged(gate, INSUFFICIENT, None, threshold, comparison,
                      f"{what} could not be measured: no attribute has two groups with the "
                      f"rates it needs (left out: {', '.join(single + crossed) or 'none'})",
                      evidence, policy, (Handling.BY_POLICY,))
    worst = (min if comparison == ">=" else max)(figures, key=lambda f: f.value)
    failing = [f for f in figures if _fails(f.value, threshold, comparison)]
    if failing:
        sign = "<" if comparison == ">=" else ">"
        named = "; ".join(f"{f.describe(short)} {sign} {threshold:g}" for f in failing[:4])
        return judged(gate, FAIL, worst.value, threshold, comparison, f"{what} fails: {named}",
                      evidence)
    message = (f"{what} {worst.value:.4g} passes: must be {comparison} {threshold:g} "
               f"(worst: {worst.describe(short)}; {len(figures)} attribute(s) and "
               "intersection(s) measured)")
    notes, handling = [], []
    rule = (f"below policy.min_group_size={policy.min_group_size} rows or "
            f"policy.min_rate_denominator={policy.min_rate_denominator} positives/negatives "
            "for a rate this statistic needs")
    if single:
        notes.append(f"group(s) {', '.join(single)} {rule}, left out and handled as "
                     f"policy.insufficient_evidence={policy.insufficient_evidence}")
        handling.append(Handling.BY_POLICY)
    if crossed:
        notes.append(f"intersection cell(s) {', '.join(crossed)} {rule}, left out and handled "
                     "as policy.intersection_insufficient_evidence="
                     f"{policy.intersection_insufficient_evidence}")
        handling.append(Handling.BY_INTERSECTION_POLICY)
    if policy.straddling_interval == "insufficient_evidence":
        unresolved = [f.describe(short) for f in figures if _straddles(f, threshold)]
        if unresolved:
            notes.append(f"interval straddles {threshold:g}: {'; '.join(unresolved)} "
                         "(policy.straddling_interval=insufficient_evidence), handled as "
                         f"policy.insufficient_evidence={policy.insufficient_evidence}")
            handling.append(Handling.BY_POLICY)
    trivial = trivially_satisfied(fairness, policy)
    if trivial:
        notes.append(trivial)
        handling.append(Handling.BY_POLICY)
    if not notes:
        return judged(gate, PASS, worst.value, threshold, comparison, message, evidence)
    return judged(gate, INSUFFICIENT, worst.value, threshold, comparison,
                  message + "; insufficient evidence: " + "; ".join(notes), evidence, policy,
                  handling)


def trivially_satisfied(fairness: dict, policy: Policy) -> str:
    """Why a parity figure is no evidence of fairness: a near-constant decision meets every
    parity band (approving everyone gives DIR 1). Empty when the decisions vary enough."""
    rate = fairness.get("overall", {}).get("selection_rate")
    margin = policy.trivial_selection_margin
    if rate is None or margin < rate < 1 - margin:
        return ""
    return (f"satisfied trivially: the overall selection rate {rate:.3f} is within "
            f"policy.trivial_selection_margin={margin:g} of {0 if rate <= margin else 1}, so "
            "parity says nothing about fairness; handled as policy.insufficient_evidence="
            f"{policy.insufficient_evidence}")


_SEVERITY = {PASS: 0, INSUFFICIENT: 1, FAIL: 2}


def four_fifths(fairness: dict, policy: Policy, evidence: str) -> Verdict:
    """One-sided (>= min) by default; two-sided when policy.max_disparate_impact is set."""
    low = _fairness_gate("four_fifths_rule", fairness, "disparate_impact_ratio_min",
                         policy.min_disparate_impact, ">=",
                         f"lowest disparate impact ratio (vs the "
                         f"{fairness.get('disparate_impact_reference', 'highest_rate')} group)",
                         "DIR", policy, evidence)
    if policy.max_disparate_impact is None:
        return low
    high = _fairness_gate("four_fifths_rule", fairness, "disparate_impact_ratio_max",
                          policy.max_disparate_impact, "<=",
                          "highest disparate impact ratio (vs the largest group)", "DIR",
                          policy, evidence)
    worse = high if _SEVERITY[high.outcome] > _SEVERITY[low.outcome] else low
    sides = [(side.outcome, side.blocking) for side in (low, high)]
    return replace(worse, blocking=combined_blocking(worse.outcome, sides),
                   message=f"{low.message} | {high.message}")


def equalized_odds(fairness: dict, policy: Policy, evidence: str) -> Verdict:
    return _fairness_gate("equalized_odds", fairness, "equalized_odds_difference",
                          policy.max_equalized_odds_difference, "<=",
                          "largest equalized odds difference", "EOD", policy, evidence)


def demographic_parity(fairness: dict, policy: Policy, evidence: str) -> Verdict:
    return _fairness_gate("demographic_parity", fairness, "demographic_parity_difference",
                          policy.max_demographic_parity_difference, "<=",
                          "largest demographic parity difference", "DPD", policy, evidence)


def counterfactual_flip(fairness: dict, policy: Policy, evidence: str) -> Verdict:
    """Worst share of golden decisions that change when only the attribute (and, by policy,
    its proxies) changes. An attribute whose swap touches nothing the model reads flips
    nothing by construction: that is not a measurement, and is not judged."""
    attributes = fairness["counterfactual"]["attributes"]
    scope = policy.flip_test_swaps
    rates = {name: a[scope]["rate"] for name, a in attributes.items()
             if a[scope]["swapped_columns"]}
    notes = [a["note"] for a in attributes.values() if a["note"]]
    what = "share of golden decisions that flip when only the sensitive attribute changes"
    if not rates:
        return not_applicable("counterfactual_flip", None, policy.max_counterfactual_flip_rate,
                              "<=", f"not applicable: no swap (policy.flip_test_swaps={scope}) "
                              "changes a column the model reads, so nothing can flip by "
                              "construction" + (f" ({'; '.join(notes)})" if notes else ""),
                              evidence)
    worst = max(rates, key=rates.get)
    swapped = ", ".join(attributes[worst][scope]["swapped_columns"])
    detail = (f" (worst: {worst}, swapping {swapped}; policy.flip_test_swaps={scope}"
              + (f"; {'; '.join(notes)}" if notes else "") + ")")
    verdict = bound("counterfactual_flip", rates[worst], policy.max_counterfactual_flip_rate,
                    "<=", what, evidence, detail=detail)
    trivial = trivially_satisfied(fairness, policy)
    if verdict.passed and trivial:
        return insufficient(verdict, f"{verdict.message}; insufficient evidence: {trivial}",
                            policy, (Handling.BY_POLICY,))
    return verdict


def protected_influence(explanation: dict, policy: Policy, evidence: str) -> Verdict:
    """Share of attribution on protected inputs. With one input (a score column) the share
    is 0 or 1 by construction, which measures nothing about the model."""
    features = ", ".join(explanation["protected_features"]) or "none among model inputs"
    inputs = [row["feature"] for row in explanation["global_importance"]]
    if len(inputs) == 1:
        return not_applicable("protected_influence", None, policy.max_protected_influence, "<=",
                              f"not applicable: the candidate reads one input ({inputs[0]}), "
                              "so its share of attribution is 0 or 1 by construction "
                              f"(protected: {features}); the fairness gates judge its "
                              "decisions", evidence)
    return bound("protected_influence", explanation["protected_influence_share"],
                 policy.max_protected_influence, "<=",
                 "share of mean |SHAP| on protected features and proxies", evidence,
                 detail=f" (protected: {features})")
