"""The batch's drift counted by SQL over its Parquet file (core/monitor/batch_sql.py) equals
the numpy counting the drift gate uses, bin for bin, and the whole monitoring report built on
it equals the in-memory one to 1e-9, on seeded batches of the bundled German credit rows:
plain resamples, shifted numbers, unseen categories, values exactly on a decile edge, NaN.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from governance_assets.core.data import raw_files, validation
from governance_assets.core.evidence import drift
from governance_assets.core.monitor import batch_fairness, batch_sql, monitoring
from governance_assets.core.params import load_params

from .conftest import GERMAN, REPO

PARAMS = load_params(REPO)
SPEC = PARAMS.active
FEATURES = list(SPEC.model_features)
COLUMNS = monitoring.feature_columns(SPEC, FEATURES)
BATCHES = 8


def _typed_rows() -> pd.DataFrame:
    frame, report = validation.validate(raw_files.read_raw(GERMAN), SPEC, PARAMS.policy,
                                        "german_credit.csv")
    assert frame is not None, report.findings
    return frame.reset_index(drop=True)


ROWS = _typed_rows()
REFERENCE_ROWS = ROWS.iloc[:700].reset_index(drop=True)


def _scored(frame: pd.DataFrame, model) -> pd.DataFrame:
    scored = frame.copy()
    scored[monitoring.SCORE] = model.predict_proba(_numbers(frame))[:, 1]
    scored["decision"] = np.where(scored[monitoring.SCORE] >= 0.5, "favourable", "unfavourable")
    return scored


def _numbers(frame: pd.DataFrame) -> np.ndarray:
    return np.nan_to_num(frame[[c for c, numeric in COLUMNS.items() if numeric]].to_numpy(float))


MODEL = LogisticRegression(max_iter=2000).fit(
    _numbers(REFERENCE_ROWS), REFERENCE_ROWS[monitoring.FAVOURABLE].astype(int))
REFERENCE = _scored(REFERENCE_ROWS, MODEL)


def _batch(seed: int) -> pd.DataFrame:
    """400 rows of the held-out 300 (with replacement), disturbed by the seed's variant."""
    rng = np.random.default_rng(seed)
    batch = ROWS.iloc[700:].sample(400, replace=True, random_state=seed).reset_index(drop=True)
    numeric = [c for c, is_numeric in COLUMNS.items() if is_numeric]
    categorical = [c for c, is_numeric in COLUMNS.items() if not is_numeric]
    variant = seed % 4
    if variant == 1:   # shifted numbers
        column = numeric[seed % len(numeric)]
        batch[column] = batch[column] * 1.5
    elif variant == 2:  # categories the reference never saw
        column = categorical[seed % len(categorical)]
        batch[column] = batch[column].astype(object)
        batch.loc[rng.choice(400, 40, replace=False), column] = "NEW"
    elif variant == 3:  # values exactly on a reference decile edge, and a NaN
        column = numeric[seed % len(numeric)]
        edges = drift.numeric_edges(REFERENCE[column])
        batch[column] = batch[column].astype(float)
        batch.loc[rng.choice(400, 60, replace=False), column] = rng.choice(edges, 60)
        batch.loc[0, column] = np.nan
    return _scored(batch, MODEL)


@pytest.fixture(scope="module")
def batch_files(tmp_path_factory) -> list[tuple[pd.DataFrame, object]]:
    folder = tmp_path_factory.mktemp("batches")
    batches = []
    for seed in range(BATCHES):
        frame = _batch(seed)
        path = folder / f"simulated-{seed:03d}.parquet"
        frame.to_parquet(path, index=False)
        batches.append((frame, path))
    return batches


def test_sql_bin_counts_equal_numpys_for_every_feature_of_every_batch(batch_files):
    edge_hits = 0
    with batch_sql.connect() as connection:
        for frame, path in batch_files:
            for column, numeric in COLUMNS.items():
                expected = drift.bin_counts(frame[column], REFERENCE[column], numeric)
                counted = batch_sql.bin_counts(connection, path, column, REFERENCE[column],
                                               numeric)
                assert counted.tolist() == expected.tolist(), (path.name, column)
                if numeric:
                    edge_hits += int(frame[column].isin(drift.numeric_edges(
                        REFERENCE[column])).sum())
    assert edge_hits > 100, "the batches must put values on the edges, where > and >= differ"


def test_the_report_from_sql_counts_equals_the_in_memory_one_to_1e_9(batch_files):
    baseline = {"auc": 0.75, "disparate_impact": {a: 0.9 for a in SPEC.sensitive_features},
                "decision_threshold": 0.5}
    fairness = batch_fairness.settings(PARAMS.policy, PARAMS.fairness, PARAMS.split.seed)
    drifted = 0
    for frame, path in batch_files:
        feature_psi = batch_sql.feature_psi(path, REFERENCE, COLUMNS)
        judged = frame.drop(columns=FEATURES)
        arguments = (SPEC, FEATURES, frame["decision"], baseline, PARAMS.monitoring, fairness,
                     PARAMS.split.seed)
        from_sql = monitoring.monitor(REFERENCE, judged, *arguments, feature_psi=feature_psi)
        in_memory = monitoring.monitor(REFERENCE, frame, *arguments)
        _assert_close(from_sql, in_memory, path.name)
        drifted += in_memory["levels"]["feature_psi"] != "OK"
    assert drifted >= 2, "some batches must drift, or equal reports prove little"


def _assert_close(left, right, where: str) -> None:
    if isinstance(left, dict):
        assert left.keys() == right.keys(), where
        for key in left:
            _assert_close(left[key], right[key], f"{where}.{key}")
    elif isinstance(left, list):
        assert len(left) == len(right), where
        for number, (a, b) in enumerate(zip(left, right, strict=True)):
            _assert_close(a, b, f"{where}[{number}]")
    elif isinstance(left, float) and isinstance(right, float):
        assert left == pytest.approx(right, abs=1e-9, nan_ok=True), where
    else:
        assert left == right, where
