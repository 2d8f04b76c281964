"""Explanations on real computations: the explainer suited to each model family, a planted
dominant feature found first by a model-agnostic explainer, SHAP and LIME agreeing where they
must, local decisions covering every outcome in every group, and the same bytes on a re-run."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from governance_assets.core.data import raw_files, splits
from governance_assets.core.data import validation as validation_core
from governance_assets.core.data.columns import FAVOURABLE
from governance_assets.core.evidence import explain, explain_local, explanations
from governance_assets.core.model import training
from governance_assets.core.params import ExplainSpec, load_params

from .conftest import GERMAN, REPO

SMALL = ExplainSpec(sample_rows=40, background_rows=30, agnostic_sample_rows=40, permutations=2,
                    local_per_group=2, max_local_decisions=40, lime_samples=500)


class PlantedScorer:
    """Not a Pipeline: raw columns in, probabilities out, like a fairness-mitigated wrapper.
    Scores log-odds 3 x heavy + 0.3 x light + 0.2 for women; `noise` is never read."""

    feature_names_in_ = np.array(["heavy", "light", "noise", "sex"], dtype=object)
    classes_ = np.array([0, 1])

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        logit = (3 * frame["heavy"].astype(float) + 0.3 * frame["light"].astype(float)
                 + 0.2 * (frame["sex"] == "female"))
        favourable = 1 / (1 + np.exp(-logit.to_numpy()))
        return np.column_stack([1 - favourable, favourable])


class ThresholdShift:
    """A fitted pipeline plus a group-dependent shift of its score, as a post-processing
    mitigation reads the sensitive attribute at decision time."""

    def __init__(self, pipeline: Pipeline, sensitive: str) -> None:
        self.pipeline, self.sensitive = pipeline, sensitive
        self.feature_names_in_ = np.array([*pipeline.feature_names_in_, sensitive], dtype=object)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        score = self.pipeline.predict_proba(frame[list(self.pipeline.feature_names_in_)])[:, 1]
        score = np.clip(score + 0.15 * (frame[self.sensitive] == "female").to_numpy(), 0, 1)
        return np.column_stack([1 - score, score])


def _synthetic(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"heavy": rng.normal(size=rows), "light": rng.normal(size=rows),
                         "noise": rng.normal(size=rows),
                         "sex": rng.choice(["female", "male"], size=rows)})


@pytest.fixture(scope="module")
def german_splits():
    """German credit as the pipeline prepares it: validated, then split (train, golden)."""
    params = load_params(REPO)
    frame, _ = validation_core.validate(raw_files.read_raw(GERMAN), params.active,
                                        params.policy, "german_credit.csv")
    parts = splits.split_dataset(frame, params.active, params.split).frames
    return params, parts["train"], parts["golden_test"]


def _fitted(algorithm: str, german_splits) -> Pipeline:
    params, train, _ = german_splits
    pipeline = training.build_pipeline(algorithm, params.active, params.model, params.split.seed)
    return pipeline.fit(train[params.active.model_features], train[FAVOURABLE])


@pytest.mark.parametrize(("algorithm", "kind"), [("hist_gradient_boosting", explain.TREE),
                                                 ("random_forest", explain.TREE),
                                                 ("logistic_regression", explain.LINEAR)])
def test_each_family_gets_its_explainer_and_values_add_up_to_the_output(algorithm, kind,
                                                                         german_splits):
    params, train, golden = german_splits
    features, model = params.active.model_features, _fitted(algorithm, german_splits)
    rows = golden[features].head(15)
    attribution = explain.shap_by_feature(model, train[features].head(50), rows, seed=1,
                                          permutations=2)
    assert explain.explainer_kind(model) == attribution.explainer == kind
    assert list(attribution.values.columns) == features
    probability = model.predict_proba(rows)[:, 1]
    expected = (probability if attribution.output == explain.PROBABILITY
                else np.log(probability / (1 - probability)))
    total = attribution.values.sum(axis=1) + attribution.base_values
    np.testing.assert_allclose(total.to_numpy(), expected, atol=1e-4)


def test_any_other_model_is_explained_model_agnostically(german_splits):
    params, train, _ = german_splits
    features = params.active.model_features
    encoder = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"),
                                  ["status_of_existing_checking_account"])])
    neighbours = Pipeline([("pre", encoder), ("est", KNeighborsClassifier())])
    neighbours.fit(train[features], train[FAVOURABLE])
    assert explain.explainer_kind(neighbours) == explain.AGNOSTIC
    assert explain.explainer_kind(PlantedScorer()) == explain.AGNOSTIC


def test_planted_heavy_feature_ranks_first_for_a_model_that_is_not_a_pipeline():
    data = _synthetic(400)
    attribution = explain.shap_by_feature(PlantedScorer(), data.head(60), data.tail(120),
                                          seed=3, permutations=2)
    report = explain.global_importance(attribution.values, ["sex"])
    ranking = [r["feature"] for r in report["global_importance"]]
    assert attribution.explainer == explain.AGNOSTIC
    assert ranking[0] == "heavy" and ranking[-1] == "noise"
    assert report["global_importance"][-1]["mean_abs_shap"] == 0.0
    assert 0 < report["protected_influence_share"] < 0.1
    probability = PlantedScorer().predict_proba(data.tail(120))[:, 1]
    total = attribution.values.sum(axis=1) + attribution.base_values
    np.testing.assert_allclose(total.to_numpy(), probability, atol=1e-6)  # efficiency holds


def test_lime_agrees_with_shap_on_a_linear_model_with_a_dominant_feature():
    rng = np.random.default_rng(5)
    data = pd.DataFrame(rng.normal(size=(600, 7)), columns=[f"x{i}" for i in range(7)])
    data["colour"] = rng.choice(["blue", "green", "red"], size=len(data))
    logit = 4 * data["x0"] + 1.5 * data["x1"] + 0.8 * data["x2"] + (data["colour"] == "red")
    label = (rng.random(len(data)) < 1 / (1 + np.exp(-logit))).astype(int)
    numeric = [f"x{i}" for i in range(7)]
    pre = ColumnTransformer([("num", "passthrough", numeric),
                             ("cat", OneHotEncoder(sparse_output=False), ["colour"])])
    model = Pipeline([("pre", pre), ("est", LogisticRegression())]).fit(data, label)
    decisions = data[data["x0"].abs() > 1].head(10)
    attribution = explain.shap_by_feature(model, data.head(100), decisions, 0, 2)
    lime = explain_local.lime_weights(model, data.head(100), decisions, seed=0, samples=2000)
    entries = explain_local.decision_entries(
        decisions, pd.Series(range(len(decisions)), index=decisions.index),
        decisions[["colour"]], model.predict_proba(decisions)[:, 1], 0.5, attribution, lime)
    summary = explain_local.agreement_summary(entries, 2000)
    assert attribution.explainer == explain.LINEAR
    assert all(e["top_features"][0]["feature"] == "x0" for e in entries)
    assert all(lime.loc[i].abs().idxmax() == "x0" for i in decisions.index)
    assert summary["decisions"] == 10
    assert summary["median_spearman"] >= 0.7
    assert summary["median_top_k_overlap"] >= 0.8


def test_decisions_cover_each_outcome_in_each_group_without_repeats():
    groups = pd.DataFrame({"sex": ["f", "m", "f", "m", "f", "m", "f", "m"],
                           "age": ["y", "y", "o", "o", "o", "y", "y", "o"]})
    favourable = np.array([True, True, False, False, True, False, True, True])
    chosen = explain_local.choose_decisions(groups, favourable, per_cell=1, limit=10)
    assert len(chosen) == len(set(chosen))
    for attribute in groups:
        for group in groups[attribute].unique():
            for outcome in (True, False):
                cell = set(np.flatnonzero((groups[attribute] == group) & (favourable == outcome)))
                assert not cell or cell & set(chosen), (attribute, group, outcome)
    # rows 0-3 fill the four sex cells and two age cells; 4 (old, favourable) and 5 (young,
    # unfavourable) the other two
    assert chosen == [0, 2, 1, 3, 4, 5]
    assert len(explain_local.choose_decisions(groups, favourable, per_cell=3, limit=5)) == 5


def _report(model, german_splits, folder: Path) -> dict:
    params, train, golden = german_splits
    return explanations.explanation_report(model, params.active, SMALL, train, golden, 0.5,
                                           params.split.seed, folder, folder / "explanations")


def test_a_model_reading_sex_is_explained_by_group_and_outcome_the_same_way_twice(
        german_splits, tmp_path):
    """A mitigated-style candidate on German credit: sex is an input, so it counts as
    protected; every (attribute, group, outcome) the golden set has is explained."""
    params, _, golden = german_splits
    model = ThresholdShift(_fitted("logistic_regression", german_splits), "sex")
    first, second = tmp_path / "first", tmp_path / "second"
    report = _report(model, german_splits, first)
    assert report == _report(model, german_splits, second)
    for folder in ("", "explanations"):
        for png in sorted((first / folder).glob("*.png")):
            assert png.read_bytes() == (second / folder / png.name).read_bytes(), png.name
    assert report["explainer"] == explain.AGNOSTIC
    assert "sex" in report["protected_features"] and report["protected_influence_share"] > 0
    scores = model.predict_proba(golden[list(model.feature_names_in_)])[:, 1]
    entries = report["local_explanations"]
    for attribute in params.active.sensitive_features:
        for group in golden[attribute].astype(str).unique():
            for outcome in ("favourable", "unfavourable"):
                available = ((golden[attribute].astype(str) == group)
                             & ((scores >= 0.5) == (outcome == "favourable"))).sum()
                explained = sum(e["groups"][attribute] == group and e["prediction"] == outcome
                                for e in entries)
                assert explained >= min(available, SMALL.local_per_group), (attribute, group)
    assert all((first / "explanations" / e["waterfall"]).exists() for e in entries)
    assert len(list((first / "explanations").glob("*.png"))) == len(entries)
    assert report["shap_lime_agreement"]["decisions"] == len(entries)
    assert report["shap_lime_agreement"]["median_spearman"] > 0.5


def test_the_asset_page_shows_importance_plots_and_agreement(passing):
    _root, _instance, result = passing
    event = next(e for e in result.get_asset_materialization_events()
                 if e.asset_key.to_user_string() == "explanation_report")
    metadata = event.materialization.metadata
    text = metadata["explanations"].value
    assert "| rank | feature | mean abs SHAP | share | protected / proxy |" in text
    assert text.count("data:image/png;base64,") >= 2  # the summary and a waterfall
    assert "SHAP and LIME agree" in text
    assert metadata["explainer"].value in (explain.TREE, explain.LINEAR)


def _missing_values_pipeline() -> tuple[Pipeline, pd.DataFrame]:
    """Gradient boosting on a column with missing values that carry signal, as a passenger's
    unknown age does: SHAP's tree explainer fails its own additivity check on it."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"age": rng.normal(40, 10, 600), "amount": rng.normal(size=600),
                          "sex": rng.choice(["f", "m"], 600)})
    frame.loc[rng.random(600) < 0.2, "age"] = np.nan
    favourable = ((frame["age"].fillna(60) - 40) / 10 + frame["amount"] > 0.5).astype(int)
    pre = ColumnTransformer([("num", "passthrough", ["age", "amount"]),
                             ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                              ["sex"])])
    model = Pipeline([("pre", pre), ("est", HistGradientBoostingClassifier(random_state=0))])
    return model.fit(frame, favourable), frame


def test_a_tree_explainer_failing_its_additivity_check_falls_back_and_says_so():
    import shap

    model, frame = _missing_values_pipeline()
    background, rows = frame.head(50), frame.iloc[100:130]
    assert explain.explainer_kind(model) == explain.TREE
    with pytest.raises(shap.utils._exceptions.ExplainerError, match="Additivity check failed"):
        shap.TreeExplainer(model.named_steps["est"], model.named_steps["pre"].transform(
            background), feature_perturbation="interventional")(
            model.named_steps["pre"].transform(rows))
    with pytest.raises(explain.ExactExplainerFailed):
        explain.shap_by_feature(model, background, rows, seed=1, permutations=2,
                                fall_back=False)
    attribution = explain.shap_by_feature(model, background, rows, seed=1, permutations=2)
    fallback = attribution.fallback
    assert attribution.explainer == fallback["ran"] == explain.AGNOSTIC
    assert fallback["tried"] == explain.TREE and "Additivity check failed" in fallback["error"]
    gap = fallback["additivity_gap"]
    assert gap["rows"] == 30 and gap["output"] == explain.LOG_ODDS and gap["max"] > 0.01
    assert f"up to {gap['max']:.3g}" in fallback["reason"]
    # what ran instead adds up to the model's own probability on every row
    total = attribution.values.sum(axis=1) + attribution.base_values
    np.testing.assert_allclose(total, model.predict_proba(rows)[:, 1], atol=1e-9)


def test_an_explainer_that_cannot_even_start_falls_back(german_splits, monkeypatch):
    import shap

    def refuse(*_args, **_kwargs):
        raise TypeError("model type not yet supported by TreeExplainer")

    params, train, golden = german_splits
    features = params.active.model_features
    monkeypatch.setattr(shap, "TreeExplainer", refuse)
    attribution = explain.shap_by_feature(_fitted("random_forest", german_splits),
                                          train[features].head(20), golden[features].head(4),
                                          seed=1, permutations=1)
    assert attribution.explainer == explain.AGNOSTIC
    assert attribution.fallback["additivity_gap"] is None
    assert "raised before giving any values" in attribution.fallback["reason"]


def test_the_report_names_the_fallback_when_shap_raises_its_additivity_error(
        german_splits, tmp_path, monkeypatch):
    """The first, checked call raises SHAP's own additivity error (as on the passenger data
    set); the unchecked values are measured, the permutation explainer runs on the
    model-agnostic sample, and the report, the card's copy of it and the UI say so."""
    import shap
    from shap.utils._exceptions import ExplainerError

    checked_calls = []
    call = shap.TreeExplainer.__call__

    def failing_check(self, X, *args, check_additivity=True, **kwargs):
        if check_additivity:
            checked_calls.append(len(X))
            raise ExplainerError("Additivity check failed in TreeExplainer! (forced)")
        return call(self, X, *args, check_additivity=False, **kwargs)

    monkeypatch.setattr(shap.TreeExplainer, "__call__", failing_check)
    model = _fitted("random_forest", german_splits)
    report = _report(model, german_splits, tmp_path)
    assert checked_calls, "the tree explainer was tried first"
    fallback = report["explainer_fallback"]
    assert report["explainer"] == fallback["ran"] == explain.AGNOSTIC
    assert fallback["tried"] == explain.TREE and "(forced)" in fallback["error"]
    assert fallback["additivity_gap"]["max"] < 1e-6   # the values were right: disclosed anyway
    assert report["rows_explained"] == min(SMALL.sample_rows, SMALL.agnostic_sample_rows)
    assert report["local_explanations"] and report["protected_influence_share"] >= 0
    markdown = explanations.ui_markdown(report, [], tmp_path, tmp_path / "explanations")
    assert "Fallback: the tree explainer failed" in markdown


def test_the_card_lists_an_explainer_fallback_as_a_limitation():
    from governance_assets.core.report.card import derived_limitations

    model, frame = _missing_values_pipeline()
    attribution = explain.shap_by_feature(model, frame.head(50), frame.iloc[100:130], seed=1,
                                          permutations=1)
    fairness = {"features": {}, "intersections": {}}
    notes = derived_limitations(fairness, {}, 20, {"explainer_fallback": attribution.fallback})
    assert notes == [f"Explanations: {attribution.fallback['reason']}."]
    assert derived_limitations(fairness, {}, 20, {"explainer_fallback": None}) == []
