"""Group fairness with fairlearn on the golden test set: rates, ratios and gaps per feature.

Groups smaller than policy.min_group_size are reported with their numbers but kept out of the
ratios and gaps, and listed as insufficient evidence, never dropped silently.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    count,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)

GROUP_METRICS = {
    "count": count,
    "selection_rate": selection_rate,
    "true_positive_rate": true_positive_rate,
    "false_positive_rate": false_positive_rate,
    "false_negative_rate": false_negative_rate,
}


def _clean(value: float) -> float | None:
    return None if value is None or np.isnan(value) else round(float(value), 6)


def feature_fairness(y: pd.Series, predicted: pd.Series, groups: pd.Series,
                     min_group_size: int) -> dict:
    frame = MetricFrame(metrics=GROUP_METRICS, y_true=y, y_pred=predicted,
                        sensitive_features=groups.astype(str))
    by_group = frame.by_group
    sufficient = [g for g in by_group.index if by_group.loc[g, "count"] >= min_group_size]
    mask = groups.astype(str).isin(sufficient)
    rates = by_group.loc[sufficient, "selection_rate"]
    reference = str(rates.idxmax()) if len(rates) else None
    result_groups = {}
    for group in by_group.index:
        row = by_group.loc[group]
        ratio = (row["selection_rate"] / rates.max()
                 if group in sufficient and rates.max() > 0 else np.nan)
        result_groups[str(group)] = {
            "count": int(row["count"]),
            **{name: _clean(row[name]) for name in GROUP_METRICS if name != "count"},
            "disparate_impact_ratio": _clean(ratio),
            "sufficient": group in sufficient,
        }
    comparable = len(sufficient) >= 2
    summary = {
        "reference_group": reference,
        "disparate_impact_ratio_min": _clean(demographic_parity_ratio(
            y[mask], predicted[mask], sensitive_features=groups[mask])) if comparable else None,
        "demographic_parity_difference": _clean(demographic_parity_difference(
            y[mask], predicted[mask], sensitive_features=groups[mask])) if comparable else None,
        "equalized_odds_difference": _clean(equalized_odds_difference(
            y[mask], predicted[mask], sensitive_features=groups[mask])) if comparable else None,
        "equal_opportunity_difference": _clean(
            rates_gap(by_group.loc[sufficient, "true_positive_rate"])) if comparable else None,
    }
    insufficient = [str(g) for g in by_group.index if g not in sufficient]
    return {"groups": result_groups, **summary, "insufficient_groups": insufficient}


def rates_gap(rates: pd.Series) -> float:
    return float(rates.max() - rates.min())


def fairness_report(y: pd.Series, predicted: pd.Series, sensitive: pd.DataFrame,
                    min_group_size: int) -> dict:
    return {
        "favourable_outcome": "prediction = favourable label",
        "min_group_size": min_group_size,
        "features": {
            name: feature_fairness(y, predicted, sensitive[name], min_group_size)
            for name in sensitive.columns
        },
    }
