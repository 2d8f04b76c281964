"""SHAP explanations in the raw features' terms, with the explainer suited to the model family.

Reviewers think in raw features, so every explainer reports one value per raw feature: for a
fitted `pre` (ColumnTransformer) + `est` Pipeline the tree or linear explainer runs on the
encoded columns and a feature's one-hot columns are summed per row; any other model (a
fairness-mitigated wrapper, an unknown estimator) is explained model-agnostically over its raw
inputs, with categorical columns ordinal-coded for the masker and decoded before each call.

An exact explainer that fails (SHAP's additivity check: a tree explainer whose values do not
add up to the model's output, as for a gradient-boosted model reading missing values) never
ends the report: the discrepancy its unchecked values would carry is measured, and the
model-agnostic explainer runs instead; the attribution records both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from ..params import DatasetSpec

TREE, LINEAR = "tree", "linear"
AGNOSTIC = "permutation (model-agnostic, on a sample)"
LOG_ODDS = "log-odds of the favourable class"
PROBABILITY = "probability of the favourable class"


@dataclass(frozen=True)
class Attribution:
    """SHAP values per row and raw feature, the baseline they add to, and how they were made."""

    values: pd.DataFrame
    base_values: pd.Series
    explainer: str
    output: str
    # Set when the exact explainer failed and another ran: what failed, by how much, instead.
    fallback: dict | None = None


class ExactExplainerFailed(Exception):
    """The tree or linear explainer could not explain the rows; `gap` is how far its values
    miss the model's output when SHAP's additivity check is turned off (None: not measured)."""

    def __init__(self, kind: str, error: Exception, gap: dict | None) -> None:
        super().__init__(f"{kind} explainer failed: {type(error).__name__}: {error}")
        self.kind, self.error, self.gap = kind, error, gap

    def record(self, rows: int) -> dict:
        gap = self.gap
        why = ("its values, with the additivity check off, miss the model output by up to "
               f"{gap['max']:.3g} ({gap['output']}; mean {gap['mean']:.3g} over {gap['rows']} "
               "rows)" if gap else "it raised before giving any values")
        return {"tried": self.kind, "error": f"{type(self.error).__name__}: "
                                             f"{str(self.error)[:300]}",
                "additivity_gap": gap, "ran": AGNOSTIC, "rows_explained": rows,
                "reason": f"the {self.kind} explainer failed: {why}; the model-agnostic "
                          "permutation explainer ran instead (its values add up to the "
                          "model's probability by construction)"}


@dataclass(frozen=True)
class RawCodec:
    """Numbers for SHAP's masker and LIME's sampler, and back to the frame the model expects."""

    features: list[str]
    levels: dict[str, list]

    @classmethod
    def fit(cls, frames: Iterable[pd.DataFrame]) -> RawCodec:
        """Categories of every non-numeric column, sorted so the same data gives the same codes."""
        frame = pd.concat(list(frames), ignore_index=True)
        levels = {c: sorted(frame[c].dropna().unique(), key=str) for c in frame.columns
                  if not pd.api.types.is_numeric_dtype(frame[c])}
        return cls(list(frame.columns), levels)

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """Numeric columns as they are, categories as their code (-1 for missing)."""
        columns = {c: pd.Categorical(frame[c], categories=self.levels[c]).codes
                   if c in self.levels else frame[c] for c in self.features}
        return pd.DataFrame(columns).to_numpy(dtype=float)

    def decode(self, array: np.ndarray) -> pd.DataFrame:
        frame = pd.DataFrame(array, columns=self.features)
        for column, levels in self.levels.items():
            codes = np.rint(frame[column].to_numpy()).astype(int)
            frame[column] = pd.Categorical.from_codes(codes, categories=levels).astype(object)
        return frame

    def favourable_probability(self, model) -> Callable[[np.ndarray], np.ndarray]:
        """The model as a function of coded rows, as model-agnostic explainers call it."""
        return lambda array: model.predict_proba(self.decode(array))[:, 1]


def protected_inputs(features: list[str], spec: DatasetSpec, proxies: tuple[str, ...] | list[str]
                     = ()) -> list[str]:
    """Model inputs carrying protected information (as DatasetSpec.protected_model_features,
    over the model's actual inputs, which for a mitigated model may include `sex` itself),
    with the proxies the proxy screen detected."""
    protected = set(spec.protected_columns) | set(spec.proxies) | set(spec.sensitive_features)
    protected |= set(proxies)
    protected |= {d.source for d in spec.derived.values()}
    return [c for c in features if c in protected]


def _encoded_estimator(model) -> object | None:
    """The estimator behind a fitted pre/est Pipeline, or None for any other model."""
    if isinstance(model, Pipeline) and {"pre", "est"} <= set(model.named_steps):
        return model.named_steps["est"]
    return None


def explainer_kind(model) -> str:
    """Exact and fast explainers where the family allows it, the model-agnostic one otherwise."""
    estimator = _encoded_estimator(model)
    if isinstance(estimator, HistGradientBoostingClassifier | RandomForestClassifier):
        return TREE
    if isinstance(estimator, LogisticRegression):
        return LINEAR
    return AGNOSTIC


def shap_by_feature(model, background: pd.DataFrame, rows: pd.DataFrame, seed: int,
                    permutations: int, fall_back: bool = True) -> Attribution:
    """SHAP values of `rows` per raw feature, against `background` rows of the training data.

    When the exact explainer fails, the model-agnostic one explains the same rows (the
    attribution's `fallback` says why); fall_back=False raises ExactExplainerFailed instead,
    for a caller that explains fewer rows model-agnostically (see `fallback_attribution`).
    """
    kind = explainer_kind(model)
    if kind == AGNOSTIC:
        return _model_agnostic(model, background, rows, seed, permutations)
    try:
        return _encoded(model, kind, background, rows)
    except ExactExplainerFailed as failure:
        if not fall_back:
            raise
        return fallback_attribution(model, background, rows, seed, permutations, failure)


def fallback_attribution(model, background: pd.DataFrame, rows: pd.DataFrame, seed: int,
                         permutations: int, failure: ExactExplainerFailed) -> Attribution:
    """The model-agnostic explanation of `rows`, recording which explainer failed and how."""
    agnostic = _model_agnostic(model, background, rows, seed, permutations)
    return Attribution(agnostic.values, agnostic.base_values, agnostic.explainer,
                       agnostic.output, failure.record(len(rows)))


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


def _favourable(array: np.ndarray, axis: int) -> np.ndarray:
    """Explainers of two-output models (a random forest's probabilities) stack both classes."""
    return np.take(array, 1, axis=axis) if array.ndim > axis else array


def _encoded(pipeline: Pipeline, kind: str, background: pd.DataFrame, rows: pd.DataFrame
             ) -> Attribution:
    import shap

    pre, estimator = pipeline.named_steps["pre"], pipeline.named_steps["est"]
    encoded_background = np.asarray(pre.transform(background), dtype=float)
    encoded = np.asarray(pre.transform(rows), dtype=float)
    output = (PROBABILITY if kind == TREE and isinstance(estimator, RandomForestClassifier)
              else LOG_ODDS)
    explainer = None
    try:
        if kind == TREE:
            explainer = shap.TreeExplainer(estimator, encoded_background,
                                           feature_perturbation="interventional")
        else:
            masker = shap.maskers.Independent(encoded_background, max_samples=len(background))
            explainer = shap.LinearExplainer(estimator, masker)
        explained = explainer(encoded)
    except Exception as error:  # noqa: BLE001 - any failure of SHAP's exact explainers
        gap = (_additivity_gap(explainer, estimator, encoded, output)
               if kind == TREE and explainer is not None and "dditivity" in str(error) else None)
        raise ExactExplainerFailed(kind, error, gap) from error
    values = _favourable(np.asarray(explained.values), axis=2)
    sources = _sources_of_columns(pipeline)
    if len(sources) != values.shape[1]:
        raise ValueError(f"{len(sources)} feature sources for {values.shape[1]} SHAP columns")
    by_feature = pd.DataFrame(values).T.groupby(np.array(sources), sort=False).sum().T
    by_feature = by_feature.reindex(columns=list(rows.columns), fill_value=0.0)  # dropped: 0
    base_values = pd.Series(_favourable(np.asarray(explained.base_values), axis=1), rows.index)
    return Attribution(by_feature.set_axis(rows.index), base_values, kind, output)


def _additivity_gap(explainer, estimator, encoded: np.ndarray, output: str) -> dict | None:
    """How far the tree explainer's values, unchecked, miss the model's own output."""
    try:
        explained = explainer(encoded, check_additivity=False)
    except Exception:  # noqa: BLE001 - the gap is reported when it can be measured
        return None
    total = (_favourable(np.asarray(explained.values), axis=2).sum(axis=1)
             + _favourable(np.asarray(explained.base_values), axis=1))
    model_output = (estimator.predict_proba(encoded)[:, 1] if output == PROBABILITY
                    else estimator.decision_function(encoded))
    gap = np.abs(total - np.asarray(model_output, dtype=float))
    return {"max": round(float(gap.max()), 6), "mean": round(float(gap.mean()), 6),
            "rows": len(gap), "output": output}


def _model_agnostic(model, background: pd.DataFrame, rows: pd.DataFrame, seed: int,
                    permutations: int) -> Attribution:
    """Antithetic permutation sampling over raw features: exact for additive models, and
    `permutations` x (2 x features + 1) masked calls per row, each over the background rows."""
    import shap

    codec = RawCodec.fit([background, rows])
    masker = shap.maskers.Independent(codec.encode(background), max_samples=len(background))
    # shap seeds NumPy's global generator (from the OS when seed is None) and draws the
    # permutations from it: give it the seed, and restore the global state after.
    with seeded_global_numpy(seed):
        explainer = shap.PermutationExplainer(codec.favourable_probability(model), masker,
                                              seed=seed)
        explained = explainer(codec.encode(rows), silent=True,
                              max_evals=permutations * (2 * len(codec.features) + 1))
    values = pd.DataFrame(explained.values, columns=codec.features, index=rows.index)
    base_values = pd.Series(np.asarray(explained.base_values), rows.index)
    return Attribution(values, base_values, AGNOSTIC, PROBABILITY)


@contextmanager
def seeded_global_numpy(seed: int) -> Iterator[None]:
    """Seed NumPy's global generator for a block (shap's permutations and beeswarm jitter draw
    from it) and restore its state after, so nothing else in the process sees the seed."""
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(saved)


def global_importance(values: pd.DataFrame, protected: list[str]) -> dict:
    """Mean |SHAP| per feature and the share protected features and proxies carry together."""
    importance = values.abs().mean().sort_values(ascending=False, kind="stable")
    total = float(importance.sum())
    share = importance / total if total > 0 else importance * 0
    protected_share = float(share[[c for c in protected if c in share.index]].sum())
    return {
        "global_importance": [
            {"feature": name, "mean_abs_shap": round(float(value), 6),
             "share": round(float(share[name]), 6)}
            for name, value in importance.items()
        ],
        "protected_features": protected,
        "protected_influence_share": round(protected_share, 6),
        "rows_explained": len(values),
    }
