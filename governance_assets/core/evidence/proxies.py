"""Proxy screen: which model inputs carry a sensitive attribute the model is not given.

Excluding a protected column does not stop a model from learning it back through correlated
inputs (housing for age, occupation for sex). Two measures on the train split, never the
golden set:

- per feature, Cramér's V with the attribute, bias-corrected (Bergsma 2013) so that a
  many-category feature on a few hundred rows is not flagged by sampling noise alone; numeric
  features are binned at their deciles. A feature at or above `policy.proxy_min_association`
  is flagged, beside the proxies the dataset declares.
- per attribute, how well all model features together predict it: the cross-validated AUC of a
  logistic regression (one-vs-rest macro for more than two groups). 0.5 means the features
  carry nothing of the attribute; it is reported, not gated, because it measures the inputs,
  not what the model does with them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency

from ..params import DatasetSpec

DECILES = 10


def _as_categories(values: pd.Series, numeric: bool) -> pd.Series:
    if numeric and values.nunique() > DECILES:
        return pd.qcut(values, DECILES, duplicates="drop").astype(str)
    return values.astype(str)


def cramers_v(feature: pd.Series, attribute: pd.Series) -> float:
    """Bias-corrected Cramér's V (Bergsma 2013): 0 independent, 1 one determines the other."""
    table = pd.crosstab(feature, attribute).to_numpy()
    rows, columns = table.shape
    if rows < 2 or columns < 2:
        return 0.0
    n = table.sum()
    chi2 = chi2_contingency(table, correction=False)[0]
    phi2 = max(0.0, chi2 / n - (rows - 1) * (columns - 1) / (n - 1))
    rows_c = rows - (rows - 1) ** 2 / (n - 1)
    columns_c = columns - (columns - 1) ** 2 / (n - 1)
    denominator = min(rows_c - 1, columns_c - 1)
    return float(np.sqrt(phi2 / denominator)) if denominator > 0 else 0.0


def attribute_auc(features: pd.DataFrame, attribute: pd.Series, numeric: list[str],
                  seed: int) -> float | None:
    """Cross-validated AUC of predicting the attribute from every model feature together."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    labels = attribute.astype(str).reset_index(drop=True)
    counts = labels.value_counts()
    if len(counts) < 2 or counts.min() < 5:
        return None
    categorical = [c for c in features.columns if c not in numeric]
    pre = ColumnTransformer([("num", StandardScaler(), [c for c in numeric
                                                        if c in features.columns]),
                             ("cat", OneHotEncoder(handle_unknown="ignore"), categorical)])
    # liblinear: 4-5x faster than lbfgs on the one-hot columns; one-vs-rest for >2 groups.
    linear = LogisticRegression(solver="liblinear")
    model = Pipeline([("pre", pre), ("est", linear if len(counts) == 2
                                     else OneVsRestClassifier(linear))])
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    scores = cross_val_predict(model, features.reset_index(drop=True), labels, cv=folds,
                               method="predict_proba")
    if scores.shape[1] == 2:
        return round(float(roc_auc_score(labels, scores[:, 1])), 6)
    return round(float(roc_auc_score(labels, scores, multi_class="ovr")), 6)


def proxy_report(train: pd.DataFrame, spec: DatasetSpec, min_association: float,
                 sample_rows: int, seed: int) -> dict:
    """Per sensitive attribute: each model feature's association, the flagged proxies."""
    rows = train.sample(min(sample_rows, len(train)), random_state=seed)
    features = spec.model_features
    attributes = {}
    for name in spec.sensitive_features:
        association = {f: round(cramers_v(_as_categories(rows[f], f in spec.numeric_columns),
                                          rows[name].astype(str)), 6) for f in features}
        ranked = dict(sorted(association.items(), key=lambda item: (-item[1], item[0])))
        flagged = [f for f, v in ranked.items() if v >= min_association]
        attributes[name] = {
            "association": ranked,
            "detected_proxies": flagged,
            "predictable_from_features_auc": attribute_auc(rows[features], rows[name],
                                                           spec.numeric_columns, seed),
        }
    declared = [c for c in spec.proxies if c in features]
    detected = sorted({f for a in attributes.values() for f in a["detected_proxies"]})
    return {
        "measure": "bias-corrected Cramér's V (numeric features binned at deciles), train split",
        "min_association": min_association,
        "rows": len(rows),
        "attributes": attributes,
        "declared_proxies": declared,
        "detected_proxies": detected,
        "proxies": sorted(set(declared) | set(detected)),
        "sensitive_model_inputs": spec.protected_model_features,
    }


def proxies_of(report: dict, attribute: str) -> list[str]:
    """The proxies a counterfactual swap of this attribute moves: its own and declared ones."""
    own = report["attributes"].get(attribute, {}).get("detected_proxies", [])
    return sorted(set(own) | set(report["declared_proxies"]))
