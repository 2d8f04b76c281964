"""Rules on the model: the search, its energy, and the candidate's performance on the golden test.

Each rule is evidence + policy in, a verdict out; `blocking` decides what the verdict does.
"""

from __future__ import annotations

from ..params import Policy
from .blocking import FAIL, PASS, Handling
from .rule_verdict import Verdict, bound, insufficient, judged, not_applicable


def feasible_trial(search: dict, evidence: str) -> Verdict:
    if search.get("external"):
        return not_applicable("feasible_trial", None, 1.0, ">=",
                              f"not applicable: no search ran ({search['champion_reason']})",
                              evidence)
    feasible = sum(1 for t in search["trials"] if t["feasible"])
    detail = f" ({search['rejection_summary']})" if feasible == 0 else ""
    return bound("feasible_trial", float(feasible), 1.0, ">=",
                 f"feasible trials (out of {len(search['trials'])})", evidence, detail=detail)


def search_reproducible(recorded: dict, replayed: dict, evidence: str) -> Verdict:
    """The seeded sampler proposes the recorded trials again, and the champion and runner-up
    refitted give the recorded figures (core/model/search_replay.py says why that suffices)."""
    if recorded.get("external"):
        return not_applicable("search_reproducible", None, 0.0, "<=",
                              "no search ran: the candidate is external", evidence)
    proposals = sorted(i for i in recorded["proposals"].keys() | replayed["proposals"].keys()
                       if recorded["proposals"].get(i) != replayed["proposals"].get(i))
    refitted = [row["trial_id"] for row in recorded["trials"]]
    changed = [i for i, row, again in zip(refitted, recorded["trials"], replayed["trials"],
                                          strict=True) if row != again]
    same_champion = recorded["champion_trial_id"] == replayed["champion_trial_id"]
    value = float(len(proposals) + len(changed) + (0 if same_champion else 1))
    start = f"replayed from the recorded seed {recorded['seed']}"
    if value == 0:
        message = (f"{start}: the sampler, told each recorded outcome, proposed the same "
                   f"{len(recorded['proposals'])} trials; trial(s) {refitted} (champion first, "
                   "then the runner-up) refitted give the same metrics, fairness and size; the "
                   f"same champion (trial {recorded['champion_trial_id']})")
    else:
        message = (f"{start} differs: proposals of trials {proposals}, refitted trials "
                   f"{changed}; champion {recorded['champion_trial_id']} -> "
                   f"{replayed['champion_trial_id']}")
    return judged("search_reproducible", PASS if value == 0 else FAIL, value, 0.0, "<=",
                  message, evidence)


def carbon_budget(carbon: dict, policy: Policy, evidence: str) -> Verdict:
    if carbon.get("external"):
        return not_applicable("carbon_budget", None, policy.max_energy_kwh, "<=",
                              "not applicable: the candidate was not trained here, so the "
                              "energy of its training is unknown (only the audit's own is "
                              "recorded)", evidence)
    if policy.max_energy_kwh is None:
        return not_applicable("carbon_budget", carbon["energy_kwh"], None, "<=",
                              "no carbon budget set (policy.max_energy_kwh: null); energy is "
                              "recorded", evidence)
    return bound("carbon_budget", carbon["energy_kwh"], policy.max_energy_kwh, "<=",
                 "energy of search + refit (kWh)", evidence,
                 detail=f" ({carbon['emissions_kg_co2eq'] * 1000:.3g} g CO2eq; power "
                        f"{carbon['power_mode_note']}; machine-dependent)")


def performance_floor(performance: dict, policy: Policy, evidence: str) -> Verdict:
    auc = performance["metrics"]["auc"]
    rows = performance.get("evaluation_rows", {"which": "golden"})
    what = "golden-test AUC" if rows["which"] == "golden" else f"AUC on all {rows['rows']} rows"
    return bound("performance_floor", auc["value"], policy.min_auc, ">=", what,
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
    verdict = bound("decision_skill", balanced["value"], policy.min_balanced_accuracy, ">=",
                    "golden-test balanced accuracy", evidence, detail=detail)
    if verdict.passed and balanced["ci95"][0] <= NO_SKILL:
        return insufficient(verdict, verdict.message + "; insufficient evidence: the interval "
                            f"reaches the no-skill baseline {NO_SKILL} (policy."
                            f"insufficient_evidence={policy.insufficient_evidence})", policy,
                            (Handling.BY_POLICY,))
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
    return bound(gate, value, threshold, ">=", what, evidence, detail=detail)


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
        return not_applicable("no_regression", None, policy.max_regression, "<=",
                              "not applicable: no production version in the registry to "
                              "compare with", evidence)
    low, high = comparison["ci95"]
    return bound("no_regression", high, policy.max_regression, "<=",
                 f"upper 95% bound of the AUC drop vs production "
                 f"{comparison['production_version']} (paired bootstrap)", evidence,
                 detail=f" (interval {low:.3f} to {high:.3f}, mean {comparison['mean']:.3f})")


def latency(latency_ms: dict, policy: Policy, evidence: str) -> Verdict:
    return bound("latency_budget", latency_ms["p99"], policy.max_latency_ms, "<=",
                 "p99 single-row latency (ms), median of warm repeats", evidence,
                 detail=f" ({latency_ms['repeats']} repeats of {latency_ms['calls_per_repeat']} "
                        f"calls after {latency_ms['warmup_calls']} warm-up; p99 spread "
                        f"{latency_ms['p99_min']:.3g}-{latency_ms['p99_max']:.3g} ms; "
                        "machine-dependent)")
