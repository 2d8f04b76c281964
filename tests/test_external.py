"""Models trained elsewhere: a score column with its rule, and a skops model file, through the
same gates; the group rates they give are checked against rates computed by hand."""

import numpy as np
import pandas as pd
import pytest
import skops.io as sio

from governance_assets.core import training
from governance_assets.core.columns import FAVOURABLE
from governance_assets.core.external_model import ScoreRule
from governance_assets.core.files import read_json, sha256_of_file

from .conftest import check_results, make_project, materialized, params_of, run_graph, set_params

TREE_TYPE = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"


def _rates_by_hand(golden: pd.DataFrame, favourable: np.ndarray, feature: str) -> dict:
    """Selection rate, TPR and FPR per group, straight from the golden rows."""
    truth = golden[FAVOURABLE].to_numpy() == 1
    rates = {}
    for group in sorted(golden[feature].unique()):
        mine = (golden[feature] == group).to_numpy()
        rates[group] = {"selection_rate": favourable[mine].mean(),
                        "true_positive_rate": favourable[mine & truth].mean(),
                        "false_positive_rate": favourable[mine & ~truth].mean()}
    return rates


def _assert_fairness_matches(root, favourable: np.ndarray, golden: pd.DataFrame) -> None:
    fairness = read_json(root / "reports/fairness.json")
    for feature in ("sex", "age_band"):
        for group, expected in _rates_by_hand(golden, favourable, feature).items():
            reported = fairness["features"][feature]["groups"][group]
            for rate, value in expected.items():
                assert reported[rate] == pytest.approx(value, abs=1e-6), (feature, group, rate)


def _golden(root) -> pd.DataFrame:
    return pd.read_parquet(root / "data/prepared/splits/golden_test.parquet")


def test_score_rule_decides_exactly_by_its_rule_and_keeps_the_score_order():
    scores = np.array([1.0, 4.0, 4.999, 5.0, 5.001, 9.0])
    rule = ScoreRule("<", 5.0, decision_threshold=0.4).fit(scores.reshape(-1, 1))
    favourable = rule.predict_proba(scores.reshape(-1, 1))[:, 1]
    assert rule.predict(scores.reshape(-1, 1)).tolist() == [1, 1, 1, 0, 0, 0]
    assert (np.diff(favourable) < 0).all()          # lower score, more favourable
    assert ((favourable >= 0.4) == (scores < 5.0)).all()


def test_a_score_column_goes_through_the_gates_with_hand_computed_group_rates(tmp_path,
                                                                              instance):
    root = make_project(tmp_path)
    raw = root / "data/raw/german_credit.csv"
    frame = pd.read_csv(raw, dtype=str)
    # A vendor's risk score 1-10 from loan duration; "high risk" = score >= 5.
    frame["vendor_risk_score"] = (frame["duration_in_month"].astype(int) // 6).clip(1, 10)
    frame.to_csv(raw, index=False)
    spec = "datasets__german_credit__"
    numeric = params_of(root).active.numeric_columns
    set_params(root, **{f"{spec}numeric_columns": [*numeric, "vendor_risk_score"],
                        f"{spec}reference_decisions": None,
                        f"{spec}external_scores": {
                            "column": "vendor_risk_score", "favourable_when": "<",
                            "threshold": 5, "provenance": "vendor risk tool v1 (test)"}})
    result = run_graph(root, instance)
    checks = check_results(result)
    assert checks["feasible_trial"].passed
    assert "no search ran" in checks["feasible_trial"].description
    assert {"performance_report", "fairness_report", "model_card",
            "promotion_decision"} <= materialized(result)
    golden = _golden(root)
    _assert_fairness_matches(root, (golden["vendor_risk_score"] < 5).to_numpy(), golden)
    for gate in ("perturbation_flips", "perturbation_auc_drop"):
        assert checks[gate].metadata["outcome"].value == "insufficient_evidence"
        assert checks[gate].metadata["blocks_promotion"].value is False
    card = read_json(root / "reports/model_card.json")
    assert card["model_origin"]["kind"] == "scores"
    assert card["search"]["trials"] == []
    assert "incurred elsewhere" in card["carbon"]["note"]
    assert "**Not trained here.**" in (root / "reports/model_card.md").read_text()


def _vendor_model(root):
    """Another team's model: gradient boosting on all 1,000 rows, saved with skops."""
    params = params_of(root)
    spec = params.active
    frame = pd.read_csv(root / spec.path, dtype=str)
    for column in spec.numeric_columns:
        frame[column] = frame[column].astype(float)
    model = training.build_pipeline("hist_gradient_boosting", spec, params.model, 7)
    model.fit(frame[spec.model_features], (frame[spec.target] == spec.favourable_label))
    path = root / "data/external/vendor_model.skops"
    path.parent.mkdir(parents=True, exist_ok=True)
    sio.dump(model, path)
    return model, path


def test_an_external_model_file_is_loaded_safely_hashed_and_gated(tmp_path, instance):
    root = make_project(tmp_path)
    model, path = _vendor_model(root)
    declared = {"path": "data/external/vendor_model.skops", "provenance": "credit team B"}
    set_params(root, datasets__german_credit__external_model=declared)
    refused = run_graph(root, instance)
    assert "candidate_model" not in materialized(refused)
    errors = [e.step_failure_data.error for e in refused.all_events if e.is_step_failure]
    assert any(TREE_TYPE in (error.cause or error).message for error in errors)

    set_params(root, datasets__german_credit__external_model={**declared,
                                                             "trusted_types": [TREE_TYPE]})
    result = run_graph(root, instance)
    checks = check_results(result)
    for gate in ("performance_floor", "four_fifths_rule", "perturbation_flips",
                 "slice_performance", "reference_agreement", "protected_influence"):
        assert gate in checks
    meta = read_json(root / "models/candidate.json")
    assert meta["external"]["sha256"] == sha256_of_file(path)
    assert meta["external"]["trusted_types"] == [TREE_TYPE]
    golden = _golden(root)
    favourable = model.predict_proba(golden[params_of(root).active.model_features])[:, 1] >= 0.5
    _assert_fairness_matches(root, favourable, golden)
    card = read_json(root / "reports/model_card.json")
    assert card["model_origin"]["kind"] == "model_file"
    assert card["model_origin"]["sha256"] == sha256_of_file(path)
