"""One pure function per policy rule: evidence + policy in, a verdict a reviewer can read out.

A verdict has three outcomes (pass, fail, insufficient_evidence), the measured value, the
threshold it was held to and the evidence file. The Dagster checks only wrap these functions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..params import Policy

PASS, FAIL, INSUFFICIENT = "pass", "fail", "insufficient_evidence"
# Nothing to judge (no incumbent to regress against, no budget set): says why, never a PASS,
# and never blocks.
NOT_APPLICABLE = "not_applicable"


@dataclass(frozen=True)
class Verdict:
    gate: str
    outcome: str
    value: float | None
    threshold: float | None
    comparison: str
    blocking: bool
    message: str
    evidence: str

    @property
    def passed(self) -> bool:
        return self.outcome == PASS

    @property
    def blocks(self) -> bool:
        return self.blocking and not self.passed and self.outcome != NOT_APPLICABLE

    @property
    def acceptable(self) -> bool:
        """What Dagster shows as a passed check: a PASS, or nothing to judge."""
        return self.outcome in (PASS, NOT_APPLICABLE)

    def to_dict(self) -> dict:
        return asdict(self)


def _bound(gate: str, value: float | None, threshold: float, comparison: str, what: str,
           evidence: str, blocking: bool = True, detail: str = "") -> Verdict:
    """The common shape of a numeric gate: value compared to a policy threshold."""
    if value is None:
        return Verdict(gate, INSUFFICIENT, None, threshold, comparison, blocking,
                       f"{what} could not be measured{detail}", evidence)
    ok = value >= threshold if comparison == ">=" else value <= threshold
    shown = "passes" if ok else "fails"
    message = f"{what} {value:.4g} {shown}: must be {comparison} {threshold:g}{detail}"
    return Verdict(gate, PASS if ok else FAIL, value, threshold, comparison, blocking,
                   message, evidence)


def _findings_gate(gate: str, report: dict, family: str, evidence: str,
                   blocking: bool = True) -> Verdict:
    failed = [f for f in report["findings"] if f["gate"] == family and not f["passed"]]
    checked = [f for f in report["findings"] if f["gate"] == family]
    if failed:
        message = "; ".join(f["message"] for f in failed)
    else:
        message = f"{len(checked)} {family} rule(s) on {report['file']} passed"
    return Verdict(gate, FAIL if failed else PASS, float(len(failed)), 0.0, "<=", blocking,
                   message, evidence)


def schema(report: dict, evidence: str) -> Verdict:
    return _findings_gate("schema", report, "schema", evidence)


def label_sanity(report: dict, evidence: str) -> Verdict:
    return _findings_gate("label_sanity", report, "labels", evidence)


def group_sizes(report: dict, evidence: str) -> Verdict:
    return _findings_gate("sensitive_groups", report, "groups", evidence)


def outlier_screen(report: dict, policy: Policy, evidence: str) -> Verdict:
    screen = [f for f in report["findings"] if f["gate"] == "outliers"]
    if not screen:
        return Verdict("outlier_screen", INSUFFICIENT, None, policy.max_outlier_share, "<=",
                       False, "not screened: the data failed a blocking rule first", evidence)
    return _bound("outlier_screen", screen[0]["value"], policy.max_outlier_share, "<=",
                  "share of rows flagged by the poisoning screen (extreme values, "
                  "label-flipped near-duplicates)", evidence, blocking=False)


def golden_disjoint(overlap: dict, evidence: str) -> Verdict:
    shared = overlap["by_row_id"] + overlap["by_content"]
    return _bound("golden_test_disjoint", float(shared), 0.0, "<=",
                  "golden-test rows also in train/validation (by id + by content)", evidence)


def feasible_trial(search: dict, evidence: str) -> Verdict:
    if search.get("external"):
        return Verdict("feasible_trial", NOT_APPLICABLE, None, 1.0, ">=", True,
                       f"not applicable: no search ran ({search['champion_reason']})", evidence)
    feasible = sum(1 for t in search["trials"] if t["feasible"])
    detail = f" ({search['rejection_summary']})" if feasible == 0 else ""
    return _bound("feasible_trial", float(feasible), 1.0, ">=",
                  f"feasible trials (out of {len(search['trials'])})", evidence, detail=detail)


def search_reproducible(recorded: dict, rerun: dict, evidence: str) -> Verdict:
    """The same seed and data must give the same champion and the same trial table."""
    if recorded.get("external"):
        return Verdict("search_reproducible", NOT_APPLICABLE, None, 0.0, "<=", False,
                       "no search ran: the candidate is external", evidence)
    recorded_rows, rerun_rows = recorded["trials"], rerun["trials"]
    differing = [i for i in range(max(len(recorded_rows), len(rerun_rows)))
                 if i >= len(recorded_rows) or i >= len(rerun_rows)
                 or recorded_rows[i] != rerun_rows[i]]
    same_champion = recorded["champion_trial_id"] == rerun["champion_trial_id"]
    value = float(len(differing) + (0 if same_champion else 1))
    if value == 0:
        message = (f"re-run from the recorded seed {recorded['seed']} and search space: the same "
                   f"{len(recorded_rows)} trials (family, hyperparameters, validation metrics, "
                   f"fairness, size) and the same champion (trial "
                   f"{recorded['champion_trial_id']})")
    else:
        message = (f"re-run from the recorded seed {recorded['seed']} differs: trials "
                   f"{sorted(set(differing))} changed; champion "
                   f"{recorded['champion_trial_id']} -> {rerun['champion_trial_id']}")
    return Verdict("search_reproducible", PASS if value == 0 else FAIL, value, 0.0, "<=",
                   False, message, evidence)


def carbon_budget(carbon: dict, policy: Policy, evidence: str) -> Verdict:
    if carbon.get("external"):
        return Verdict("carbon_budget", NOT_APPLICABLE, None, policy.max_energy_kwh, "<=", True,
                       "not applicable: the candidate was not trained here, so the energy of "
                       "its training is unknown (only the audit's own is recorded)", evidence)
    if policy.max_energy_kwh is None:
        return Verdict("carbon_budget", NOT_APPLICABLE, carbon["energy_kwh"], None, "<=", True,
                       "no carbon budget set (policy.max_energy_kwh: null); energy is recorded",
                       evidence)
    return _bound("carbon_budget", carbon["energy_kwh"], policy.max_energy_kwh, "<=",
                  "energy of search + refit (kWh)", evidence,
                  detail=f" ({carbon['emissions_kg_co2eq'] * 1000:.3g} g CO2eq; power "
                         f"{carbon['power_mode_note']}; machine-dependent)")


def performance_floor(performance: dict, policy: Policy, evidence: str) -> Verdict:
    auc = performance["metrics"]["auc"]
    rows = performance.get("evaluation_rows", {"which": "golden"})
    what = "golden-test AUC" if rows["which"] == "golden" else f"AUC on all {rows['rows']} rows"
    return _bound("performance_floor", auc["value"], policy.min_auc, ">=", what,
                  evidence, detail=f" (95% CI {auc['ci95'][0]:.3f}-{auc['ci95'][1]:.3f})")


NO_SKILL = 0.5


def _interval(metric: dict) -> str:
    low, high = metric["ci95"]
    return f"95% CI {low:.3f}-{high:.3f}"


def decision_skill(performance: dict, policy: Policy, evidence: str) -> Verdict:
    """Better than no model: balanced accuracy at the operating threshold against the 0.5
    every constant decision scores. An estimate above the floor whose interval still reaches
    the no-skill baseline is not evidence of skill on these rows."""
    metrics = performance["metrics"]
    balanced, approve_all = metrics["balanced_accuracy"], performance["no_skill"]
    detail = (f" ({_interval(balanced)}; no-skill baseline {NO_SKILL} for any constant "
              f"decision; 'approve everyone' has accuracy "
              f"{approve_all['approve_everyone']['accuracy']:.3f} here, the model "
              f"{metrics['accuracy']['value']:.3f}; MCC {metrics['mcc']['value']:.3f}; "
              f"threshold {performance['decision_threshold']:g})")
    verdict = _bound("decision_skill", balanced["value"], policy.min_balanced_accuracy, ">=",
                     "golden-test balanced accuracy", evidence, detail=detail)
    if verdict.passed and balanced["ci95"][0] <= NO_SKILL:
        return Verdict("decision_skill", INSUFFICIENT, verdict.value, verdict.threshold, ">=",
                       policy.insufficient_evidence == "fail",
                       verdict.message + f"; insufficient evidence: the interval reaches the "
                       f"no-skill baseline {NO_SKILL} (policy.insufficient_evidence="
                       f"{policy.insufficient_evidence})", evidence)
    return verdict


def _group_floor(gate: str, performance: dict, key: str, threshold: float, what: str,
                 policy: Policy, evidence: str) -> Verdict:
    """The overall rate, and with policy.decision_quality_per_group the lowest group's."""
    overall = performance["metrics"][key]
    figures = [(overall["value"], "overall", _interval(overall))]
    left_out = []
    if policy.decision_quality_per_group:
        for attribute, groups in performance.get("by_group", {}).items():
            for group, row in groups.items():
                if row[key] is None:
                    left_out.append(f"{attribute}={group}")
                else:
                    figures.append((row[key], f"{attribute}={group}", f"{row['rows']} rows"))
    value, where, note = min(figures, key=lambda f: f[0])
    scope = (f"lowest over overall and {len(figures) - 1} group(s)"
             if policy.decision_quality_per_group else "overall")
    detail = f" ({where}: {note}; {scope}"
    detail += f"; too few cases: {', '.join(left_out)})" if left_out else ")"
    return _bound(gate, value, threshold, ">=", what, evidence, detail=detail)


def adverse_refusal(performance: dict, policy: Policy, evidence: str) -> Verdict:
    return _group_floor("adverse_refusal", performance, "adverse_refusal_rate",
                        policy.min_adverse_refusal_rate,
                        "share of truly unfavourable golden cases refused", policy, evidence)


def favourable_approval(performance: dict, policy: Policy, evidence: str) -> Verdict:
    return _group_floor("favourable_approval", performance, "recall",
                        policy.min_favourable_approval_rate,
                        "share of truly favourable golden cases approved", policy, evidence)


def no_regression(performance: dict, policy: Policy, evidence: str) -> Verdict:
    """Non-inferiority: the upper bound of the interval of (incumbent AUC - candidate AUC)
    must stay within policy.max_regression; the mean alone would pass a candidate whose drop
    the golden set cannot rule out."""
    comparison = performance.get("regression")
    if comparison is None:
        return Verdict("no_regression", NOT_APPLICABLE, None, policy.max_regression, "<=", True,
                       "not applicable: no production version in the registry to compare with",
                       evidence)
    low, high = comparison["ci95"]
    return _bound("no_regression", high, policy.max_regression, "<=",
                  f"upper 95% bound of the AUC drop vs production "
                  f"{comparison['production_version']} (paired bootstrap)", evidence,
                  detail=f" (interval {low:.3f} to {high:.3f}, mean {comparison['mean']:.3f})")


def latency(latency_ms: dict, policy: Policy, evidence: str) -> Verdict:
    return _bound("latency_budget", latency_ms["p99"], policy.max_latency_ms, "<=",
                  "p99 single-row latency (ms), median of warm repeats", evidence,
                  detail=f" ({latency_ms['repeats']} repeats of {latency_ms['calls_per_repeat']} "
                         f"calls after {latency_ms['warmup_calls']} warm-up; p99 spread "
                         f"{latency_ms['p99_min']:.3g}-{latency_ms['p99_max']:.3g} ms; "
                         "machine-dependent)")


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
                   what: str, short: str, policy: Policy, evidence: str,
                   blocking: bool = True) -> Verdict:
    """Worst value over attributes and intersections; undefined or unresolved is named.

    The point estimate decides. Insufficient evidence is a group whose rate rests on too few
    rows, positives or negatives (single attributes: policy.insufficient_evidence;
    intersections: policy.intersection_insufficient_evidence) or, when the policy asks, an
    interval straddling the threshold.
    """
    figures = _figures(fairness, key)
    single, crossed = _left_out(fairness, key, False), _left_out(fairness, key, True)
    if not figures:
        return Verdict(gate, INSUFFICIENT, None, threshold, comparison,
                       blocking and policy.insufficient_evidence == "fail",
                       f"{what} could not be measured: no attribute has two groups with the "
                       f"rates it needs (left out: {', '.join(single + crossed) or 'none'})",
                       evidence)
    worst = (min if comparison == ">=" else max)(figures, key=lambda f: f.value)
    failing = [f for f in figures if _fails(f.value, threshold, comparison)]
    if failing:
        bound = "<" if comparison == ">=" else ">"
        named = "; ".join(f"{f.describe(short)} {bound} {threshold:g}" for f in failing[:4])
        return Verdict(gate, FAIL, worst.value, threshold, comparison, blocking,
                       f"{what} fails: {named}", evidence)
    message = (f"{what} {worst.value:.4g} passes: must be {comparison} {threshold:g} "
               f"(worst: {worst.describe(short)}; {len(figures)} attribute(s) and "
               "intersection(s) measured)")
    notes, fail_policy = [], False
    rule = (f"below policy.min_group_size={policy.min_group_size} rows or "
            f"policy.min_rate_denominator={policy.min_rate_denominator} positives/negatives "
            "for a rate this statistic needs")
    if single:
        notes.append(f"group(s) {', '.join(single)} {rule}, left out and handled as "
                     f"policy.insufficient_evidence={policy.insufficient_evidence}")
        fail_policy |= policy.insufficient_evidence == "fail"
    if crossed:
        notes.append(f"intersection cell(s) {', '.join(crossed)} {rule}, left out and handled "
                     "as policy.intersection_insufficient_evidence="
                     f"{policy.intersection_insufficient_evidence}")
        fail_policy |= policy.intersection_insufficient_evidence == "fail"
    if policy.straddling_interval == "insufficient_evidence":
        unresolved = [f.describe(short) for f in figures if _straddles(f, threshold)]
        if unresolved:
            notes.append(f"interval straddles {threshold:g}: {'; '.join(unresolved)} "
                         "(policy.straddling_interval=insufficient_evidence), handled as "
                         f"policy.insufficient_evidence={policy.insufficient_evidence}")
            fail_policy |= policy.insufficient_evidence == "fail"
    trivial = trivially_satisfied(fairness, policy)
    if trivial:
        notes.append(trivial)
        fail_policy |= policy.insufficient_evidence == "fail"
    if not notes:
        return Verdict(gate, PASS, worst.value, threshold, comparison, blocking, message,
                       evidence)
    return Verdict(gate, INSUFFICIENT, worst.value, threshold, comparison,
                   blocking and fail_policy, message + "; insufficient evidence: "
                   + "; ".join(notes), evidence)


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
    return Verdict(worse.gate, worse.outcome, worse.value, worse.threshold, worse.comparison,
                   low.blocking or high.blocking, f"{low.message} | {high.message}", evidence)


def equalized_odds(fairness: dict, policy: Policy, evidence: str) -> Verdict:
    return _fairness_gate("equalized_odds", fairness, "equalized_odds_difference",
                          policy.max_equalized_odds_difference, "<=",
                          "largest equalized odds difference", "EOD", policy, evidence)


def demographic_parity(fairness: dict, policy: Policy, evidence: str) -> Verdict:
    return _fairness_gate("demographic_parity", fairness, "demographic_parity_difference",
                          policy.max_demographic_parity_difference, "<=",
                          "largest demographic parity difference", "DPD", policy, evidence,
                          blocking=False)


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
        return Verdict("counterfactual_flip", NOT_APPLICABLE, None,
                       policy.max_counterfactual_flip_rate, "<=", True,
                       f"not applicable: no swap (policy.flip_test_swaps={scope}) changes a "
                       f"column the model reads, so nothing can flip by construction"
                       + (f" ({'; '.join(notes)})" if notes else ""), evidence)
    worst = max(rates, key=rates.get)
    swapped = ", ".join(attributes[worst][scope]["swapped_columns"])
    detail = (f" (worst: {worst}, swapping {swapped}; policy.flip_test_swaps={scope}"
              + (f"; {'; '.join(notes)}" if notes else "") + ")")
    verdict = _bound("counterfactual_flip", rates[worst], policy.max_counterfactual_flip_rate,
                     "<=", what, evidence, detail=detail)
    trivial = trivially_satisfied(fairness, policy)
    if verdict.passed and trivial:
        return Verdict("counterfactual_flip", INSUFFICIENT, verdict.value, verdict.threshold,
                       "<=", policy.insufficient_evidence == "fail",
                       f"{verdict.message}; insufficient evidence: {trivial}", evidence)
    return verdict


def protected_influence(explanation: dict, policy: Policy, evidence: str) -> Verdict:
    """Share of attribution on protected inputs. With one input (a score column) the share
    is 0 or 1 by construction, which measures nothing about the model."""
    features = ", ".join(explanation["protected_features"]) or "none among model inputs"
    inputs = [row["feature"] for row in explanation["global_importance"]]
    if len(inputs) == 1:
        return Verdict("protected_influence", NOT_APPLICABLE, None,
                       policy.max_protected_influence, "<=", True,
                       f"not applicable: the candidate reads one input ({inputs[0]}), so its "
                       "share of attribution is 0 or 1 by construction (protected: "
                       f"{features}); the fairness gates judge its decisions", evidence)
    return _bound("protected_influence", explanation["protected_influence_share"],
                  policy.max_protected_influence, "<=",
                  "share of mean |SHAP| on protected features and proxies", evidence,
                  detail=f" (protected: {features})")


def _floor_note(drift: dict, feature: str) -> str:
    """The PSI that pure sampling noise reaches at this batch size, when the report has it."""
    floor = drift.get("psi_noise_floor", {}).get(feature)
    return "" if floor is None else f"; noise floor at this batch size {floor:.3g}"


# A split of one data set cannot show drift over time: its PSI is reported, never blocks.
SIMULATED_BATCH = ("the current batch is simulated (golden-test rows of a dataset without a "
                   "time axis, a random split of the same data): not evidence of drift over "
                   "time, so insufficient evidence that does not block")


def drift_psi(drift: dict, policy: Policy, evidence: str) -> Verdict:
    """The largest PSI above its feature's noise floor (reports without floors: the largest
    PSI); on a simulated current batch a value over the threshold warns, never blocks."""
    feature, value, noise = drift["max_psi_feature"], drift["max_psi"], ""
    beyond = "max_psi_above_noise_floor" in drift
    if beyond:
        if drift["max_psi_above_noise_floor_feature"] != feature:
            noise = f"; largest PSI {value:.3g} on {feature} is within its noise floor"
        feature, value = (drift["max_psi_above_noise_floor_feature"],
                          drift["max_psi_above_noise_floor"])
    largest = drift.get("max_psi_noise_floor")
    across = "" if largest is None else f"; largest-feature noise floor {largest:.3g}"
    verdict = _bound("drift_psi", value, policy.max_psi, "<=", "largest feature PSI"
                     + (" above its noise floor" if beyond else ""), evidence,
                     detail=f" (feature: {feature or 'none above its noise floor'}"
                            f"{_floor_note(drift, feature)}{across}{noise})")
    if verdict.passed or not drift.get("simulated"):
        return verdict
    return Verdict(**{**verdict.to_dict(), "outcome": INSUFFICIENT, "blocking": False,
                      "message": f"{verdict.message}; {SIMULATED_BATCH}"})


def drifted_share(drift: dict, policy: Policy, evidence: str) -> Verdict:
    """Features above policy.max_psi and their noise floor; simulated batch: as drift_psi."""
    drifted = ", ".join(f"{c}{_floor_note(drift, c)}" for c in drift["drifted_features"])
    noise = ", ".join(f"{c}{_floor_note(drift, c)}"
                      for c in drift.get("above_max_psi_within_noise_floor", []))
    verdict = _bound("drifted_share", drift["drifted_share"], policy.max_drifted_share, "<=",
                     "share of drifted features", evidence,
                     detail=f" (drifted: {drifted or 'none'}"
                            + (f"; above policy.max_psi but within the noise floor, not "
                               f"counted: {noise}" if noise else "") + ")")
    if verdict.passed or not drift.get("simulated"):
        return verdict
    return Verdict(**{**verdict.to_dict(), "outcome": INSUFFICIENT, "blocking": False,
                      "message": f"{verdict.message}; {SIMULATED_BATCH}"})


def card_valid(errors: list[str], evidence: str) -> Verdict:
    message = "; ".join(errors[:5]) if errors else "model card is complete and schema-valid"
    return Verdict("model_card_valid", FAIL if errors else PASS, float(len(errors)), 0.0, "<=",
                   True, message, evidence)


def personal_data(report: dict, evidence: str) -> Verdict:
    verdict = _findings_gate("personal_data", report, "personal_data", evidence)
    if not verdict.passed:
        return verdict
    screened = [f["message"] for f in report["findings"] if f["gate"] == "personal_data"]
    return Verdict(**{**verdict.to_dict(), "message": "; ".join(screened) or verdict.message})


def retention(report: dict, evidence: str) -> Verdict:
    if not any(f["gate"] == "retention" for f in report["findings"]):
        return Verdict("retention", NOT_APPLICABLE, None, 0.0, "<=", True,
                       "not applicable: no collection-date column declared "
                       "(datasets.<name>.retention), so row age cannot be checked", evidence)
    return _findings_gate("retention", report, "retention", evidence)


def _not_perturbed(gate: str, robustness: dict, threshold: float, evidence: str) -> Verdict:
    """Scores given without their model: inputs cannot be re-scored. An audit cannot have
    this evidence, so the gate does not apply (said why), rather than lacking it."""
    return Verdict(gate, NOT_APPLICABLE, None, threshold, "<=", False,
                   f"not applicable: {robustness['perturbation_rule']}", evidence)


def perturbation_flips(robustness: dict, policy: Policy, evidence: str) -> Verdict:
    test = robustness["perturbation"]
    if test is None:
        return _not_perturbed("perturbation_flips", robustness, policy.max_flip_rate, evidence)
    return _bound("perturbation_flips", test["flip_rate"], policy.max_flip_rate, "<=",
                  "share of golden-test decisions that flip under perturbation", evidence,
                  detail=f" ({test['flipped']} of {test['rows']}; "
                         f"{robustness['perturbation_rule']})")


def perturbation_auc_drop(robustness: dict, policy: Policy, evidence: str) -> Verdict:
    test = robustness["perturbation"]
    if test is None:
        return _not_perturbed("perturbation_auc_drop", robustness,
                              policy.max_perturbation_auc_drop, evidence)
    return _bound("perturbation_auc_drop", test["auc_drop"], policy.max_perturbation_auc_drop,
                  "<=", "golden-test AUC drop under perturbation", evidence,
                  detail=f" (AUC {test['auc']:.3f} -> {test['auc_perturbed']:.3f})")


def slice_performance(robustness: dict, policy: Policy, evidence: str) -> Verdict:
    scan = robustness["slices"]
    worst = scan["significant_slices"] or scan["worst_slices"]
    named = "" if not worst else (
        f"; worst slice {worst[0]['slice']} ({worst[0]['rows']} rows, accuracy "
        f"{worst[0]['accuracy']:.3f}, Holm-adjusted p {worst[0]['p_adjusted']:.3g})")
    return _bound("slice_performance", float(scan["slices_below_floor"]), 0.0, "<=",
                  f"slices with accuracy significantly below policy.min_slice_accuracy="
                  f"{policy.min_slice_accuracy} (one-sided binomial, Holm over "
                  f"{scan['slices_tested']} slices of >= {scan['min_slice_rows']} rows)",
                  evidence, detail=named)


def reference_agreement(reference: dict, policy: Policy, evidence: str) -> Verdict:
    if reference.get("file") is None:
        return Verdict("reference_agreement", NOT_APPLICABLE, None,
                       policy.min_reference_agreement, ">=", True,
                       "not applicable: no reference decisions declared (datasets.<name>."
                       "reference_decisions), so agreement cannot be measured", evidence)
    misses = ", ".join(d["case_id"] for d in reference["disagreements"][:10])
    return _bound("reference_agreement", reference["agreement_rate"],
                  policy.min_reference_agreement, ">=",
                  f"agreement with {reference['cases']} approved reference decisions", evidence,
                  detail=f" (disagreements: {misses or 'none'})")
