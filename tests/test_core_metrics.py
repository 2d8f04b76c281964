"""Splits, fairness, drift and performance computed by the real libraries on known inputs."""

import numpy as np
import pandas as pd
import pytest

from governance_assets.core.data.columns import ROW_ID
from governance_assets.core.data.raw_files import read_raw
from governance_assets.core.data.splits import golden_overlap, split_dataset
from governance_assets.core.data.validation import validate
from governance_assets.core.evidence import drift, fairness, performance

from .conftest import GERMAN, make_project, params_of


@pytest.fixture
def params(tmp_path):
    return params_of(make_project(tmp_path))


@pytest.fixture
def german_frame(params):
    frame, _ = validate(read_raw(GERMAN), params.active, params.policy, "german_credit.csv")
    return frame


def test_splits_are_seeded_stratified_and_disjoint(params, german_frame):
    first = split_dataset(german_frame, params.active, params.split)
    again = split_dataset(german_frame, params.active, params.split)
    assert {k: len(v) for k, v in first.frames.items()} == {
        "train": 600, "validation": 200, "golden_test": 200, "current": 200}
    golden_ids = first.frames["golden_test"][ROW_ID].tolist()
    assert golden_ids == again.frames["golden_test"][ROW_ID].tolist()
    assert golden_overlap(first.frames, params.active) == {"by_row_id": 0, "by_content": 0}
    assert first.current_is_simulated
    young = [f["age_band"].eq("under_25").mean() for f in first.frames.values()]
    assert max(young) - min(young) < 0.02, "stratified by sensitive groups"


def test_duplicate_rows_never_straddle_the_golden_split(params, german_frame):
    duplicated = pd.concat([german_frame, german_frame.head(300)], ignore_index=True)
    duplicated[ROW_ID] = np.arange(len(duplicated))
    splits = split_dataset(duplicated, params.active, params.split)
    assert golden_overlap(splits.frames, params.active)["by_content"] == 0


def test_overlap_detects_a_leaked_row(params, german_frame):
    splits = split_dataset(german_frame, params.active, params.split)
    leaked = dict(splits.frames)
    leaked["train"] = pd.concat([splits.frames["train"], splits.frames["golden_test"].head(3)])
    assert golden_overlap(leaked, params.active) == {"by_row_id": 3, "by_content": 3}


def test_fairness_matches_hand_computed_rates():
    groups = pd.Series(["a"] * 50 + ["b"] * 50 + ["c"] * 5)
    y = pd.Series([1, 0] * 25 + [1, 0] * 25 + [1] * 5)
    predicted = pd.Series([1] * 40 + [0] * 10 + [1] * 20 + [0] * 30 + [1] * 5)
    result = fairness.feature_fairness(y, predicted, groups, min_group_size=20)
    assert result["reference_group"] == "a"
    assert result["groups"]["a"]["selection_rate"] == pytest.approx(0.8)
    assert result["groups"]["b"]["disparate_impact_ratio"] == pytest.approx(0.4 / 0.8)
    assert result["disparate_impact_ratio_min"] == pytest.approx(0.5)
    assert result["demographic_parity_difference"] == pytest.approx(0.4)
    assert result["insufficient_groups"] == ["c"], "small group reported, kept out of ratios"
    assert result["groups"]["c"]["count"] == 5 and result["groups"]["c"]["sufficient"] is False


def test_psi_separates_shifted_from_stable(params, tmp_path):
    rng = np.random.default_rng(0)
    spec = params.active
    reference = pd.DataFrame({c: rng.normal(100, 10, 800) for c in spec.numeric_columns})
    for column in spec.categorical_columns:
        reference[column] = rng.choice(["x", "y", "z"], 800)
    stable = reference.sample(400, random_state=1).reset_index(drop=True)
    shifted = stable.copy()
    shifted["credit_amount"] = shifted["credit_amount"] + 25
    calm = drift.drift_report(reference, stable, spec, 0.25, 0.5, tmp_path / "a.html")
    moved = drift.drift_report(reference, shifted, spec, 0.25, 0.5, tmp_path / "b.html")
    assert calm["max_psi"] < 0.1 and calm["drifted_features"] == []
    assert moved["drifted_features"] == ["credit_amount"] and moved["psi"]["credit_amount"] > 1
    assert (tmp_path / "b.html").stat().st_size > 10_000


def test_paired_regression_sign_and_golden_metric_intervals():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    good = np.clip(y * 0.6 + rng.normal(0.2, 0.2, 400), 0, 1)
    noise = rng.uniform(0, 1, 400)
    regression = performance.paired_auc_regression(y, noise, good, rounds=100, seed=0)
    assert regression["mean"] > 0.3 and regression["ci95"][0] > 0.2
    metrics = performance.golden_metrics(y, good, 0.5, rounds=100, seed=0)
    low, high = metrics["auc"]["ci95"]
    assert low <= metrics["auc"]["value"] <= high and metrics["auc"]["value"] > 0.9


def test_bootstrap_without_per_call_validation_gives_scikit_learns_own_figures():
    """golden_metrics skips scikit-learn's per-call validation for speed; every value and
    interval must equal the plainly validated computation on the same resamples."""
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 150)
    probability = np.clip(y * 0.3 + rng.uniform(0, 0.7, 150), 0, 1)
    predicted = (probability >= 0.5).astype(int)
    fast = performance.golden_metrics(y, probability, 0.5, rounds=60, seed=1)
    draws = [row for block in performance._bootstrap_blocks(len(y), 60, 1, y) for row in block]
    for name, metric in performance.METRICS.items():
        samples = [metric(y[i], probability[i], predicted[i]) for i in draws]
        expected = [round(float(v), 6) for v in np.percentile(samples, [2.5, 97.5])]
        assert fast[name]["ci95"] == expected, name
        assert fast[name]["value"] == round(float(metric(y, probability, predicted)), 6), name


def test_resampled_auc_counts_equal_rank_sums_exactly_and_scikit_learn_on_tied_scores():
    """The bootstrap AUC counts each resample's positives and negatives per distinct score
    (ranked once). Mutations killed: ties counted whole instead of half, negatives below
    counted inclusively, a resample's counts taken from another resample."""
    from scipy.stats import rankdata
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 500)
    scores = np.round(np.clip(y * 0.2 + rng.uniform(0, 0.8, 500), 0, 1), 1)  # 11 levels: ties
    index = np.vstack(list(performance._bootstrap_blocks(500, 40, 2, y)))
    counted = performance.resampled_auc(y, scores, index)
    labels = y[index].astype(float)
    ranks = rankdata(scores[index], axis=1)
    positives = labels.sum(axis=1)
    rank_sums = ((ranks * labels).sum(axis=1) - positives * (positives + 1) / 2) / (
        positives * (labels.shape[1] - positives))
    assert np.array_equal(counted, rank_sums)
    assert counted == pytest.approx([roc_auc_score(y[row], scores[row]) for row in index],
                                    abs=1e-12)
