"""The gate's PSI against a small independent implementation, and its noise floor."""

import math

import numpy as np
import pandas as pd
import pytest

from governance_assets.core import drift

from .conftest import make_project, params_of


def reference_psi(expected: list, actual: list, numeric: bool) -> float:
    """Written from the definition, with loops: decile edges of the expected sample, bins
    (-inf, e1], (e1, e2], ... (ek, inf); one bin per expected category plus 'unseen'."""
    if numeric:
        ordered = sorted(expected)
        edges = []
        for q in [i / 10 for i in range(1, 10)]:
            position = q * (len(ordered) - 1)  # linear interpolation, as numpy's default
            low = math.floor(position)
            high = min(low + 1, len(ordered) - 1)
            edge = ordered[low] + (ordered[high] - ordered[low]) * (position - low)
            if edge not in edges:
                edges.append(edge)

        def which(x):
            return next((i for i, e in enumerate(edges) if x <= e), len(edges))
        bins = len(edges) + 1
    else:
        categories = sorted(set(expected))

        def which(x):
            return categories.index(x) if x in categories else len(categories)
        bins = len(categories) + 1
    total = 0.0
    for b in range(bins):
        e = max(sum(which(x) == b for x in expected) / len(expected), 0.0001)
        a = max(sum(which(x) == b for x in actual) / len(actual), 0.0001)
        total += (a - e) * math.log(a / e)
    return total


def test_numeric_psi_matches_the_independent_implementation():
    rng = np.random.default_rng(1)
    expected = rng.lognormal(7, 1, 500).round()
    actual = np.concatenate([rng.lognormal(7.3, 1.2, 180), [1e7, 0.0]])
    ours = drift.psi(pd.Series(expected), pd.Series(actual), numeric=True)
    assert ours == pytest.approx(reference_psi(list(expected), list(actual), True), rel=1e-9)
    assert ours > 0.05


def test_few_valued_numeric_and_categorical_with_unseen_match():
    rng = np.random.default_rng(2)
    expected = rng.integers(1, 5, 300).astype(float)  # ties collapse the deciles
    actual = rng.integers(1, 6, 120).astype(float)    # 5 lies in the open upper bin
    assert drift.psi(pd.Series(expected), pd.Series(actual), True) == pytest.approx(
        reference_psi(list(expected), list(actual), True), rel=1e-9)
    cats = list(rng.choice(["A11", "A12", "A13"], 400))
    now = list(rng.choice(["A11", "A12", "A14"], 150))  # A14 unseen, A13 now empty
    ours = drift.psi(pd.Series(cats), pd.Series(now), False)
    assert ours == pytest.approx(reference_psi(cats, now, False), rel=1e-9)
    assert ours > 1, "a third of the batch in a category the reference never had"


def test_edges_come_from_the_reference_only():
    reference = pd.Series(np.arange(100, dtype=float))
    shifted = reference + 1000
    # equal-width bins over both samples would give each half its own bins; deciles of the
    # reference put the whole shifted batch into the open top bin
    expected = (1 - 0.1) * math.log(1 / 0.1) + 9 * (0.0001 - 0.1) * math.log(0.0001 / 0.1)
    assert drift.psi(reference, shifted, True) == pytest.approx(expected, rel=1e-3)


def test_noise_floor_shrinks_with_batch_size_and_flags_real_shift(tmp_path):
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 2000), "c": rng.choice(list("pqr"), 2000)})
    small, _ = drift.noise_floors(reference, {"x": True, "c": False}, 100)
    large, _ = drift.noise_floors(reference, {"x": True, "c": False}, 1000)
    assert small["x"] > 2 * large["x"] and small["x"] < 0.25
    spec = params_of(make_project(tmp_path)).active
    columns = spec.numeric_columns + spec.categorical_columns
    frame = pd.DataFrame({c: rng.normal(100, 10, 1000) for c in spec.numeric_columns})
    for column in spec.categorical_columns:
        frame[column] = rng.choice(["x", "y", "z"], 1000)
    batch = frame.sample(200, random_state=4).reset_index(drop=True)
    batch["credit_amount"] += 15
    report = drift.drift_report(frame[columns], batch, spec, 0.25, 0.5, tmp_path / "d.html")
    assert report["max_psi_feature"] == "credit_amount" and report["max_psi"] > 0.25
    assert report["above_noise_floor"] == ["credit_amount"]
    assert report["psi_noise_floor"]["credit_amount"] < 0.25
    assert "Which PSI the gate used" in (tmp_path / "d.html").read_text()


def test_drift_gates_show_the_noise_floor(tmp_path):
    from governance_assets.core.gates import drift_psi, drifted_share

    policy = params_of(make_project(tmp_path)).policy
    report = {"max_psi": 0.3, "max_psi_feature": "age", "max_psi_noise_floor": 0.12,
              "psi_noise_floor": {"age": 0.04}, "drifted_features": ["age"],
              "drifted_share": 0.5}
    verdict = drift_psi(report, policy, "drift.json")
    assert verdict.outcome == "fail"
    assert verdict.message.endswith("(feature: age; noise floor at this batch size 0.04; "
                                    "largest-feature noise floor 0.12)")
    assert "age; noise floor at this batch size 0.04" in drifted_share(report, policy, "d").message
