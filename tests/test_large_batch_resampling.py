"""Resampling a million-row batch by counts instead of by rows: the same statistics.

A production batch of millions of rows cannot be resampled row by row 2,000 times (fairness
interval) or 200 times (drift and AUC noise floors). Above a size, each resample is drawn as
counts (core/evidence/fairness.py, drift.py, core/monitor/monitoring.py): the same
distribution. These tests hold the counts paths to the row paths they replace, and the
weighted AUC to scikit-learn's, exactly where it can be exact.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from governance_assets.core.evidence import drift, fairness
from governance_assets.core.monitor import monitoring


def test_the_weighted_auc_is_scikit_learns_auc_with_sample_weights():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 3000)
    score = np.round(rng.random(3000) + 0.3 * y, 2)   # rounded: many ties
    times = rng.multinomial(9000, np.full(3000, 1 / 3000)).astype(float)
    assert monitoring.weighted_auc(y, score, times) == pytest.approx(
        roc_auc_score(y, score, sample_weight=times), abs=1e-12)
    assert monitoring.weighted_auc(y, score, np.ones(3000)) == pytest.approx(
        roc_auc_score(y, score), abs=1e-12)
    assert monitoring.weighted_auc(np.ones(5, int), score[:5], np.ones(5)) is None


def _reference(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, rows)
    return pd.DataFrame({monitoring.FAVOURABLE: y,
                         monitoring.SCORE: np.clip(rng.normal(0.4 + 0.2 * y, 0.2), 0, 1),
                         "amount": rng.lognormal(8, 1, rows).round(),
                         "purpose": rng.choice(list("abcdefgh"), rows, p=[.3, .2, .15, .1, .1,
                                                                          .1, .04, .01])})


def test_the_auc_floor_by_multiplicities_matches_the_floor_by_rows():
    reference = _reference(2000, 1)
    rows = 1999      # the last size resampled by rows, beside the first by counts
    by_rows = monitoring.auc_drop_noise_floor(reference, rows, seed=3)
    by_counts = monitoring.auc_drop_noise_floor(reference, rows + 2, seed=3)
    assert by_counts == pytest.approx(by_rows, rel=0.2)
    assert monitoring.auc_drop_noise_floor(reference, 1_000_000, seed=3) < by_rows / 10, \
        "a million rows leave almost no room for chance"


def test_drift_floors_by_multiplicities_match_floors_by_rows(monkeypatch):
    reference = _reference(1500, 2)
    columns = {"amount": True, "purpose": False}
    by_counts, _ = drift.noise_floors(reference, columns, 6000, seed=4)
    by_rows_draw = drift._drawn_rows

    def by_row_numbers(rng, population, draws):
        rows = rng.integers(0, population, draws)
        return lambda index, bins: np.bincount(index[rows], minlength=bins)

    monkeypatch.setattr(drift, "_drawn_rows", by_row_numbers)
    by_rows, _ = drift.noise_floors(reference, columns, 6000, seed=4)
    monkeypatch.setattr(drift, "_drawn_rows", by_rows_draw)
    for column in columns:
        assert by_counts[column] == pytest.approx(by_rows[column], rel=0.2), column


def test_fairness_intervals_by_cell_counts_match_intervals_by_rows(monkeypatch):
    rng = np.random.default_rng(5)
    rows = fairness.COUNTS_BOOTSTRAP_ROWS + 20_000
    groups = pd.Series(rng.choice(["a", "b", "c"], rows, p=[0.6, 0.3, 0.1]))
    predicted = pd.Series((rng.random(rows) < groups.map({"a": 0.5, "b": 0.4, "c": 0.3}))
                          .astype(int))
    settings = fairness.FairnessSettings(min_group_size=30, bootstrap_rounds=300, seed=7)
    by_counts = fairness.feature_fairness(predicted, predicted, groups, 30, 1, settings)
    monkeypatch.setattr(fairness, "COUNTS_BOOTSTRAP_ROWS", 10**9)
    by_rows = fairness.feature_fairness(predicted, predicted, groups, 30, 1, settings)
    key = "disparate_impact_ratio_min"
    assert by_counts[key] == by_rows[key], "the point estimate does not resample"
    low, high = by_rows["intervals"]["summaries"][key]["ci"]
    for bound, expected in zip(by_counts["intervals"]["summaries"][key]["ci"], (low, high),
                               strict=True):
        assert bound == pytest.approx(expected, abs=0.25 * (high - low))
