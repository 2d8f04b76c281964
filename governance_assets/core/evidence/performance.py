"""Golden-test performance with bootstrap intervals, latency, and the paired regression test.

Point estimates come from scikit-learn; the resamples are computed from confusion counts and
ranks over blocks of draws (numpy), which equal scikit-learn's figures on the same draws
(tests/test_core_metrics.py) at a cost that allows thousands of rounds: an interval's tails
need tens of draws each, not the 5 that 200 rounds give.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    brier_score_loss,
    f1_score,
    matthews_corrcoef,
    precision_score,
    recall_score,
    roc_auc_score,
)

from .sklearn_speed import validated_once

METRICS = {
    "auc": lambda y, p, yhat: roc_auc_score(y, p),
    "f1": lambda y, p, yhat: f1_score(y, yhat, zero_division=0),
    "precision": lambda y, p, yhat: precision_score(y, yhat, zero_division=0),
    # Approval rate among the truly favourable: the favourable_approval gate reads it.
    "recall": lambda y, p, yhat: recall_score(y, yhat, zero_division=0),
    "accuracy": lambda y, p, yhat: accuracy_score(y, yhat),
    # Mean of the two recalls: 0.5 for any constant decision, the no-skill baseline.
    "balanced_accuracy": lambda y, p, yhat: balanced_accuracy_score(y, yhat),
    # Refusal rate among the truly unfavourable (specificity in the adverse sense).
    "adverse_refusal_rate": lambda y, p, yhat: recall_score(y, yhat, pos_label=0,
                                                            zero_division=0),
    "selection_rate": lambda y, p, yhat: float(np.mean(yhat)),
    "mcc": lambda y, p, yhat: matthews_corrcoef(y, yhat),
    "brier": lambda y, p, yhat: brier_score_loss(y, p),
}
# Rows x draws per block of resamples: bounds memory on large golden sets (60,000 rows x 100
# draws of int64 indices is 48 MB).
BLOCK_CELLS = 6_000_000


def _bootstrap_blocks(n: int, rounds: int, seed: int, labels: np.ndarray
                      ) -> Iterator[np.ndarray]:
    """Resamples that contain both classes, so AUC is defined in each; in blocks of rows."""
    rng = np.random.default_rng(seed)
    per_block = max(1, BLOCK_CELLS // max(n, 1))
    block, drawn = [], 0
    while drawn < rounds:
        index = rng.integers(0, n, n)
        if labels[index].min() != labels[index].max():
            block.append(index)
            drawn += 1
            if len(block) == per_block or drawn == rounds:
                yield np.vstack(block)
                block = []


def resampled_auc(labels: np.ndarray, scores: np.ndarray, index: np.ndarray) -> np.ndarray:
    """AUC of each resample (a row of `index`, positions into `labels` and `scores`) by the
    Mann-Whitney count, ties counted half: sum over distinct scores of the positives there times
    the negatives below plus half the negatives there. The scores are ranked once, not once per
    resample (rank sums over 2,000 resamples of 30,000 golden rows took 7 s, these counts 0.6 s);
    every count is an integer or a half, so the figures equal the rank-sum identity's exactly."""
    labels = np.asarray(labels).astype(bool)
    distinct, level = np.unique(scores, return_inverse=True)
    resamples, levels = index.shape[0], len(distinct)
    cell = level[index] + (np.arange(resamples) * levels)[:, None]
    drawn_positive = labels[index]
    positives = np.bincount(cell[drawn_positive], minlength=resamples * levels
                            ).reshape(resamples, levels).astype(float)
    negatives = np.bincount(cell[~drawn_positive], minlength=resamples * levels
                            ).reshape(resamples, levels).astype(float)
    below = np.cumsum(negatives, axis=1) - negatives
    count = (positives * (below + negatives / 2)).sum(axis=1)
    return count / (positives.sum(axis=1) * negatives.sum(axis=1))


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """scikit-learn's zero_division=0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1),
                        0.0)


def _resampled(y: np.ndarray, probability: np.ndarray, predicted: np.ndarray,
               index: np.ndarray) -> dict[str, np.ndarray]:
    labels, decided = y[index], predicted[index]
    tp = (labels & decided).sum(axis=1).astype(float)
    fp = (~labels & decided).sum(axis=1).astype(float)
    fn = (labels & ~decided).sum(axis=1).astype(float)
    tn = (~labels & ~decided).sum(axis=1).astype(float)
    rows = labels.shape[1]
    recall, refusal = _ratio(tp, tp + fn), _ratio(tn, tn + fp)
    mcc_denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return {"auc": resampled_auc(y, probability, index),
            "f1": _ratio(2 * tp, 2 * tp + fp + fn), "precision": _ratio(tp, tp + fp),
            "recall": recall, "accuracy": (tp + tn) / rows,
            "balanced_accuracy": (recall + refusal) / 2, "adverse_refusal_rate": refusal,
            "selection_rate": (tp + fp) / rows,
            "mcc": _ratio(tp * tn - fp * fn, mcc_denominator),
            "brier": ((probability[index] - y[index]) ** 2).mean(axis=1)}


def golden_metrics(y: np.ndarray, probability: np.ndarray, threshold: float, rounds: int,
                   seed: int) -> dict:
    y = np.asarray(y).astype(int)
    predicted = (probability >= threshold).astype(int)
    parts = [_resampled(y.astype(bool), probability, predicted.astype(bool), block)
             for block in _bootstrap_blocks(len(y), rounds, seed, y)]
    result = {}
    with validated_once():
        for name, metric in METRICS.items():
            samples = np.concatenate([part[name] for part in parts])
            low, high = np.percentile(samples, [2.5, 97.5])
            result[name] = {"value": round(float(metric(y, probability, predicted)), 6),
                            "ci95": [round(float(low), 6), round(float(high), 6)]}
    return result


def no_skill_baselines(y: np.ndarray) -> dict:
    """What the two constant decisions score on the same rows: the floor a model must beat."""
    favourable = float(np.mean(y))
    return {"approve_everyone": {"accuracy": round(favourable, 6), "balanced_accuracy": 0.5,
                                 "adverse_refusal_rate": 0.0, "recall": 1.0},
            "refuse_everyone": {"accuracy": round(1 - favourable, 6), "balanced_accuracy": 0.5,
                                "adverse_refusal_rate": 1.0, "recall": 0.0}}


def rates_by_group(y: np.ndarray, predicted: np.ndarray, groups: pd.DataFrame,
                   min_denominator: int) -> dict:
    """Per sensitive group: refusal among the truly unfavourable, approval among the truly
    favourable; null with the reason when the group has fewer cases than the minimum."""
    result = {}
    for attribute in groups.columns:
        labels = groups[attribute].astype(str).to_numpy()
        result[attribute] = {}
        for group in sorted(set(labels)):
            member = labels == group
            negatives, positives = member & (y == 0), member & (y == 1)
            row = {"rows": int(member.sum()), "negatives": int(negatives.sum()),
                   "positives": int(positives.sum())}
            for rate, cases, value in (
                    ("adverse_refusal_rate", negatives, lambda m: 1 - predicted[m].mean()),
                    ("recall", positives, lambda m: predicted[m].mean())):
                enough = cases.sum() >= min_denominator
                row[rate] = round(float(value(cases)), 6) if enough else None
                if not enough:
                    row.setdefault("undefined", {})[rate] = (
                        f"{int(cases.sum())} cases < minimum {min_denominator}")
            result[attribute][group] = row
    return result


WARMUP_CALLS = 10


def latency_ms(model, rows: pd.DataFrame, count: int, repeats: int) -> dict:
    """Single-row predict_proba wall time, warm, as a scoring service would call it.

    A cold p99 of one pass measures the machine's load as much as the model (6.9-22 ms between
    runs of the same model), so the first calls are discarded and the pass is repeated: the
    gate reads the median p99 and the report keeps the spread beside it. The search times each
    trial with this same function.
    """
    from threadpoolctl import threadpool_limits

    chosen = [rows.iloc[[position % len(rows)]] for position in range(min(count, len(rows)))]
    p50s, p99s = [], []
    # One thread, as a scoring worker serving one request: OpenMP's thread start-up on a
    # single row (HistGradientBoosting) measured 110 ms on a loaded 2-core machine, 5 ms alone.
    with threadpool_limits(limits=1):
        for row in chosen[:WARMUP_CALLS]:
            model.predict_proba(row)
        for _ in range(repeats):
            timings = []
            for row in chosen:
                started = time.perf_counter()
                model.predict_proba(row)
                timings.append((time.perf_counter() - started) * 1000)
            p50, p99 = np.percentile(timings, [50, 99])
            p50s.append(float(p50))
            p99s.append(float(p99))
    return {"p50": round(float(np.median(p50s)), 4), "p99": round(float(np.median(p99s)), 4),
            "p99_min": round(min(p99s), 4), "p99_max": round(max(p99s), 4),
            "calls_per_repeat": len(chosen), "repeats": repeats, "warmup_calls": WARMUP_CALLS}


def paired_auc_regression(y: np.ndarray, candidate: np.ndarray, production: np.ndarray,
                          rounds: int, seed: int) -> dict:
    """Production AUC minus candidate AUC on the same resamples: positive = candidate worse."""
    y = np.asarray(y).astype(int)
    deltas = np.concatenate([resampled_auc(y, production, block)
                             - resampled_auc(y, candidate, block)
                             for block in _bootstrap_blocks(len(y), rounds, seed, y)])
    low, high = np.percentile(deltas, [2.5, 97.5])
    return {"mean": round(float(np.mean(deltas)), 6),
            "ci95": [round(float(low), 6), round(float(high), 6)]}
