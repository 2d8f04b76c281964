"""Models trained elsewhere: a score column with its rule, and a skops model file, through the
same gates; the group rates they give are checked against rates computed by hand."""

import numpy as np
import pandas as pd
import pytest
import skops.io as sio

from governance_assets.core.data.columns import FAVOURABLE
from governance_assets.core.files import read_json, sha256_of_file
from governance_assets.core.model import training
from governance_assets.core.model.external_model import ScoreRule

from .conftest import (
    check_results,
    declare_vendor_score,
    make_project,
    materialized,
    params_of,
    run_graph,
    set_params,
)

TREE_TYPE = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"


def _rates_by_hand(rows: pd.DataFrame, favourable: np.ndarray, feature: str) -> dict:
    """Selection rate, TPR and FPR per group, straight from the judged rows."""
    truth = rows[FAVOURABLE].to_numpy() == 1
    rates = {}
    for group in sorted(rows[feature].unique()):
        mine = (rows[feature] == group).to_numpy()
        rates[group] = {"selection_rate": favourable[mine].mean(),
                        "true_positive_rate": favourable[mine & truth].mean(),
                        "false_positive_rate": favourable[mine & ~truth].mean()}
    return rates


def _assert_fairness_matches(root, favourable: np.ndarray, rows: pd.DataFrame) -> None:
    fairness = read_json(root / "reports/fairness.json")
    for feature in ("sex", "age_band"):
        for group, expected in _rates_by_hand(rows, favourable, feature).items():
            reported = fairness["features"][feature]["groups"][group]
            for rate, value in expected.items():
                assert reported[rate] == pytest.approx(value, abs=1e-6), (feature, group, rate)


def _filtered_rows(root) -> pd.DataFrame:
    """Every row that passed the dataset's filters: what an audit judges (audit.rows: all)."""
    return pd.read_parquet(root / "data/prepared/validated.parquet")


def _audit_table(rows: pd.DataFrame, flagged: pd.Series, feature: str) -> pd.DataFrame:
    """The per-group table a published audit gives, in plain pandas: the adverse outcome
    (unfavourable label) is the positive class, a flag is an unfavourable decision."""
    frame = pd.DataFrame({"group": rows[feature].astype(str), "flagged": flagged,
                          "adverse": rows[FAVOURABLE] == 0})
    table = {}
    for group, part in frame.groupby("group"):
        adverse, good, flag = part["adverse"], ~part["adverse"], part["flagged"]
        table[group] = {
            "count": len(part),
            "flagged_rate": flag.mean(),
            "false_positive_rate": flag[good].mean(),     # flagged, yet did not default
            "false_negative_rate": (~flag[adverse]).mean(),
            "true_positive_rate": flag[adverse].mean(),
            "precision": adverse[flag].mean(),
            # the project's own orientation, from the same rows
            "selection_rate": (~flag).mean(),
            "fav_true_positive_rate": (~flag[good]).mean(),
            "fav_false_positive_rate": (~flag[adverse]).mean(),
        }
    return pd.DataFrame(table).T


def test_score_rule_decides_exactly_by_its_rule_and_keeps_the_score_order():
    scores = np.array([1.0, 4.0, 4.999, 5.0, 5.001, 9.0])
    rule = ScoreRule("<", 5.0, decision_threshold=0.4).fit(scores.reshape(-1, 1))
    favourable = rule.predict_proba(scores.reshape(-1, 1))[:, 1]
    assert rule.predict(scores.reshape(-1, 1)).tolist() == [1, 1, 1, 0, 0, 0]
    assert (np.diff(favourable) < 0).all()          # lower score, more favourable
    assert ((favourable >= 0.4) == (scores < 5.0)).all()


def synthetic_vendor_score(raw: pd.DataFrame) -> np.ndarray:
    """A vendor risk score 0-10 (higher = riskier) from loan duration and amount and seeded
    noise; "high risk" = score >= 5."""
    noise = np.random.default_rng(19).normal(0, 1.5, len(raw))
    return np.clip(raw["duration_in_month"].astype(int) / 8
                   + raw["credit_amount"].astype(int) / 4000 + noise, 0, 10).round(3)


def test_a_score_column_is_audited_on_every_row_with_a_pandas_audit_table(tmp_path, instance):
    root = make_project(tmp_path)
    declare_vendor_score(root, synthetic_vendor_score, "vendor risk tool v1 (test)",
                         datasets__german_credit__reference_decisions=None)
    result = run_graph(root, instance)
    checks = check_results(result)
    for gate in ("feasible_trial", "carbon_budget", "perturbation_flips",
                 "perturbation_auc_drop"):
        assert checks[gate].metadata["outcome"].value == "not_applicable", gate
        assert checks[gate].metadata["blocks_promotion"].value is False
        assert "not applicable" in checks[gate].description
    assert "no search ran" in checks["feasible_trial"].description
    assert {"performance_report", "fairness_report", "model_card",
            "promotion_decision"} <= materialized(result)

    rows = _filtered_rows(root)
    assert len(rows) == 1000
    flagged = rows["vendor_risk_score"] >= 5
    _assert_fairness_matches(root, (~flagged).to_numpy(), rows)
    fairness = read_json(root / "reports/fairness.json")
    assert set(fairness["orientations"]) == {"favourable_outcome", "adverse_outcome"}
    for feature in ("sex", "age_band"):
        groups = fairness["features"][feature]["groups"]
        assert sum(g["count"] for g in groups.values()) == len(rows)   # every filtered row
        table = _audit_table(rows, flagged, feature)
        for group, expected in table.iterrows():
            mine, adverse = groups[group], groups[group]["adverse_outcome"]
            assert mine["count"] == expected["count"]
            for rate in ("flagged_rate", "false_positive_rate", "false_negative_rate",
                         "true_positive_rate", "precision"):
                assert adverse[rate] == pytest.approx(expected[rate], abs=1e-9), (group, rate)
            assert mine["selection_rate"] == pytest.approx(expected["selection_rate"], abs=1e-9)
            assert mine["true_positive_rate"] == pytest.approx(
                expected["fav_true_positive_rate"], abs=1e-9)
            assert mine["false_positive_rate"] == pytest.approx(
                expected["fav_false_positive_rate"], abs=1e-9)
            # The two orientations are the same counts read two ways.
            assert adverse["false_positive_rate"] == pytest.approx(
                1 - mine["true_positive_rate"], abs=1e-9)
            assert adverse["false_negative_rate"] == pytest.approx(
                mine["false_positive_rate"], abs=1e-9)
            assert adverse["true_positive_rate"] == pytest.approx(
                1 - mine["false_positive_rate"], abs=1e-9)
            assert adverse["flagged_rate"] == pytest.approx(1 - mine["selection_rate"],
                                                            abs=1e-9)
    for report in ("performance", "fairness", "explanation", "robustness"):
        judged = read_json(root / f"reports/{report}.json")["evaluation_rows"]
        assert judged["rows"] == len(rows) and judged["which"] == "all", report
    card = read_json(root / "reports/model_card.json")
    assert card["model_origin"]["kind"] == "scores"
    assert card["performance"]["evaluation_rows"]["rows"] == len(rows)
    assert card["search"]["trials"] == []
    assert "incurred elsewhere" in card["carbon"]["note"]
    text = (root / "reports/model_card.md").read_text()
    assert "**Not trained here.**" in text
    assert "Judged on 1,000 rows" in text and "adverse outcome as positive" in text

    set_params(root, audit__rows="golden")
    run_graph(root, instance)
    golden = pd.read_parquet(root / "data/prepared/splits/golden_test.parquet")
    assert read_json(root / "reports/fairness.json")["evaluation_rows"]["rows"] == len(golden)
    _assert_fairness_matches(root, (golden["vendor_risk_score"] < 5).to_numpy(), golden)


def vendor_model(root):
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
    model, path = vendor_model(root)
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
    rows = _filtered_rows(root)
    favourable = model.predict_proba(rows[params_of(root).active.model_features])[:, 1] >= 0.5
    _assert_fairness_matches(root, favourable, rows)
    card = read_json(root / "reports/model_card.json")
    assert card["model_origin"]["kind"] == "model_file"
    assert card["model_origin"]["sha256"] == sha256_of_file(path)
