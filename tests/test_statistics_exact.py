"""Statistics held to exact values from independent computations, not only to their shape.

Each test here pins a figure that a plausible slip would move while every looser assertion
still held: the Holm correction of the slice scan (statsmodels), a disparate impact ratio of
exactly the four-fifths threshold, the percentiles of the fairness bootstrap (recomputed from
the same resamples with pandas) and the bias correction of Cramér's V (Bergsma 2013, written
from the formula; scipy gives the uncorrected V).
"""

from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom
from scipy.stats.contingency import association

from governance_assets.core.decide import data_gates, fairness_gates, model_gates
from governance_assets.core.evidence import fairness, proxies, robustness
from governance_assets.core.params import load_params

from .conftest import REPO


@pytest.fixture(scope="module")
def policy():
    return load_params(REPO).policy


# --- slice scan: Holm over every slice tested ---

# Six cells of 60 rows; correct decisions per cell. a=z is weak, a=z & b=p weaker still.
SLICE_CELLS = {("x", "p"): 54, ("x", "q"): 52, ("y", "p"): 44, ("y", "q"): 46,
               ("z", "p"): 38, ("z", "q"): 45}


def slice_data() -> tuple[pd.DataFrame, np.ndarray]:
    a, b, correct = [], [], []
    for (first, second), hits in SLICE_CELLS.items():
        a += [first] * 60
        b += [second] * 60
        correct += [True] * hits + [False] * (60 - hits)
    return pd.DataFrame({"a": a, "b": b}), np.array(correct)


def independent_slices(labels: pd.DataFrame, correct: np.ndarray, floor: float,
                       min_rows: int) -> pd.DataFrame:
    """Every single and pair slice by pandas groupby; raw one-sided binomial p; statsmodels'
    Holm over all of them."""
    from statsmodels.stats.multitest import multipletests

    frame = labels.assign(correct=correct)
    rows = []
    for group in [(c,) for c in labels.columns] + list(combinations(labels.columns, 2)):
        for key, part in frame.groupby(list(group)):
            key = key if isinstance(key, tuple) else (key,)
            if len(part) >= min_rows:
                rows.append({"slice": " & ".join(f"{c}={v}" for c, v in zip(group, key,
                                                                            strict=True)),
                             "rows": len(part), "correct": int(part["correct"].sum())})
    table = pd.DataFrame(rows)
    table["p_value"] = binom.cdf(table["correct"], table["rows"], floor)
    table["p_adjusted"] = multipletests(table["p_value"], method="holm")[1]
    return table.set_index("slice")


def test_slice_scan_p_values_are_holm_adjusted_exactly():
    labels, correct = slice_data()
    floor, alpha = 0.8, 0.03
    scan = robustness.slice_scan(labels, correct, floor, 20, alpha)
    expected = independent_slices(labels, correct, floor, 20)
    assert scan["slices_tested"] == len(expected) == 11
    reported = {s["slice"]: s for s in scan["worst_slices"]}
    assert set(reported) == set(expected.index)  # 11 slices: all reported
    for name, row in expected.iterrows():
        assert reported[name]["p_value"] == pytest.approx(row["p_value"], abs=1e-6)
        assert reported[name]["p_adjusted"] == pytest.approx(row["p_adjusted"], abs=1e-6)
    # a=z: raw p 0.0032 < alpha, Holm 0.032 >= alpha; only a=z & b=p stays significant
    assert expected.loc["a=z", "p_value"] < alpha <= expected.loc["a=z", "p_adjusted"]
    assert [s["slice"] for s in scan["significant_slices"]] == ["a=z & b=p"]
    assert scan["slices_below_floor"] == 1


# --- four-fifths and every numeric gate: a value on the threshold passes ---

def fairness_at_exactly_four_fifths() -> dict:
    """Selection rates 0.4 (group f) and 0.5 (group m) over 100 rows each: DIR 0.8."""
    y = pd.Series([1, 0] * 100)
    predicted = pd.Series([1] * 40 + [0] * 60 + [1] * 50 + [0] * 50)
    groups = pd.Series(["f"] * 100 + ["m"] * 100)
    return {"features": {"sex": fairness.feature_fairness(y, predicted, groups, 20, 5)},
            "intersections": {}}


def test_a_disparate_impact_ratio_of_exactly_the_threshold_passes(policy):
    report = fairness_at_exactly_four_fifths()
    sex = report["features"]["sex"]
    assert sex["groups"]["f"]["selection_rate"] == 0.4
    assert sex["groups"]["m"]["selection_rate"] == 0.5
    assert sex["disparate_impact_ratio_min"] == 0.8
    at_threshold = policy.model_copy(update={"min_disparate_impact": 0.8,
                                             "max_disparate_impact": None,
                                             "straddling_interval": "decide_on_estimate"})
    verdict = fairness_gates.four_fifths(report, at_threshold, "fairness.json")
    assert verdict.outcome == "pass" and verdict.value == 0.8, verdict.message
    above = at_threshold.model_copy(update={"min_disparate_impact": 0.800001})
    assert fairness_gates.four_fifths(report, above, "fairness.json").outcome == "fail"


def test_an_upper_bound_fairness_gate_passes_on_its_threshold(policy):
    report = fairness_at_exactly_four_fifths()
    gap = report["features"]["sex"]["demographic_parity_difference"]
    assert gap == 0.1
    at_threshold = policy.model_copy(update={"max_demographic_parity_difference": 0.1})
    assert fairness_gates.demographic_parity(report, at_threshold, "f").outcome == "pass"


def test_a_bound_gate_passes_on_its_threshold(policy):
    """_bound, both directions: AUC equal to the floor, PSI equal to the ceiling."""
    floor = policy.model_copy(update={"min_auc": 0.75})
    performance = {"metrics": {"auc": {"value": 0.75, "ci95": [0.7, 0.8]}}}
    assert model_gates.performance_floor(performance, floor, "p.json").outcome == "pass"
    ceiling = policy.model_copy(update={"max_psi": 0.25})
    drift = {"max_psi": 0.25, "max_psi_feature": "age", "drifted_features": [],
             "drifted_share": 0.0}
    assert data_gates.drift_psi(drift, ceiling, "d.json").outcome == "pass"


# --- fairness bootstrap: percentiles at the configured confidence ---

def bootstrap_data() -> tuple[pd.Series, pd.Series, pd.Series]:
    rng = np.random.default_rng(11)
    n = 400
    groups = pd.Series(rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]))
    y = pd.Series((rng.random(n) < 0.6).astype(int))
    lift = groups.map({"a": 0.15, "b": 0.0, "c": -0.1}).to_numpy()
    predicted = pd.Series((rng.random(n) < 0.45 + lift + 0.2 * y).astype(int))
    return y, predicted, groups


def independent_resamples(y: pd.Series, predicted: pd.Series, groups: pd.Series, rounds: int,
                          seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The same row draws as the report (one integers() call of n per round, from a
    default_rng(seed)); per round, each group's selection rate and TPR by pandas, and the
    lowest disparate impact ratio vs the highest-rate group."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"y": y, "p": predicted, "g": groups})
    selection, tpr = [], []
    for _ in range(rounds):
        sample = frame.iloc[rng.integers(0, len(frame), len(frame))]
        selection.append(sample.groupby("g")["p"].mean())
        tpr.append(sample[sample["y"] == 1].groupby("g")["p"].mean())
    return pd.DataFrame(selection), pd.DataFrame(tpr)


@pytest.mark.parametrize("confidence", [0.95, 0.8])
def test_fairness_intervals_are_the_percentiles_of_the_resamples(confidence):
    y, predicted, groups = bootstrap_data()
    rounds, seed = 300, 7
    settings = fairness.FairnessSettings(20, 5, bootstrap_rounds=rounds, confidence=confidence,
                                         seed=seed)
    result = fairness.feature_fairness(y, predicted, groups, 20, 5, settings)
    intervals = result["intervals"]
    selection, tpr = independent_resamples(y, predicted, groups, rounds, seed)
    tails = [(1 - confidence) / 2 * 100, (1 - (1 - confidence) / 2) * 100]
    for group in ["a", "b", "c"]:
        expected = np.percentile(selection[group], tails)
        assert intervals["groups"][group]["selection_rate"] == pytest.approx(expected,
                                                                             abs=1e-6)
        expected = np.percentile(tpr[group], tails)
        assert intervals["groups"][group]["true_positive_rate"] == pytest.approx(expected,
                                                                                 abs=1e-6)
    ratio = selection.min(axis=1) / selection.max(axis=1)
    summary = intervals["summaries"]["disparate_impact_ratio_min"]
    assert summary["ci"] == pytest.approx(np.percentile(ratio, tails), abs=1e-6)
    assert summary["resamples"] == rounds
    gap = selection.max(axis=1) - selection.min(axis=1)
    assert intervals["summaries"]["demographic_parity_difference"]["ci"] == pytest.approx(
        np.percentile(gap, tails), abs=1e-6)
    assert f"{confidence:.0%} level" in intervals["method"]


def test_the_graph_bootstraps_at_the_configured_confidence():
    from governance_assets.assets.evaluation import _fairness_settings

    params = load_params(REPO)
    changed = params.model_copy(update={"fairness": params.fairness.model_copy(
        update={"confidence": 0.8})})
    assert _fairness_settings(changed).confidence == 0.8
    assert _fairness_settings(params).confidence == params.fairness.confidence


# --- proxy screen: Cramér's V with Bergsma's bias correction ---

def bergsma_v(feature: pd.Series, attribute: pd.Series) -> float:
    """Written from Bergsma (2013), with the chi-square from expected counts by hand."""
    table = pd.crosstab(feature, attribute).to_numpy(dtype=float)
    n = table.sum()
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / n
    chi2 = ((table - expected) ** 2 / expected).sum()
    r, k = table.shape
    phi2 = max(0.0, chi2 / n - (k - 1) * (r - 1) / (n - 1))
    r_tilde = r - (r - 1) ** 2 / (n - 1)
    k_tilde = k - (k - 1) ** 2 / (n - 1)
    return float(np.sqrt(phi2 / min(k_tilde - 1, r_tilde - 1)))


def uncorrected_v(feature: pd.Series, attribute: pd.Series) -> float:
    return float(association(pd.crosstab(feature, attribute).to_numpy(), method="cramer",
                             correction=False))


def test_cramers_v_corrects_the_bias_of_a_small_many_category_table():
    """Twelve categories, 120 rows, independent of a two-group attribute: the plain V reads
    a visible association (sampling noise alone); the corrected one is zero."""
    rng = np.random.default_rng(0)
    feature = pd.Series(rng.choice([f"c{i}" for i in range(12)], 120))
    attribute = pd.Series(rng.choice(["f", "m"], 120))
    plain = uncorrected_v(feature, attribute)
    corrected = proxies.cramers_v(feature, attribute)
    assert plain > 0.2
    assert corrected == pytest.approx(bergsma_v(feature, attribute), abs=1e-12)
    assert corrected < 0.05


def test_cramers_v_matches_bergsma_on_an_associated_table():
    rng = np.random.default_rng(4)
    attribute = pd.Series(rng.choice(["f", "m", "x"], 150))
    noise = pd.Series(rng.choice(list("abcdefgh"), 150))
    feature = noise.where(rng.random(150) < 0.7, attribute)  # 30 % copy the attribute
    corrected = proxies.cramers_v(feature, attribute)
    assert 0.1 < corrected < uncorrected_v(feature, attribute)
    assert corrected == pytest.approx(bergsma_v(feature, attribute), abs=1e-12)
    # symmetric: the fewer-category side (here the rows) sets the denominator
    assert proxies.cramers_v(attribute, feature) == pytest.approx(corrected, abs=1e-12)
