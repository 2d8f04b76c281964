"""The algorithm families as scikit-learn pipelines, and the champion's refit.

The search over them (constraints, budget, trace) is core/model/search.py.
"""

from __future__ import annotations

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ..data.columns import FAVOURABLE
from ..params import DatasetSpec, ModelSpec


def _estimator(algorithm: str, model: ModelSpec, seed: int):
    if algorithm == "logistic_regression":
        return LogisticRegression(max_iter=2000, C=1.0, class_weight=model.class_weight)
    if algorithm == "hist_gradient_boosting":
        return HistGradientBoostingClassifier(max_depth=3, learning_rate=0.05, max_iter=200,
                                              class_weight=model.class_weight, random_state=seed)
    return RandomForestClassifier(n_estimators=200, min_samples_leaf=5, n_jobs=1,
                                  class_weight=model.class_weight, random_state=seed)


def build_pipeline(algorithm: str, spec: DatasetSpec, model: ModelSpec, seed: int,
                   chosen: dict | None = None) -> Pipeline:
    """The family's pipeline; `chosen` hyperparameters (a search trial's) override the defaults."""
    numeric = [c for c in spec.model_features if c in spec.numeric_columns]
    categorical = [c for c in spec.model_features if c in spec.categorical_columns]
    scale = StandardScaler() if algorithm == "logistic_regression" else "passthrough"
    encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    pre = ColumnTransformer([("num", scale, numeric), ("cat", encoder, categorical)],
                            verbose_feature_names_out=False)
    estimator = _estimator(algorithm, model, seed).set_params(**(chosen or {}))
    return Pipeline([("pre", pre), ("est", estimator)])


def hyperparameters(pipeline: Pipeline) -> dict:
    params = pipeline.named_steps["est"].get_params()
    return {k: v for k, v in params.items() if isinstance(v, int | float | str | bool | None)}


def refit(algorithm: str, chosen: dict, train: pd.DataFrame, validation: pd.DataFrame,
          spec: DatasetSpec, model: ModelSpec, seed: int) -> Pipeline:
    """Refit the chosen family with its chosen hyperparameters on train + validation; the
    golden test set stays unseen."""
    from threadpoolctl import threadpool_limits

    both = pd.concat([train, validation])
    pipeline = build_pipeline(algorithm, spec, model, seed, chosen)
    with threadpool_limits(limits=1):  # as in the search: same arithmetic on any core count
        return pipeline.fit(both[spec.model_features], both[FAVOURABLE])
