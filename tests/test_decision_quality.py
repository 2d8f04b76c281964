"""A promoted model must beat no model: decision quality at the operating threshold, a tuned
threshold, and parity that a near-constant decision meets only trivially."""

import numpy as np
import pandas as pd
import pytest

from governance_assets.core.decide import blocking, fairness_gates, model_gates, rule_verdict
from governance_assets.core.evidence import performance
from governance_assets.core.files import read_json
from governance_assets.core.model import thresholds

from .conftest import (
    check_results,
    declare_vendor_score,
    make_project,
    materialized,
    params_of,
    run_graph,
    set_params,
)


def _floors(**changes) -> thresholds.Floors:
    values = {"min_balanced_accuracy": 0.55, "min_adverse_refusal_rate": 0.2,
              "min_favourable_approval_rate": 0.5, "min_disparate_impact": None,
              "max_equalized_odds_difference": None, "min_group_size": 20,
              "min_rate_denominator": 10, "fallback": 0.5}
    return thresholds.Floors(**{**values, **changes})


def _brute_force(y, scores, groups, floors):
    """Every grid threshold judged one at a time with plain pandas."""
    best = None
    for t in thresholds.GRID:
        approved = scores >= t
        tpr, tnr = approved[y == 1].mean(), 1 - approved[y == 0].mean()
        ratio = None
        if groups is not None:
            rates = pd.Series(approved).groupby(groups).agg(["mean", "size"])
            rates = rates[rates["size"] >= floors.min_group_size]["mean"]
            ratio = rates.min() / rates.max() if rates.max() > 0 else None
        ok = ((tpr + tnr) / 2 >= floors.min_balanced_accuracy
              and tnr >= floors.min_adverse_refusal_rate
              and tpr >= floors.min_favourable_approval_rate
              and (floors.min_disparate_impact is None
                   or (ratio is not None and ratio >= floors.min_disparate_impact)))
        key = (round((tpr + tnr) / 2, 9), -abs(t - floors.fallback))
        if ok and (best is None or key > best[0]):
            best = (key, float(t))
    return None if best is None else best[1]


def test_the_tuned_threshold_is_the_best_balanced_accuracy_meeting_every_floor():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 600)
    groups = rng.choice(["a", "b"], 600)
    # Group b scores higher at equal outcome: the fairness band then binds.
    scores = np.clip(0.35 * y + 0.15 * (groups == "b") + rng.uniform(0, 0.6, 600), 0, 1)
    for floors in (_floors(), _floors(min_disparate_impact=0.8),
                   _floors(min_disparate_impact=0.95), _floors(min_favourable_approval_rate=0.97)):
        point = thresholds.tune(y, scores, {"g": groups}, floors)
        expected = _brute_force(y, scores, groups if floors.min_disparate_impact else None,
                                floors)
        assert point.met_every_floor == (expected is not None)
        if expected is not None:
            assert point.threshold == pytest.approx(expected)
    loose = thresholds.tune(y, scores, {"g": groups}, _floors())
    strict = thresholds.tune(y, scores, {"g": groups},
                             _floors(min_favourable_approval_rate=0.97))
    assert strict.met_every_floor and strict.threshold < loose.threshold, \
        "a higher approval floor must move the operating point down"


def test_a_constant_approver_fails_every_decision_quality_gate_and_a_skilled_model_passes():
    policy = params_of_bundled().policy
    y = np.array([1] * 140 + [0] * 60)
    rng = np.random.default_rng(0)
    skilled = np.clip(0.5 * y + rng.uniform(0, 0.5, 200), 0, 1)
    for scores, expected in ((np.ones(200), blocking.FAIL), (skilled, blocking.PASS)):
        report = {"metrics": performance.golden_metrics(y, scores, 0.5, 2000, 1),
                  "no_skill": performance.no_skill_baselines(y), "decision_threshold": 0.5}
        verdicts = [model_gates.decision_skill(report, policy, "p"),
                    model_gates.adverse_refusal(report, policy, "p"),
                    model_gates.favourable_approval(report, policy, "p")]
        outcomes = [v.outcome for v in verdicts]
        if expected == blocking.FAIL:
            assert outcomes[:2] == [blocking.FAIL, blocking.FAIL] and verdicts[0].blocks
            assert verdicts[0].value == 0.5 and verdicts[1].value == 0.0
        else:
            assert outcomes == [blocking.PASS] * 3


def test_skill_that_the_interval_cannot_tell_from_none_is_insufficient_and_blocks():
    policy = params_of_bundled().policy
    report = {"metrics": {"balanced_accuracy": {"value": 0.58, "ci95": [0.49, 0.66]},
                          "accuracy": {"value": 0.7, "ci95": [0.6, 0.8]},
                          "mcc": {"value": 0.1, "ci95": [0.0, 0.2]}},
              "no_skill": performance.no_skill_baselines(np.array([1, 0])),
              "decision_threshold": 0.4}
    verdict = model_gates.decision_skill(report, policy, "p")
    assert verdict.outcome == blocking.INSUFFICIENT and verdict.blocks
    assert "no-skill baseline 0.5" in verdict.message
    report["metrics"]["balanced_accuracy"]["ci95"] = [0.51, 0.66]
    assert model_gates.decision_skill(report, policy, "p").outcome == blocking.PASS


def test_per_group_floors_name_the_group_that_is_rarely_refused():
    policy = params_of_bundled().policy.model_copy(update={"decision_quality_per_group": True})
    y = np.array([0] * 40 + [1] * 60)
    decided = np.array([0] * 20 + [1] * 20 + [1] * 60)     # refuses half the bad, overall
    groups = pd.DataFrame({"sex": ["f"] * 20 + ["m"] * 20 + ["f"] * 30 + ["m"] * 30})
    report = {"metrics": {"adverse_refusal_rate": {"value": 0.5, "ci95": [0.3, 0.7]}},
              "by_group": performance.rates_by_group(y, decided, groups, 10)}
    verdict = model_gates.adverse_refusal(report, policy, "p")
    assert verdict.outcome == blocking.FAIL and verdict.value == 0.0
    assert "sex=m" in verdict.message
    overall_only = params_of_bundled().policy
    assert model_gates.adverse_refusal(report, overall_only, "p").outcome == blocking.PASS


def _fairness(rate: float) -> dict:
    groups = {g: {"count": 100, "selection_rate": rate, "disparate_impact_ratio": 1.0}
              for g in ("a", "b")}
    return {"overall": {"rows": 200, "selection_rate": rate},
            "features": {"x": {"groups": groups, "disparate_impact_ratio_min": 1.0,
                               "worst": {"disparate_impact_ratio_min": "a"},
                               "insufficient_groups": [], "left_out": {}}},
            "intersections": {}}


def test_parity_of_a_near_constant_decision_is_satisfied_trivially_not_passed():
    policy = params_of_bundled().policy
    margin = policy.trivial_selection_margin
    for rate, outcome in ((1 - margin, blocking.INSUFFICIENT), (margin, blocking.INSUFFICIENT),
                          (0.5, blocking.PASS), (1 - margin - 0.01, blocking.PASS)):
        verdict = fairness_gates.four_fifths(_fairness(rate), policy, "f")
        assert verdict.outcome == outcome, rate
        if outcome == blocking.INSUFFICIENT:
            assert "satisfied trivially" in verdict.message and verdict.blocks


def params_of_bundled():
    from pathlib import Path

    from governance_assets.core.params import load_params

    return load_params(Path(__file__).resolve().parent.parent)


def test_an_approve_everyone_candidate_is_blocked_whatever_its_fairness(tmp_path, instance):
    """A vendor score that approves every applicant: perfect parity, no skill."""
    root = make_project(tmp_path)
    # Scores 1-4 from loan duration, all below the rule's 5: every applicant approved.
    declare_vendor_score(
        root, lambda raw: (raw["duration_in_month"].astype(int) // 12).clip(1, 4),
        "approve-everyone rule (test)", datasets__german_credit__reference_decisions=None)
    result = run_graph(root, instance)
    checks = check_results(result)
    for gate in ("decision_skill", "adverse_refusal"):
        assert checks[gate].metadata["outcome"].value == blocking.FAIL, gate
        assert checks[gate].metadata["blocks_promotion"].value is True
    for gate in ("four_fifths_rule", "equalized_odds"):
        assert checks[gate].metadata["outcome"].value == blocking.INSUFFICIENT, gate
        assert "satisfied trivially" in checks[gate].description
    assert "staging_model" not in materialized(result)
    decision = read_json(root / "reports/decision.json")
    assert {"decision_skill", "adverse_refusal"} <= set(decision["refused_by"])


def test_where_no_plain_trial_meets_the_band_mitigated_variants_are_tried_and_named(
        tmp_path, instance):
    """The census sample with the bundled 0.9 disparate-impact band restored: no plain trial
    meets it, so fairlearn's variants run as trials of their own, each with its verdicts; the
    search ends with a feasible mitigated champion or says which trial came nearest and
    which constraint to loosen."""
    from dagster import AssetSelection

    from governance_assets.core.model import search, search_trace

    root = make_project(tmp_path, dataset="census_income")
    set_params(root, datasets__census_income__search_constraints={},
               model__search__trials=4, model__search__train_sample_rows=2000,
               model__search__mitigated_variants__base_trials=1)
    run_graph(root, instance, selection=AssetSelection.groups("data"))
    splits = {name: pd.read_parquet(root / f"data/prepared/splits/{name}.parquet")
              for name in ("train", "validation")}
    params = params_of(root)
    outcome = search.run_search(splits["train"], splits["validation"], params)
    trace = search_trace.trace(outcome, params)
    print(trace["champion_reason"])
    plain = [t for t in trace["trials"] if t["mitigation"] is None]
    variants = [t for t in trace["trials"] if t["mitigation"] is not None]
    assert len(plain) == 4 and not any(t["feasible"] for t in plain)
    assert variants and trace["mitigated_variants"]["tried"] == len(variants)
    for variant in variants:
        assert variant["mitigation"]["method"] == "exponentiated_gradient"
        assert variant["mitigation"]["ratio_bound"] == 0.9
        assert variant["mitigation"]["sensitive_feature"] in params.active.sensitive_features
        assert any(c["name"] == "disparate_impact" for c in variant["constraints"])
        if not variant["feasible"]:
            assert variant["rejection_reason"].startswith(
                f"trial {variant['trial_id']} (exponentiated_gradient on trial ")
    assert any("threshold_optimizer" in note for note in trace["mitigated_variants"]["not_tried"])
    champion = trace["champion"]
    if champion is None:
        assert "Nearest: trial" in trace["champion_reason"]
        assert "loosen" in trace["champion_reason"]
    else:
        assert champion["mitigation"] is not None
        assert champion["disparate_impact"] >= 0.9


def _standing(outcome: str, blocking: bool):
    from governance_assets.core.decide.gate_catalog import GATES_BY_NAME
    from governance_assets.core.decide.verdicts import CURRENT, Standing

    verdict = rule_verdict.Verdict("decision_skill", outcome, 0.58, 0.55, ">=", blocking, "m", "p")
    return Standing(GATES_BY_NAME["decision_skill"], CURRENT, {"verdict": verdict.to_dict()},
                    None, "")


def test_the_guard_blocks_on_insufficient_evidence_unless_the_policy_says_warn():
    assert _standing(blocking.INSUFFICIENT, blocking=True).blocks
    assert not _standing(blocking.INSUFFICIENT, blocking=False).blocks
    assert _standing(blocking.FAIL, blocking=True).blocks
    assert not _standing(blocking.PASS, blocking=True).blocks
    assert not _standing(blocking.NOT_APPLICABLE, blocking=True).blocks


def test_one_input_has_no_protected_influence_to_measure():
    policy = params_of_bundled().policy
    one = {"protected_features": [], "protected_influence_share": 0.0,
           "global_importance": [{"feature": "vendor_risk_score", "share": 1.0}]}
    verdict = fairness_gates.protected_influence(one, policy, "e")
    assert verdict.outcome == blocking.NOT_APPLICABLE and not verdict.blocks
    two = {**one, "global_importance": [*one["global_importance"],
                                         {"feature": "age", "share": 0.0}]}
    assert fairness_gates.protected_influence(two, policy, "e").outcome == blocking.PASS
