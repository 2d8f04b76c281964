"""The gate's PSI against a small independent implementation, and its noise floor."""

import math

import numpy as np
import pandas as pd
import pytest

from governance_assets.core.evidence import drift

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
    from governance_assets.core.decide.data_gates import drift_psi, drifted_share

    policy = params_of(make_project(tmp_path)).policy
    report = {"max_psi": 0.3, "max_psi_feature": "age", "max_psi_noise_floor": 0.12,
              "psi_noise_floor": {"age": 0.04}, "drifted_features": ["age"],
              "drifted_share": 0.5}
    verdict = drift_psi(report, policy, "drift.json")
    assert verdict.outcome == "fail"
    assert verdict.message.endswith("(feature: age; noise floor at this batch size 0.04; "
                                    "largest-feature noise floor 0.12)")
    assert "age; noise floor at this batch size 0.04" in drifted_share(report, policy, "d").message


def test_noise_floor_is_the_95th_percentile_of_the_two_sample_null():
    """Both the reference and the batch are samples of one distribution: the floor computed
    from one reference must sit at the 95th percentile of the PSI of fresh pairs drawn from
    that distribution. Resampling only the batch against the whole reference gave 0.73-0.82
    of it on x, c, h and half of it on the 438-value z; without the categories the reference
    never saw, z's floor is about two thirds of it."""
    rng = np.random.default_rng(20)
    reference_rows, batch_rows = 800, 200
    many = [f"k{i}" for i in range(40)]
    weights = 1 / np.arange(1, 41)
    # 438 values, Zipf-like: most of them seen once or never in 800 rows
    values, zipf = [f"v{i}" for i in range(438)], 1 / np.arange(1, 439)

    def draw(rows: int) -> pd.DataFrame:
        return pd.DataFrame({"x": rng.normal(0, 1, rows),
                             "c": rng.choice(list("pqrs"), rows, p=[0.4, 0.3, 0.2, 0.1]),
                             "h": rng.choice(many, rows, p=weights / weights.sum()),
                             "z": rng.choice(values, rows, p=zipf / zipf.sum())})

    columns = {"x": True, "c": False, "h": False, "z": False}
    null = np.array([[drift.psi(reference[c], batch[c], numeric)
                      for c, numeric in columns.items()]
                     for reference, batch in ((draw(reference_rows), draw(batch_rows))
                                              for _ in range(1000))])
    target = np.quantile(null, 0.95, axis=0)
    floors = np.array([list(drift.noise_floors(draw(reference_rows), columns, batch_rows,
                                               seed)[0].values()) for seed in range(4)])
    ratio = floors.mean(axis=0) / target
    assert np.all((ratio > 0.88) & (ratio < 1.12)), ratio
    level = [(null[:, j] <= floors[:, j].mean()).mean() for j in range(len(columns))]
    # the 438-value column's null is narrow: 5 % low on the value is 15 points on the level
    assert min(level[:3]) > 0.92 and max(level) < 0.985 and level[3] > 0.75, level


def many_category_frames(tmp_path, rows: int, batch_rows: int, seed: int):
    """A German credit spec whose `purpose` has 300 equally likely values; the batch is a
    fresh draw from the same distribution: no drift, yet a large PSI."""
    rng = np.random.default_rng(seed)
    spec = params_of(make_project(tmp_path)).active
    columns = spec.numeric_columns + spec.categorical_columns

    def draw(n: int) -> pd.DataFrame:
        frame = pd.DataFrame({c: rng.normal(100, 10, n) for c in spec.numeric_columns})
        for column in spec.categorical_columns:
            frame[column] = rng.choice(["x", "y", "z"], n)
        frame["purpose"] = rng.choice([f"p{i:03d}" for i in range(300)], n)
        return frame[columns]
    return spec, draw(rows), draw(batch_rows)


def test_a_many_category_column_within_its_noise_floor_is_not_drift(tmp_path):
    from governance_assets.core.decide.data_gates import drift_psi, drifted_share

    spec, reference, batch = many_category_frames(tmp_path, 1000, 200, 5)
    report = drift.drift_report(reference, batch, spec, 0.25, 0.2, tmp_path / "d.html")
    assert report["max_psi_feature"] == "purpose" and report["max_psi"] > 0.25
    assert report["psi"]["purpose"] <= report["psi_noise_floor"]["purpose"]
    assert "purpose" not in report["drifted_features"]
    assert report["above_max_psi_within_noise_floor"] == ["purpose"]
    assert report["max_psi_above_noise_floor_feature"] != "purpose"
    policy = params_of(tmp_path).policy.model_copy(update={"max_psi": 0.25,
                                                           "max_drifted_share": 0.2})
    verdict = drift_psi(report, policy, "drift.json")
    assert verdict.outcome == "pass", verdict.message
    assert f"largest PSI {report['max_psi']:.3g} on purpose is within its noise floor" \
        in verdict.message
    share = drifted_share(report, policy, "drift.json")
    assert share.passed and "within the noise floor, not counted: purpose" in share.message


def test_a_simulated_current_batch_never_blocks_on_drift(tmp_path):
    from governance_assets.core.decide import verdicts
    from governance_assets.core.decide.data_gates import drift_psi, drifted_share
    from governance_assets.core.decide.gate_catalog import GATES

    policy = params_of(make_project(tmp_path)).policy.model_copy(
        update={"max_psi": 0.25, "max_drifted_share": 0.2})
    report = {"psi": {"age": 0.4, "job": 0.01}, "psi_noise_floor": {"age": 0.1, "job": 0.05},
              "max_psi": 0.4, "max_psi_feature": "age", "max_psi_noise_floor": 0.12,
              "max_psi_above_noise_floor": 0.4, "max_psi_above_noise_floor_feature": "age",
              "drifted_features": ["age"], "above_max_psi_within_noise_floor": [],
              "drifted_share": 0.5}
    specs = {g.name: g for g in GATES}
    for gate in (drift_psi, drifted_share):
        real = gate({**report, "simulated": False}, policy, "drift.json")
        assert real.outcome == "fail" and real.blocks
        simulated = gate({**report, "simulated": True}, policy, "drift.json")
        assert simulated.outcome == "insufficient_evidence" and not simulated.blocks
        assert "current batch is simulated" in simulated.message
        assert simulated.value == real.value   # still measured and reported
        # the promotion guard reads the recorded verdict: it lets this one through
        standing = verdicts.Standing(specs[simulated.gate], verdicts.CURRENT,
                                     {"verdict": simulated.to_dict()}, None, "")
        assert specs[simulated.gate].blocking and not standing.blocks
        assert verdicts.Standing(specs[real.gate], verdicts.CURRENT,
                                 {"verdict": real.to_dict()}, None, "").blocks
