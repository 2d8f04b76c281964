"""Train each allowed algorithm family, record every trial, pick and refit the champion.

The full constraint-aware search (fairness and latency as hard constraints, budgets, carbon)
replaces `search` later; the trial records already have the shape it will fill.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from .columns import FAVOURABLE
from .params import DatasetSpec, ModelSpec


@dataclass
class Trial:
    trial_id: int
    algorithm: str
    hyperparameters: dict
    validation_auc: float
    validation_f1: float
    validation_accuracy: float
    feasible: bool
    rejection_reason: str | None
    # Wall time depends on the machine: kept out of the search report (see runtime_figures).
    fit_seconds: float | None = None


def _estimator(algorithm: str, model: ModelSpec, seed: int):
    if algorithm == "logistic_regression":
        return LogisticRegression(max_iter=2000, C=1.0, class_weight=model.class_weight)
    if algorithm == "hist_gradient_boosting":
        return HistGradientBoostingClassifier(max_depth=3, learning_rate=0.05, max_iter=200,
                                              class_weight=model.class_weight, random_state=seed)
    return RandomForestClassifier(n_estimators=200, min_samples_leaf=5, n_jobs=1,
                                  class_weight=model.class_weight, random_state=seed)


def build_pipeline(algorithm: str, spec: DatasetSpec, model: ModelSpec, seed: int) -> Pipeline:
    numeric = [c for c in spec.model_features if c in spec.numeric_columns]
    categorical = [c for c in spec.model_features if c in spec.categorical_columns]
    scale = StandardScaler() if algorithm == "logistic_regression" else "passthrough"
    encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    pre = ColumnTransformer([("num", scale, numeric), ("cat", encoder, categorical)],
                            verbose_feature_names_out=False)
    return Pipeline([("pre", pre), ("est", _estimator(algorithm, model, seed))])


def hyperparameters(pipeline: Pipeline) -> dict:
    params = pipeline.named_steps["est"].get_params()
    return {k: v for k, v in params.items() if isinstance(v, int | float | str | bool | None)}


def search(train: pd.DataFrame, validation: pd.DataFrame, spec: DatasetSpec, model: ModelSpec,
           seed: int, min_auc: float) -> list[Trial]:
    """Fit every candidate family on train and score it on validation (never the golden set)."""
    trials = []
    for trial_id, algorithm in enumerate(model.candidates):
        pipeline = build_pipeline(algorithm, spec, model, seed)
        started = time.perf_counter()
        pipeline.fit(train[spec.model_features], train[FAVOURABLE])
        elapsed = time.perf_counter() - started
        probability = pipeline.predict_proba(validation[spec.model_features])[:, 1]
        predicted = (probability >= model.decision_threshold).astype(int)
        auc = float(roc_auc_score(validation[FAVOURABLE], probability))
        feasible = auc >= min_auc
        trials.append(Trial(
            trial_id=trial_id, algorithm=algorithm, hyperparameters=hyperparameters(pipeline),
            validation_auc=round(auc, 6),
            validation_f1=round(float(f1_score(validation[FAVOURABLE], predicted)), 6),
            validation_accuracy=round(float(accuracy_score(validation[FAVOURABLE], predicted)), 6),
            fit_seconds=round(elapsed, 4), feasible=feasible,
            rejection_reason=None if feasible else
            f"trial {trial_id} rejected: validation AUC {auc:.3f} < policy.min_auc {min_auc}",
        ))
    return trials


def choose_champion(trials: list[Trial]) -> tuple[Trial | None, str]:
    """Highest validation AUC among feasible trials; the reason is kept as text for the card."""
    feasible = [t for t in trials if t.feasible]
    if not feasible:
        return None, "no trial met the constraints; nothing can be promoted"
    champion = max(feasible, key=lambda t: (t.validation_auc, -t.trial_id))
    others = ", ".join(f"{t.algorithm} {t.validation_auc:.3f}"
                       for t in feasible if t is not champion)
    reason = (f"{champion.algorithm} (trial {champion.trial_id}) has the highest validation AUC "
              f"{champion.validation_auc:.3f} among feasible trials"
              + (f" (others: {others})" if others else ""))
    return champion, reason


def refit(champion: Trial, train: pd.DataFrame, validation: pd.DataFrame, spec: DatasetSpec,
          model: ModelSpec, seed: int) -> Pipeline:
    """Refit the chosen family on train + validation; the golden test set stays unseen."""
    both = pd.concat([train, validation])
    pipeline = build_pipeline(champion.algorithm, spec, model, seed)
    return pipeline.fit(both[spec.model_features], both[FAVOURABLE])


def trials_as_dicts(trials: list[Trial]) -> list[dict]:
    """The deterministic part of each trial: same data and seed, same bytes."""
    return [{k: v for k, v in asdict(t).items() if k != "fit_seconds"} for t in trials]


def runtime_figures(trials: list[Trial]) -> dict[str, float | None]:
    return {f"trial_{t.trial_id}_fit_seconds": t.fit_seconds for t in trials}
