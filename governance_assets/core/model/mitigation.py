"""fairlearn mitigation of the chosen model, as a classifier every report can evaluate.

- `threshold_optimizer` (post-processing): group-specific thresholds on the chosen pipeline's
  scores. It reads the sensitive attribute at decision time ("fairness through awareness"),
  so the attribute becomes a model input and the card says so.
- `exponentiated_gradient` (reductions): a weighted mix of the chosen family refit under a
  fairness constraint. The attribute is used only while fitting, never at decision time.

Both are fitted on train + validation, like the refit; the golden set stays unseen.

Both mitigators decide at random: a row between two thresholds (or between the ensemble's
classifiers) is favoured with probability p. fairlearn's `predict` draws that coin from a
seeded stream, so a row's decision would depend on the batch it came in. Here the coin is the
row's own content hash, a uniform number in [0, 1): the same row gets the same decision in any
batch, and group rates match fairlearn's randomized decisions in expectation. Thresholding p at
0.5 instead would drop the randomization and with it the fairness the mitigator fitted (on
census it turned a 0.24 ratio into 0.70 the other way). `predict_proba` therefore returns the
decision itself (0 or 1), so the candidate's AUC is that of a hard decision, lower than the
base model's scores give.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.pipeline import Pipeline

METHODS_USING_ATTRIBUTE = {"threshold_optimizer"}


class MitigatedClassifier(ClassifierMixin, BaseEstimator):
    """The chosen pipeline (`base`) and what the fitted fairlearn mitigator decides with.

    Only that is kept (ThresholdOptimizer's fitted thresholder; ExponentiatedGradient's
    classifiers and weights), not the mitigator with its pandas training state: a model is
    stored with skops (core/model/model_files.py), which rebuilds no pandas objects.
    """

    def __init__(self, base: Pipeline, method: str, constraint: str, sensitive_feature: str,
                 ratio_bound: float | None = None, max_iter: int = 50,
                 objective: str = "accuracy_score"):
        self.base = base
        self.method = method
        self.constraint = constraint
        self.sensitive_feature = sensitive_feature
        self.ratio_bound = ratio_bound
        self.max_iter = max_iter
        self.objective = objective

    @property
    def uses_attribute_at_decision_time(self) -> bool:
        return self.method in METHODS_USING_ATTRIBUTE

    def _base_features(self) -> list[str]:
        return list(self.base.feature_names_in_)

    def fit(self, X: pd.DataFrame, y: pd.Series, sensitive: pd.Series, seed: int = 0
            ) -> MitigatedClassifier:
        features = self._base_features()
        if self.method == "threshold_optimizer":
            from fairlearn.postprocessing import ThresholdOptimizer

            self.thresholder_ = ThresholdOptimizer(
                estimator=self.base, constraints=self.constraint, prefit=True,
                objective=self.objective,
                predict_method="predict_proba").fit(
                X[features], y, sensitive_features=sensitive).interpolated_thresholder_
        else:
            from fairlearn.reductions import (
                DemographicParity,
                EqualizedOdds,
                ExponentiatedGradient,
                TruePositiveRateParity,
            )

            moment = {"demographic_parity": DemographicParity, "equalized_odds": EqualizedOdds,
                      "true_positive_rate_parity": TruePositiveRateParity}[self.constraint]
            pre = self.base.named_steps["pre"]
            estimator = clone(self.base.named_steps["est"])
            if "random_state" in estimator.get_params():
                estimator.set_params(random_state=seed)
            bound = {} if self.ratio_bound is None else {"ratio_bound": self.ratio_bound}
            reduction = ExponentiatedGradient(estimator, moment(**bound),
                                              max_iter=self.max_iter).fit(
                np.asarray(pre.transform(X[features]), dtype=float), y,
                sensitive_features=sensitive)
            self.ensemble_ = list(reduction.predictors_)
            self.weight_order_ = [int(label) for label in reduction.weights_.index]
            self.weights_ = reduction.weights_.to_numpy(dtype=float)
        names = features + ([self.sensitive_feature]
                            if self.uses_attribute_at_decision_time else [])
        self.feature_names_in_ = np.array(names, dtype=object)
        self.classes_ = np.array([0, 1])
        return self

    def favourable_probability(self, X: pd.DataFrame) -> np.ndarray:
        """The mitigator's probability of a favourable decision for each row."""
        features = self._base_features()
        if self.method == "threshold_optimizer":
            return self.thresholder_._pmf_predict(
                X[features], sensitive_features=X[self.sensitive_feature].astype(str))[:, 1]
        encoded = np.asarray(self.base.named_steps["pre"].transform(X[features]), dtype=float)
        return self._ensemble_probability(encoded)

    def _ensemble_probability(self, encoded: np.ndarray) -> np.ndarray:
        """ExponentiatedGradient's probability of a favourable decision, computed as its own
        `_pmf_predict` does (same columns, same order, same dot product, so the same figures):
        the weighted share of the ensemble's classifiers that decide favourably."""
        weight = dict(zip(self.weight_order_, self.weights_, strict=True))
        votes = pd.DataFrame({t: np.zeros(len(encoded)) if weight[t] == 0 else
                              classifier.predict(encoded)
                              for t, classifier in enumerate(self.ensemble_)})
        weights = pd.Series(self.weights_, index=self.weight_order_)
        return votes[self.weight_order_].dot(weights).to_numpy()

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        decided = (self.favourable_probability(X) > row_uniform(X)).astype(float)
        return np.column_stack([1.0 - decided, decided])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def row_uniform(rows: pd.DataFrame) -> np.ndarray:
    """A number in [0, 1) fixed by each row's values (pandas' stable hash), not its batch."""
    hashed = pd.util.hash_pandas_object(rows, index=False).to_numpy(dtype=np.uint64)
    return (hashed >> np.uint64(11)).astype(np.float64) / float(2 ** 53)


def mitigate(base: Pipeline, rows: pd.DataFrame, target: pd.Series, method: str,
             constraint: str, sensitive_feature: str, seed: int,
             ratio_bound: float | None = None, max_iter: int = 50,
             objective: str = "accuracy_score") -> MitigatedClassifier:
    model = MitigatedClassifier(base, method, constraint, sensitive_feature, ratio_bound,
                                max_iter, objective)
    return model.fit(rows, target, rows[sensitive_feature].astype(str), seed)


def describe(model: object) -> dict:
    """What the card says about mitigation, including use of the attribute at decision time."""
    if not isinstance(model, MitigatedClassifier):
        return {"method": "none", "uses_sensitive_attribute_at_decision_time": False}
    return {"method": model.method, "constraint": model.constraint,
            "sensitive_feature": model.sensitive_feature,
            "library": "fairlearn " + ("ThresholdOptimizer (post-processing)"
                                       if model.method == "threshold_optimizer"
                                       else "ExponentiatedGradient (reductions)"),
            "fitted_on": "train + validation splits",
            "ratio_bound": model.ratio_bound,
            "uses_sensitive_attribute_at_decision_time": model.uses_attribute_at_decision_time}
