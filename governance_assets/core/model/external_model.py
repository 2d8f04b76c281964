"""Models trained elsewhere: a vendor's model file, or the scores a tool already gave.

Governance teams audit models they did not train (a vendor's scoring tool, another team's
model; NYC Local Law 144 bias audits). The dataset spec names either a scikit-learn model file
(`external_model`: loaded with skops.io against an explicit list of trusted types, never
unpickled, and hashed) or a score column already in the data with the rule that turns a score
into a decision (`external_scores`). Either becomes the candidate every report evaluates, so
every gate that does not need training runs on it unchanged.
"""

from __future__ import annotations

import operator
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline

from ..data.raw_files import DataError
from ..files import sha256_of_file
from ..params import DatasetSpec, ExternalModel, ExternalScores

RULES = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
NOT_TRAINED_HERE = {
    "search": "no search ran: the search space, its hash and the trial table describe nothing "
              "this model went through",
    "carbon": "the emissions of training were incurred elsewhere and are not known here",
    "reproducibility": "the model cannot be rebuilt from this repository; it is pinned by the "
                       "sha256 recorded here, and only the evaluation is reproducible",
}


class ScoreRule(ClassifierMixin, BaseEstimator):
    """A decision rule on one score column, shaped like a classifier.

    predict_proba maps the score monotonically (so AUC is the score's own AUC) onto [0, 1] such
    that P(favourable) >= decision_threshold exactly when the rule says favourable.
    """

    def __init__(self, favourable_when: str = ">=", threshold: float = 0.0,
                 decision_threshold: float = 0.5):
        self.favourable_when = favourable_when
        self.threshold = threshold
        self.decision_threshold = decision_threshold

    def fit(self, X, y=None) -> ScoreRule:  # noqa: N803 (scikit-learn's name)
        """Nothing to learn: the scores were given."""
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = 1
        return self

    def predict_proba(self, X) -> np.ndarray:  # noqa: N803
        scores = np.asarray(X, dtype=float).reshape(len(X), -1)[:, 0]
        favourable = RULES[self.favourable_when](scores, self.threshold)
        distance = np.abs(scores - self.threshold)
        cut = self.decision_threshold
        probability = np.where(favourable, cut + (1 - cut) * distance / (1 + distance),
                               cut / (2 + distance))
        return np.column_stack([1 - probability, probability])

    def predict(self, X) -> np.ndarray:  # noqa: N803
        return (self.predict_proba(X)[:, 1] >= self.decision_threshold).astype(int)

    def __call__(self, X) -> np.ndarray:  # noqa: N803
        """P(favourable): lets shap explain the rule like any other function of its input."""
        return self.predict_proba(X)[:, 1]


def score_pipeline(rule: ExternalScores, features: pd.DataFrame, decision_threshold: float
                   ) -> Pipeline:
    """The score column alone, through the rule; shaped like the pipelines trained here.

    `features` (rows with the dataset's model features) only fixes the input columns: the rule
    learns nothing from them.
    """
    pre = ColumnTransformer([("score", "passthrough", [rule.column])],
                            verbose_feature_names_out=False)
    pipeline = Pipeline([("pre", pre), ("est", ScoreRule(rule.favourable_when, rule.threshold,
                                                         decision_threshold))])
    return pipeline.fit(features)


def load_model_file(root: Path, declared: ExternalModel, spec: DatasetSpec) -> Pipeline:
    """The model file, loaded only if every type in it is trusted; shaped like ours or refused."""
    import skops.io as sio

    path = root / declared.path
    untrusted = sorted(set(sio.get_untrusted_types(file=path)) - set(declared.trusted_types))
    if untrusted:
        raise DataError(f"{declared.path}: type(s) {untrusted} are not in "
                        "external_model.trusted_types; review them, then list them to load it")
    model = sio.load(path, trusted=list(declared.trusted_types))
    _check_shape(model, declared.path, spec)
    return model


def _check_shape(model, path: str, spec: DatasetSpec) -> None:
    """What the reports need: a Pipeline(pre, est) over the model features, classes 0 and 1."""
    if not (isinstance(model, Pipeline) and {"pre", "est"} <= set(model.named_steps)):
        raise DataError(f"{path}: not a scikit-learn Pipeline with steps 'pre' (the column "
                        "transformer) and 'est' (the classifier); the explanation report needs "
                        "that shape")
    expected, found = set(spec.model_features), set(getattr(model, "feature_names_in_", []))
    if expected != found:
        raise DataError(f"{path}: the model's input columns differ from the dataset's model "
                        f"features: missing {sorted(expected - found)}, extra "
                        f"{sorted(found - expected)}")
    if [int(c) for c in model.classes_] != [0, 1]:
        raise DataError(f"{path}: classes {list(model.classes_)} are not [0, 1] (1 = the "
                        "favourable outcome)")


def describe(root: Path, spec: DatasetSpec) -> dict:
    """The record the card and candidate.json keep: what the model is and where it came from."""
    if spec.external_model is not None:
        declared = spec.external_model
        return {"kind": "model_file", "path": declared.path,
                "sha256": sha256_of_file(root / declared.path),
                "loaded_with": "skops.io", "trusted_types": list(declared.trusted_types),
                "provenance": declared.provenance, "not_trained_here": NOT_TRAINED_HERE}
    rule = spec.external_scores
    return {"kind": "scores", "column": rule.column,
            "rule": f"favourable when {rule.column} {rule.favourable_when} {rule.threshold:g}",
            "provenance": rule.provenance, "not_trained_here": NOT_TRAINED_HERE}
