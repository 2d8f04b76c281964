"""SHAP global and local explanations in the raw features' terms, and protected influence.

The model sees one-hot columns; reviewers think in raw features. SHAP values of a feature's
one-hot columns are summed per row before averaging, the usual way to report encoded features.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline


def _sources_of_columns(pipeline: Pipeline) -> list[str]:
    """The raw feature behind every column the preprocessor emits, in order."""
    pre = pipeline.named_steps["pre"]
    sources: list[str] = []
    for _name, transformer, columns in pre.transformers_:
        if transformer == "drop" or not len(columns):
            continue
        if hasattr(transformer, "categories_"):
            for column, categories in zip(columns, transformer.categories_, strict=True):
                sources += [column] * len(categories)
        else:
            sources += list(columns)
    return sources


def shap_by_feature(pipeline: Pipeline, background: pd.DataFrame, sample: pd.DataFrame
                    ) -> pd.DataFrame:
    """Per-row SHAP values (log-odds or probability, as the explainer reports) per raw feature."""
    import shap

    pre, estimator = pipeline.named_steps["pre"], pipeline.named_steps["est"]
    encoded_background = np.asarray(pre.transform(background), dtype=float)
    encoded_sample = np.asarray(pre.transform(sample), dtype=float)
    explainer = shap.Explainer(estimator, encoded_background)
    values = np.asarray(explainer(encoded_sample).values)
    if values.ndim == 3:
        values = values[:, :, 1]
    sources = _sources_of_columns(pipeline)
    if len(sources) != values.shape[1]:
        raise ValueError(f"{len(sources)} feature sources for {values.shape[1]} SHAP columns")
    encoded = pd.DataFrame(values, columns=range(values.shape[1]))
    return encoded.T.groupby(np.array(sources)).sum().T


def explanation_report(per_row: pd.DataFrame, protected: list[str], sample_ids: pd.Series,
                       local_rows: int = 5) -> dict:
    importance = per_row.abs().mean().sort_values(ascending=False)
    total = float(importance.sum())
    share = importance / total if total > 0 else importance * 0
    protected_share = float(share[[c for c in protected if c in share.index]].sum())
    local = []
    for position in range(min(local_rows, len(per_row))):
        row = per_row.iloc[position]
        top = row.abs().sort_values(ascending=False).head(3).index
        local.append({"row_id": int(sample_ids.iloc[position]),
                      "top_features": {name: round(float(row[name]), 6) for name in top}})
    return {
        "global_importance": [
            {"feature": name, "mean_abs_shap": round(float(value), 6),
             "share": round(float(share[name]), 6)}
            for name, value in importance.items()
        ],
        "protected_features": protected,
        "protected_influence_share": round(protected_share, 6),
        "local_explanations": local,
        "rows_explained": len(per_row),
    }


def plot_importance(report: dict, path: Path, top: int = 15) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["global_importance"][:top][::-1]
    protected = set(report["protected_features"])
    figure, axis = plt.subplots(figsize=(9, 0.35 * len(rows) + 1.4))
    axis.barh([r["feature"] for r in rows], [r["mean_abs_shap"] for r in rows],
              color=["#c0392b" if r["feature"] in protected else "#2c7fb8" for r in rows])
    axis.set_xlabel("mean |SHAP value|; red = protected feature or proxy")
    axis.set_title("Global importance on the golden test sample", fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return path
