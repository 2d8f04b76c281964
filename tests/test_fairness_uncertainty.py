"""Intersections, precision, bootstrap intervals and the three-valued fairness gates.

Hand-computed examples: a swap of one statistic for another, an interval that ignores the
resamples, or a gate that skips intersections turns a test red.
"""

import numpy as np
import pandas as pd
import pytest

from governance_assets.core.decide.fairness_gates import four_fifths
from governance_assets.core.evidence import fairness

from .conftest import make_project, params_of

# Four cells of 30: (f, young), (f, old), (m, young), (m, old).
# Favourable decisions per cell: 6, 18, 15, 24 of 30; every row's true label is 1 for the
# first half of each cell and 0 for the second.
CELLS = {("f", "young"): 6, ("f", "old"): 18, ("m", "young"): 15, ("m", "old"): 24}


def four_cells(repeat: int = 1) -> tuple[pd.Series, pd.Series, pd.DataFrame]:
    y, predicted, sex, age = [], [], [], []
    for (s, a), favourable in CELLS.items():
        for _ in range(repeat):
            y += [1] * 15 + [0] * 15
            decided = [1] * favourable + [0] * (30 - favourable)
            predicted += decided[::2] + decided[1::2]  # spread over both labels
            sex += [s] * 30
            age += [a] * 30
    return pd.Series(y), pd.Series(predicted), pd.DataFrame({"sex": sex, "age": age})


def settings(rounds: int = 0, min_group_size: int = 20) -> fairness.FairnessSettings:
    return fairness.FairnessSettings(min_group_size, 5, bootstrap_rounds=rounds, seed=3)


def report(repeat: int = 1, rounds: int = 0, min_group_size: int = 20) -> dict:
    y, predicted, sensitive = four_cells(repeat)
    return fairness.fairness_report(y, predicted, sensitive, min_group_size,
                                    intersections=[["sex", "age"]],
                                    settings=settings(rounds, min_group_size))


def test_intersection_rates_and_ratio_against_hand_values():
    crossed = report()["intersections"]["sex × age"]
    assert crossed["members"] == ["sex", "age"]
    assert set(crossed["groups"]) == {"f/young", "f/old", "m/young", "m/old"}
    assert crossed["groups"]["f/young"]["selection_rate"] == pytest.approx(6 / 30)
    assert crossed["reference_group"] == "m/old"
    assert crossed["disparate_impact_ratio_min"] == pytest.approx(6 / 24, abs=1e-6)
    assert crossed["demographic_parity_difference"] == pytest.approx((24 - 6) / 30, abs=1e-6)
    # single attribute: women 24/60 against men 39/60
    single = report()["features"]["sex"]
    assert single["disparate_impact_ratio_min"] == pytest.approx(24 / 39, abs=1e-6)
    assert crossed["worst"]["disparate_impact_ratio_min"] == "f/young"


def test_precision_is_favourable_outcomes_among_favourable_decisions():
    y = pd.Series([1, 1, 0, 0, 1, 0, 0, 0, 1, 1])
    predicted = pd.Series([1, 1, 1, 0, 0, 1, 1, 1, 1, 0])
    groups = pd.Series(["a"] * 5 + ["b"] * 5)
    result = fairness.feature_fairness(y, predicted, groups, min_group_size=1,
                                       min_rate_denominator=1)
    assert result["groups"]["a"]["precision"] == pytest.approx(2 / 3)
    assert result["groups"]["b"]["precision"] == pytest.approx(1 / 4)


def test_intervals_contain_the_estimate_and_narrow_with_more_data():
    small, large = report(repeat=1, rounds=300), report(repeat=8, rounds=300)
    for name in ("sex", "age"):
        for key in ("disparate_impact_ratio_min", "demographic_parity_difference",
                    "equalized_odds_difference"):
            ci_small = small["features"][name]["intervals"]["summaries"][key]["ci"]
            ci_large = large["features"][name]["intervals"]["summaries"][key]["ci"]
            point = small["features"][name][key]
            assert ci_small[0] <= point <= ci_small[1], (name, key)
            assert ci_large[1] - ci_large[0] < 0.6 * (ci_small[1] - ci_small[0]), (name, key)
    group_ci = small["features"]["sex"]["intervals"]["groups"]["f"]["selection_rate"]
    assert group_ci[0] < 24 / 60 < group_ci[1]


def test_bootstrap_is_seeded():
    assert report(rounds=100) == report(rounds=100)


def test_an_intersection_with_too_few_rows_is_insufficient_evidence(tmp_path):
    """30 rows per cell under a minimum of 40: the selection rates of single attributes
    (60 rows) decide, the cells are disclosed and handled by their own policy."""
    policy = params_of(make_project(tmp_path)).policy.model_copy(
        update={"min_disparate_impact": 0.45})
    result = report(min_group_size=40)
    assert result["intersections"]["sex × age"]["insufficient_groups"] == [
        "f/old", "f/young", "m/old", "m/young"]
    verdict = four_fifths(result, policy, "f")
    assert verdict.outcome == "insufficient_evidence" and verdict.value == pytest.approx(0.5)
    assert "sex × age=f/young" in verdict.message
    assert "intersection_insufficient_evidence=warn" in verdict.message
    assert not verdict.blocks
    strict = policy.model_copy(update={"intersection_insufficient_evidence": "fail"})
    assert four_fifths(result, strict, "f").blocks


def test_the_gate_names_the_worst_intersection_with_its_interval(tmp_path):
    policy = params_of(make_project(tmp_path)).policy
    verdict = four_fifths(report(rounds=200), policy, "f")
    assert verdict.outcome == "fail" and verdict.value == pytest.approx(0.25, abs=1e-6)
    assert "sex × age: f/young DIR 0.25 [" in verdict.message
    assert "< 0.8" in verdict.message


def test_a_straddling_interval_is_insufficient_only_when_the_policy_asks(tmp_path):
    policy = params_of(make_project(tmp_path)).policy
    y, predicted, sensitive = four_cells()
    result = fairness.fairness_report(y, predicted, sensitive[["sex"]], 20,
                                      settings=settings(300))
    ci = result["features"]["sex"]["intervals"]["summaries"]["disparate_impact_ratio_min"]["ci"]
    lenient = policy.model_copy(update={"min_disparate_impact": 0.6})
    assert ci[0] < 0.6 < ci[1] and 24 / 39 > 0.6
    assert four_fifths(result, lenient, "f").outcome == "pass"
    asks = lenient.model_copy(update={"straddling_interval": "insufficient_evidence"})
    verdict = four_fifths(result, asks, "f")
    assert verdict.outcome == "insufficient_evidence" and verdict.blocks
    assert "interval straddles 0.6" in verdict.message


def test_two_sided_rule_fails_a_group_favoured_far_above_the_largest(tmp_path):
    """Largest group 'big' selects 40 %; 'small' selects 70 %: ratio 1.75 > 1.25."""
    policy = params_of(make_project(tmp_path)).policy
    y = pd.Series([1, 0] * 50)
    predicted = pd.Series([1] * 28 + [0] * 42 + [1] * 21 + [0] * 9)
    groups = pd.DataFrame({"g": ["big"] * 70 + ["small"] * 30})
    two_sided = fairness.FairnessSettings(20, 5, reference=fairness.LARGEST_GROUP)
    result = fairness.fairness_report(y, predicted, groups, 20, settings=two_sided)
    assert result["features"]["g"]["reference_group"] == "big"
    assert result["features"]["g"]["disparate_impact_ratio_max"] == pytest.approx(1.75)
    bounded = policy.model_copy(update={"max_disparate_impact": 1.25})
    assert four_fifths(result, policy, "f").outcome == "pass"
    verdict = four_fifths(result, bounded, "f")
    assert verdict.outcome == "fail" and "> 1.25" in verdict.message


def test_resampled_rates_equal_fairlearn_rates_on_the_full_sample():
    y, predicted, sensitive = four_cells()
    codes = sensitive["sex"].map({"f": 0, "m": 1}).to_numpy()
    cells = codes * 4 + y.to_numpy() * 2 + predicted.to_numpy()
    counts = np.bincount(cells, minlength=8).reshape(1, 2, 4).astype(float)
    rates = fairness._resampled_rates(counts)
    point = fairness.feature_fairness(y, predicted, sensitive["sex"], 20, 5)["groups"]
    for i, group in enumerate(("f", "m")):
        for rate in fairness.RATES:
            assert rates[rate][0, i] == pytest.approx(point[group][rate], abs=1e-6), rate
