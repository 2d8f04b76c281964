"""Group fairness with fairlearn on the golden test set: rates, ratios and gaps per feature.

Every rate rests on its own denominator: rows for the selection rate, positives (favourable
true outcome) for TPR and FNR, negatives for FPR. A rate whose denominator is below the
policy's minimum is null with the reason, never a number: fairlearn returns 0.0 for the TPR of
a group without positives, which would read as "never approves the qualified". Ratios and gaps
are computed only over defined rates, and each statistic lists the groups it had to leave out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    count,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)

from .dataset_description import ORIENTATION

GROUP_METRICS = {
    "count": count,
    "selection_rate": selection_rate,
    "true_positive_rate": true_positive_rate,
    "false_positive_rate": false_positive_rate,
    "false_negative_rate": false_negative_rate,
}
RATES = [name for name in GROUP_METRICS if name != "count"]
# What each rate is conditioned on, i.e. the rows its denominator counts.
DENOMINATOR = {"selection_rate": "rows", "true_positive_rate": "positives",
               "false_negative_rate": "positives", "false_positive_rate": "negatives"}
# The rates each gated statistic needs, per group.
STATISTIC_RATES = {
    "disparate_impact_ratio_min": ["selection_rate"],
    "demographic_parity_difference": ["selection_rate"],
    "equalized_odds_difference": ["true_positive_rate", "false_positive_rate"],
    "equal_opportunity_difference": ["true_positive_rate"],
}


def _clean(value: float | None) -> float | None:
    return None if value is None or np.isnan(value) else round(float(value), 6)


def _minimums(min_group_size: int, min_rate_denominator: int) -> dict[str, int]:
    """The selection rate needs min_group_size rows; conditional rates their own minimum."""
    return {"rows": min_group_size, "positives": min_rate_denominator,
            "negatives": min_rate_denominator}


def group_rates(y: pd.Series, predicted: pd.Series, groups: pd.Series, min_group_size: int,
                min_rate_denominator: int) -> dict[str, dict]:
    """Per group: counts, each rate or null, and why a null rate is undefined."""
    y, predicted = y.reset_index(drop=True), predicted.reset_index(drop=True)
    labels = groups.astype(str).reset_index(drop=True)
    frame = MetricFrame(metrics=GROUP_METRICS, y_true=y, y_pred=predicted,
                        sensitive_features=labels)
    positives = y.groupby(labels).sum()
    minimum = _minimums(min_group_size, min_rate_denominator)
    result = {}
    for group, row in frame.by_group.iterrows():
        n = {"rows": int(row["count"]), "positives": int(positives.get(group, 0))}
        n["negatives"] = n["rows"] - n["positives"]
        rates, undefined = {}, {}
        for rate in RATES:
            basis = DENOMINATOR[rate]
            if n[basis] < minimum[basis]:
                rates[rate] = None
                undefined[rate] = (f"{n[basis]} {basis} < minimum {minimum[basis]}"
                                   if n[basis] else f"no {basis}: undefined")
            else:
                rates[rate] = _clean(row[rate])
        result[str(group)] = {"count": n["rows"], "positives": n["positives"],
                              "negatives": n["negatives"], **rates, "undefined": undefined}
    return result


def _gap(groups: dict[str, dict], rate: str) -> float | None:
    values = [g[rate] for g in groups.values() if g[rate] is not None]
    return round(max(values) - min(values), 6) if len(values) >= 2 else None


def _left_out(groups: dict[str, dict], statistic: str) -> list[str]:
    return [name for name, g in groups.items()
            if any(g[rate] is None for rate in STATISTIC_RATES[statistic])]


def feature_fairness(y: pd.Series, predicted: pd.Series, groups: pd.Series,
                     min_group_size: int, min_rate_denominator: int = 1) -> dict:
    """Rates per group and, over the groups where they are defined, ratios and gaps."""
    by_group = group_rates(y, predicted, groups, min_group_size, min_rate_denominator)
    rates = {g: r["selection_rate"] for g, r in by_group.items()
             if r["selection_rate"] is not None}
    reference = max(rates, key=rates.get) if rates else None
    top = rates[reference] if reference else None
    for name, group in by_group.items():
        ratio = rates[name] / top if name in rates and top else None
        group["disparate_impact_ratio"] = _clean(ratio)
        group["sufficient"] = group["count"] >= min_group_size
    tpr_gap, fpr_gap = _gap(by_group, "true_positive_rate"), _gap(by_group, "false_positive_rate")
    ratios = [g["disparate_impact_ratio"] for g in by_group.values()
              if g["disparate_impact_ratio"] is not None]
    summary = {
        "reference_group": reference,
        "disparate_impact_ratio_min": min(ratios) if len(ratios) >= 2 else None,
        "demographic_parity_difference": _gap(by_group, "selection_rate"),
        "equalized_odds_difference": (max(tpr_gap, fpr_gap)
                                      if tpr_gap is not None and fpr_gap is not None else None),
        "equal_opportunity_difference": tpr_gap,
    }
    return {
        "groups": by_group,
        **summary,
        "insufficient_groups": [g for g, r in by_group.items() if not r["sufficient"]],
        "left_out": {statistic: _left_out(by_group, statistic) for statistic in STATISTIC_RATES},
    }


def fairness_report(y: pd.Series, predicted: pd.Series, sensitive: pd.DataFrame,
                    min_group_size: int, min_rate_denominator: int = 1) -> dict:
    return {
        "favourable_outcome": "prediction = favourable label",
        "orientation": ORIENTATION,
        "min_group_size": min_group_size,
        "min_rate_denominator": min_rate_denominator,
        "features": {
            name: feature_fairness(y, predicted, sensitive[name], min_group_size,
                                   min_rate_denominator)
            for name in sensitive.columns
        },
    }
