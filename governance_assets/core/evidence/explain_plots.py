"""The explanation PNGs: global bar chart, SHAP summary (beeswarm), one waterfall per decision.

Every PNG is byte-for-byte reproducible, because DVC records its md5 and a re-run on the same
inputs must leave dvc.lock unchanged: no software stamp in the file, and the beeswarm's random
jitter drawn from a seeded generator.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..report import plots
from .explain import Attribution, seeded_global_numpy


def plot_importance(report: dict, path: Path, top: int = 15) -> Path:
    """Mean |SHAP| bars, protected features and proxies in red."""
    plt = plots.pyplot()
    rows = report["global_importance"][:top][::-1]
    protected = set(report["protected_features"])
    figure, axis = plt.subplots(figsize=(9, 0.35 * len(rows) + 1.4))
    axis.barh([r["feature"] for r in rows], [r["mean_abs_shap"] for r in rows],
              color=["#c0392b" if r["feature"] in protected else "#2c7fb8" for r in rows])
    axis.set_xlabel("mean |SHAP value|; red = protected feature or proxy")
    axis.set_title("Global importance on the evaluation sample (golden test; all rows in an "
                   "audit)", fontsize=10)
    figure.tight_layout()
    return plots.save(figure, path)


def _numeric_or_nan(rows: pd.DataFrame) -> np.ndarray:
    """Colours for the beeswarm: a numeric feature's value; categories have no order, so grey."""
    return np.column_stack([pd.to_numeric(rows[c], errors="coerce").to_numpy(dtype=float)
                            if pd.api.types.is_numeric_dtype(rows[c])
                            else np.full(len(rows), np.nan) for c in rows.columns])


def plot_summary(attribution: Attribution, rows: pd.DataFrame, path: Path, seed: int,
                 top: int = 15) -> Path:
    """SHAP's beeswarm: each dot one explained row, its position the feature's SHAP value."""
    import shap

    plt = plots.pyplot()
    explanation = shap.Explanation(values=attribution.values.to_numpy(),
                                   data=_numeric_or_nan(rows[attribution.values.columns]),
                                   feature_names=list(attribution.values.columns))
    shown = min(top, len(rows.columns) + 1)  # + 1: the "sum of other features" row
    figure, axis = plt.subplots(figsize=(8, 0.4 * shown + 1.5))
    with seeded_global_numpy(seed), warnings.catch_warnings():  # grey columns have no range
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        shap.plots.beeswarm(explanation, max_display=top, ax=axis, show=False, plot_size=None)
    axis.set_xlabel(f"SHAP value ({attribution.output}); grey = categorical feature")
    axis.set_title(f"SHAP summary, {len(rows)} evaluated rows ({attribution.explainer})",
                   fontsize=10)
    return plots.save(figure, path)


def plot_waterfall(entry: dict, shap_row: pd.Series, raw_row: pd.Series, output: str,
                   path: Path, top: int = 10) -> Path:
    """How one decision's score is built from the baseline, feature by feature."""
    import shap

    plt = plots.pyplot()
    data = np.array([raw_row[c] if pd.api.types.is_number(raw_row[c]) else str(raw_row[c])
                     for c in shap_row.index], dtype=object)
    explanation = shap.Explanation(values=shap_row.to_numpy(dtype=float),
                                   base_values=entry["shap_base_value"], data=data,
                                   feature_names=list(shap_row.index))
    plt.figure()
    shap.plots.waterfall(explanation, max_display=top, show=False)
    figure = plt.gcf()
    groups = ", ".join(f"{k}={v}" for k, v in entry["groups"].items())
    figure.suptitle(f"row {entry['row_id']}: {entry['prediction']} (score {entry['score']:.3f}); "
                    f"{groups}\nSHAP in {output}", fontsize=9)
    return plots.save(figure, path)
