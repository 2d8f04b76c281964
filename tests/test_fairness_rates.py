"""Each fairness statistic against a hand-computed value that no other statistic shares.

Two groups of ten, built so that every statistic differs: a swap of equalized odds for
demographic parity (or for equal opportunity) in core/evidence/fairness.py turns a test red.
"""

import pandas as pd
import pytest
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

from governance_assets.core.decide.fairness_gates import (
    demographic_parity,
    equalized_odds,
    four_fifths,
)
from governance_assets.core.evidence import fairness

from .conftest import make_project, params_of

# group a: 6 positives (5 predicted favourable), 4 negatives (1 predicted favourable)
#   selection rate 6/10 = 0.6, TPR 5/6, FPR 1/4
# group b: 4 positives (3 predicted favourable), 6 negatives (5 predicted favourable)
#   selection rate 8/10 = 0.8, TPR 3/4, FPR 5/6
A_Y, A_PRED = [1] * 6 + [0] * 4, [1] * 5 + [0] + [1] + [0] * 3
B_Y, B_PRED = [1] * 4 + [0] * 6, [1] * 3 + [0] + [1] * 5 + [0]
EXPECTED = {
    "demographic_parity_difference": 0.8 - 0.6,
    "disparate_impact_ratio_min": 0.6 / 0.8,
    "equal_opportunity_difference": 5 / 6 - 3 / 4,
    "equalized_odds_difference": max(5 / 6 - 3 / 4, 5 / 6 - 1 / 4),
}


def two_groups():
    y = pd.Series(A_Y + B_Y)
    predicted = pd.Series(A_PRED + B_PRED)
    groups = pd.Series(["a"] * 10 + ["b"] * 10)
    return y, predicted, groups


def test_each_statistic_matches_its_own_hand_computed_value():
    result = fairness.feature_fairness(*two_groups(), min_group_size=10, min_rate_denominator=4)
    for key, value in EXPECTED.items():
        assert result[key] == pytest.approx(value, abs=1e-6), key
    assert len({round(v, 6) for v in EXPECTED.values()}) == 4, "the statistics tell apart"
    a, b = result["groups"]["a"], result["groups"]["b"]
    assert (a["selection_rate"], a["true_positive_rate"], a["false_positive_rate"]) == (
        pytest.approx(0.6), pytest.approx(5 / 6), pytest.approx(0.25))
    assert b["false_negative_rate"] == pytest.approx(0.25)
    assert result["reference_group"] == "b" and b["disparate_impact_ratio"] == 1.0


def test_hand_values_agree_with_fairlearn_when_every_rate_is_defined():
    y, predicted, groups = two_groups()
    result = fairness.feature_fairness(y, predicted, groups, min_group_size=10)
    assert result["equalized_odds_difference"] == pytest.approx(
        equalized_odds_difference(y, predicted, sensitive_features=groups))
    assert result["demographic_parity_difference"] == pytest.approx(
        demographic_parity_difference(y, predicted, sensitive_features=groups))


def test_gates_read_the_statistic_they_are_named_for(tmp_path):
    policy = params_of(make_project(tmp_path)).policy
    report = fairness.fairness_report(*two_groups()[:2], pd.DataFrame({"g": two_groups()[2]}),
                                      min_group_size=10, min_rate_denominator=4)
    assert equalized_odds(report, policy, "f").value == pytest.approx(7 / 12, abs=1e-6)
    assert demographic_parity(report, policy, "f").value == pytest.approx(0.2, abs=1e-6)
    assert four_fifths(report, policy, "f").value == pytest.approx(0.75, abs=1e-6)


def test_a_group_without_positives_has_undefined_tpr_not_zero():
    y, predicted, groups = two_groups()
    y = pd.concat([y, pd.Series([0] * 12)], ignore_index=True)
    predicted = pd.concat([predicted, pd.Series([1] * 3 + [0] * 9)], ignore_index=True)
    groups = pd.concat([groups, pd.Series(["c"] * 12)], ignore_index=True)
    result = fairness.feature_fairness(y, predicted, groups, min_group_size=10,
                                       min_rate_denominator=4)
    c = result["groups"]["c"]
    assert c["true_positive_rate"] is None and c["false_negative_rate"] is None
    assert c["undefined"]["true_positive_rate"] == "no positives: undefined"
    assert c["false_positive_rate"] == pytest.approx(0.25) and c["selection_rate"] == 0.25
    # fairlearn would put c's TPR at 0.0 and report a TPR gap of 5/6; masked, the gap is a vs b
    assert result["equal_opportunity_difference"] == pytest.approx(5 / 6 - 3 / 4, abs=1e-6)
    assert result["left_out"]["equalized_odds_difference"] == ["c"]
    assert result["left_out"]["demographic_parity_difference"] == []


def test_a_rate_below_its_own_minimum_denominator_is_null_with_the_reason(tmp_path):
    result = fairness.feature_fairness(*two_groups(), min_group_size=10, min_rate_denominator=5)
    b = result["groups"]["b"]
    assert b["true_positive_rate"] is None and b["selection_rate"] == pytest.approx(0.8)
    assert b["undefined"] == {"true_positive_rate": "4 positives < minimum 5",
                              "false_negative_rate": "4 positives < minimum 5"}
    assert result["equalized_odds_difference"] is None
    policy = params_of(make_project(tmp_path)).policy
    report = {"features": {"g": result}}
    verdict = equalized_odds(report, policy, "f")
    assert verdict.outcome == "insufficient_evidence" and verdict.blocks
    assert "g=b" in verdict.message
    assert four_fifths(report, policy, "f").outcome == "fail", "selection rates still defined"
