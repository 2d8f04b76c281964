"""The poisoning screen: extreme values on a sign-preserving log scale and label-flipped near
duplicates, reported as findings."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..params import DatasetSpec, Policy
from .validation_report import ValidationReport

# Poisoning screen: Tukey's far-out fence (3 IQR) on a sign-preserving log scale, and "near
# duplicate" = same categories and every number within about 1 % (0.01 in log1p units).
FENCE_IQR = 3.0
FENCE_MIN_SPREAD = 0.5
NEAR_DUPLICATE_LOG_DISTANCE = 0.01


def signed_log(values: pd.Series) -> pd.Series:
    """sign(x) * log(1 + |x|): money and counts become comparable spreads, zeros stay zero."""
    return np.sign(values) * np.log1p(values.abs())


def extreme_values(values: pd.Series) -> pd.Series:
    """Values beyond Tukey's far-out fence (3 IQR) on the signed-log scale.

    Plain IQR fences never screen zero-inflated columns (IQR 0) and flag a share of every
    heavy-tailed one (income, amounts). On the log scale the tails are ordinary; when one value
    holds most rows (zeros), the quartiles are taken over the other values, and that value is
    never flagged. The fence is robust while poison stays under a quarter of those rows.
    """
    logged = signed_log(values)
    mode = values.mode().iloc[0]
    at_mode = values == mode
    if at_mode.mean() <= 0.5:
        at_mode = pd.Series(False, index=values.index)
    base = logged[~at_mode]
    if base.empty:
        return pd.Series(False, index=values.index)
    q1, q3 = base.quantile([0.25, 0.75])
    spread = max(q3 - q1, FENCE_MIN_SPREAD)
    outside = (logged < q1 - FENCE_IQR * spread) | (logged > q3 + FENCE_IQR * spread)
    return outside & ~at_mode


def label_flipped_near_duplicates(typed: pd.DataFrame, spec: DatasetSpec) -> pd.Series:
    """Rows with a near-identical twin (not an exact copy) that carries only the other label.

    The usual label-flip poison copies real rows, nudges a number so exact de-duplication
    misses the copy, and flips the label. Exact duplicates with mixed labels are left alone:
    with few, coarse features they are common in clean data (arrests: about 45 % of rows).
    """
    from scipy.spatial import cKDTree

    numeric = [c for c in spec.numeric_columns if c in typed.columns]
    categorical = [c for c in spec.categorical_columns if c in typed.columns]
    if not numeric:
        return pd.Series(False, index=typed.index)
    favourable = typed[spec.target].isin(spec.favourable_values)
    vector_id = typed.groupby(numeric + categorical, sort=False, dropna=False).ngroup()
    has_favourable = favourable.groupby(vector_id).any().to_numpy()
    has_other = (~favourable).groupby(vector_id).any().to_numpy()
    unique = typed.groupby(vector_id)[numeric + categorical].first()
    # One tree over all distinct rows: the categories become one coordinate 10 apart per
    # combination, so only rows with equal categories can fall within distance 1.
    block = unique.groupby(categorical, sort=False, dropna=False).ngroup() if categorical \
        else pd.Series(0, index=unique.index)
    points = np.column_stack([signed_log(unique[numeric]) / NEAR_DUPLICATE_LOG_DISTANCE,
                              block.to_numpy() * 10.0])
    pairs = cKDTree(points).query_pairs(1.0, p=np.inf, output_type="ndarray")
    suspect_favourable, suspect_other = set(), set()
    for mine, twin in np.concatenate([pairs, pairs[:, ::-1]]):
        if has_favourable[twin] and not has_other[twin] and has_other[mine]:
            suspect_other.add(mine)
        if has_other[twin] and not has_favourable[twin] and has_favourable[mine]:
            suspect_favourable.add(mine)
    return ((vector_id.isin(suspect_other) & ~favourable)
            | (vector_id.isin(suspect_favourable) & favourable))


def screen_poisoning(typed: pd.DataFrame, kept: pd.DataFrame, spec: DatasetSpec,
                     policy: Policy, report: ValidationReport) -> dict:
    """Extreme values and label-flipped near-duplicates; duplicates are counted, not flagged.

    Exact duplicates are counted over every column of the file (a row repeated in full);
    duplicates of the model inputs alone, and those whose labels disagree, are reported too.
    None of them is flagged: natural data repeats rows (the census sample: children).
    """
    extreme = {c: extreme_values(typed[c]) for c in spec.numeric_columns if c in typed.columns}
    any_extreme = pd.Series(False, index=typed.index)
    for mask in extreme.values():
        any_extreme |= mask
    flipped = label_flipped_near_duplicates(typed, spec)
    flagged = any_extreme | flipped
    share = float(flagged.mean())
    inputs = [c for c in spec.numeric_columns + spec.categorical_columns if c in typed.columns]
    feature_dup = typed.duplicated(subset=inputs, keep=False)
    mixed = typed[feature_dup].groupby(inputs, dropna=False)[spec.target].transform("nunique") > 1
    details = {
        "flagged_rows": int(flagged.sum()),
        "flagged_share": round(share, 6),
        "extreme_value_rows": int(any_extreme.sum()),
        "extreme_values_by_column": {c: int(m.sum()) for c, m in extreme.items() if m.any()},
        "label_flipped_near_duplicate_rows": int(flipped.sum()),
        "exact_duplicate_rows": int(kept.duplicated(keep="first").sum()),
        "feature_duplicate_rows": int(typed.duplicated(subset=inputs, keep="first").sum()),
        "feature_duplicate_rows_with_mixed_labels": int(mixed.sum()),
        "rule": (f"flagged = a numeric value beyond {FENCE_IQR:g} IQR on the signed-log scale, "
                 "or a near-duplicate (same categories, every number within ~1 %, not an exact "
                 "copy) carrying only the other label; duplicates are counted, not flagged"),
    }
    ok = share <= policy.max_outlier_share
    message = (f"{report.file}: rule outlier_screen: {details['extreme_value_rows']} rows with "
               f"extreme values, {details['label_flipped_near_duplicate_rows']} label-flipped "
               f"near-duplicates; share {share:.3f} {'<=' if ok else '>'} "
               f"policy.max_outlier_share={policy.max_outlier_share} "
               f"({details['exact_duplicate_rows']} exact duplicate rows, not flagged)")
    report.add("outliers", "outlier_screen", None, ok, message, share)
    return details
