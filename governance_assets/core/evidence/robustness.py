"""Robustness (EU AI Act Art. 15): small input changes, and the slices where the model is weakest.

Perturbation: every numeric feature of the golden set is moved up or down by a fraction of its
training spread (standard deviation), and a share of categorical values is swapped to the
*nearest* category (the one whose favourable rate in training is closest, so the swap is a
plausible neighbour, not noise); both seeded. A model that holds up keeps its decisions and its
AUC; one that keys on a sharp edge of a single feature flips.

Slice scan: every single feature and every pair of features (numbers cut into quantile bins)
defines slices of the golden set; each slice with enough rows has its accuracy tested against
the policy floor with a one-sided binomial test, and the p-values are Holm-corrected over all
slices tested, so the gate fails on slices that are weak beyond chance, not on the smallest one.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
from scipy.stats import binom
from sklearn.metrics import roc_auc_score

REPORTED_SLICES = 15


def nearest_categories(train: pd.DataFrame, column: str, outcome: pd.Series) -> dict[str, str]:
    """Each category's neighbour: the other category with the closest favourable rate."""
    rates = outcome.groupby(train[column].astype(str)).mean().sort_values()
    if len(rates) < 2:
        return {}
    values = rates.to_numpy()
    neighbours = {}
    for i, category in enumerate(rates.index):
        others = [j for j in (i - 1, i + 1) if 0 <= j < len(rates)]
        best = min(others, key=lambda j: abs(values[j] - values[i]))
        neighbours[category] = rates.index[best]
    return neighbours


def perturb(golden: pd.DataFrame, train: pd.DataFrame, outcome: pd.Series,
            numeric: list[str], categorical: list[str], shift: float, swap_share: float,
            seed: int) -> pd.DataFrame:
    """The golden rows with each number moved by ±shift·sd and some categories swapped."""
    rng = np.random.default_rng(seed)
    moved = golden.copy()
    for column in numeric:
        spread = float(train[column].std(ddof=0))
        signs = rng.choice([-1.0, 1.0], size=len(golden))
        moved[column] = golden[column].astype(float) + signs * shift * spread
    for column in categorical:
        neighbours = nearest_categories(train, column, outcome)
        swap = rng.random(len(golden)) < swap_share
        values = golden[column].astype(str)
        moved[column] = values.where(~swap, values.map(neighbours).fillna(values))
    return moved


def perturbation_test(scores: np.ndarray, perturbed_scores: np.ndarray, truth: np.ndarray,
                      threshold: float) -> dict:
    """Share of decisions that flip, and the AUC before and after."""
    flips = (scores >= threshold) != (perturbed_scores >= threshold)
    auc, auc_perturbed = roc_auc_score(truth, scores), roc_auc_score(truth, perturbed_scores)
    return {"rows": len(scores), "flipped": int(flips.sum()),
            "flip_rate": round(float(flips.mean()), 6), "auc": round(float(auc), 6),
            "auc_perturbed": round(float(auc_perturbed), 6),
            "auc_drop": round(float(auc - auc_perturbed), 6)}


def slice_labels(golden: pd.DataFrame, features: list[str], numeric: set[str], bins: int
                 ) -> pd.DataFrame:
    """Each feature as a slice label: categories as they are, numbers as quantile bins."""
    labels = {}
    for column in features:
        if column in numeric:
            binned = pd.qcut(golden[column].astype(float), bins, duplicates="drop")
            labels[column] = binned.astype(str).where(binned.notna(), "(missing)")
        else:
            labels[column] = golden[column].astype(str)
    return pd.DataFrame(labels, index=golden.index)


def _slice_table(labels: pd.DataFrame, correct: np.ndarray, min_rows: int) -> pd.DataFrame:
    """Rows and correct decisions of every single-feature and pair slice with min_rows rows."""
    codes = {c: pd.factorize(labels[c], sort=True) for c in labels.columns}
    parts = []
    for group in [(c,) for c in labels.columns] + list(combinations(labels.columns, 2)):
        key = np.zeros(len(labels), dtype=np.int64)
        for column in group:
            key = key * len(codes[column][1]) + codes[column][0]
        uniques, inverse = np.unique(key, return_inverse=True)
        rows = np.bincount(inverse)
        hits = np.bincount(inverse, weights=correct.astype(float))
        large = rows >= min_rows
        first = np.zeros(len(uniques), dtype=np.int64)
        first[inverse[::-1]] = np.arange(len(labels))[::-1]
        for index in np.flatnonzero(large):
            row = first[index]
            parts.append({"slice": " & ".join(f"{c}={labels[c].iloc[row]}" for c in group),
                          "features": len(group), "rows": int(rows[index]),
                          "correct": int(hits[index])})
    return pd.DataFrame(parts, columns=["slice", "features", "rows", "correct"])


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (family-wise error over every slice tested)."""
    order = np.argsort(p_values)
    m = len(p_values)
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p_values[order]).clip(max=1.0)
    result = np.empty(m)
    result[order] = adjusted
    return result


def slice_scan(labels: pd.DataFrame, correct: np.ndarray, floor: float, min_rows: int,
               alpha: float) -> dict:
    """The weakest slices, each with its size, accuracy, raw and Holm-adjusted p-value."""
    table = _slice_table(labels, correct, min_rows)
    table["accuracy"] = table["correct"] / table["rows"]
    # P(at most `correct` right | true accuracy = floor): small means the slice is below it.
    table["p_value"] = binom.cdf(table["correct"], table["rows"], floor)
    table["p_adjusted"] = holm(table["p_value"].to_numpy()) if len(table) else []
    table["below_floor"] = (table["accuracy"] < floor) & (table["p_adjusted"] < alpha)
    worst = table.sort_values(["accuracy", "rows"], ascending=[True, False])
    return {"overall_accuracy": round(float(correct.mean()), 6), "floor": floor,
            "min_slice_rows": min_rows, "alpha": alpha, "correction": "holm",
            "slices_tested": len(table),
            "slices_below_floor": int(table["below_floor"].sum()),
            "worst_slices": _plain(worst.head(REPORTED_SLICES)),
            "significant_slices": _plain(worst[worst["below_floor"]].head(REPORTED_SLICES))}


def _plain(frame: pd.DataFrame) -> list[dict]:
    """JSON-ready rows: numpy scalars as Python numbers, floats to 6 places."""
    rows = [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in frame.to_dict("records")]
    return [{k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()}
            for row in rows]
