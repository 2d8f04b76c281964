"""The constraint-aware search on the real German credit splits: constraints select, the
rejection log names constraint and margin, the same seed gives the same trace, the golden set
never reaches the search or the refit, an infeasible search blocks, emissions are recorded."""

import json
import re
import shutil

import pytest
from dagster import DagsterInstance

from governance_assets.assets import candidate_model, model_search
from governance_assets.core.data.raw_files import read_raw
from governance_assets.core.data.splits import split_dataset
from governance_assets.core.data.validation import validate
from governance_assets.core.decide import model_gates
from governance_assets.core.files import read_json, sha256_of_file
from governance_assets.core.model import search, search_replay, search_trace, search_trials
from governance_assets.core.model.search_view import pareto_front
from governance_assets.core.record import registry
from governance_assets.core.report import markdown

from .conftest import (
    REPO,
    check_results,
    make_project,
    materialized,
    params_of,
    run_graph,
    set_params,
)

REJECTION = re.compile(r"^trial \d+ rejected: (\w+) [\d.]+ [<>] [\d.]+( on [^(]+)? "
                       r"\(margin -[\d.e-]+\)")


@pytest.fixture(scope="module")
def params(tmp_path_factory):
    return params_of(make_project(tmp_path_factory.mktemp("search")))


@pytest.fixture(scope="module")
def splits(params):
    spec = params.datasets["german_credit"]
    frame, report = validate(read_raw(REPO / spec.path), spec, params.policy, spec.path)
    assert report.valid
    return split_dataset(frame, spec, params.split).frames


def _with(params, trials: int, seed: int | None = None, **constraints):
    """The bundled params with a smaller budget and other search constraints."""
    settings = params.model.search
    changed = settings.model_copy(update={
        "trials": trials, "seed": settings.seed if seed is None else seed,
        "constraints": settings.constraints.model_copy(update=constraints)})
    return params.model_copy(update={"model": params.model.model_copy(
        update={"search": changed})})


def test_a_size_only_logistic_regression_meets_selects_it_and_logs_why_others_fail(
        params, splits):
    tight = _with(params, trials=8, max_model_size_kb=20, min_disparate_impact=None)
    outcome = search.run_search(splits["train"], splits["validation"], tight)
    families = {t.algorithm for t in outcome.trials}
    assert families >= {"hist_gradient_boosting", "random_forest"}, "both big families tried"
    assert outcome.champion.algorithm == "logistic_regression"
    trace = search_trace.trace(outcome, tight)
    for trial in trace["trials"]:
        size = next(c for c in trial["constraints"] if c["name"] == "model_size_kb")
        assert size["passed"] is (trial["model_size_kb"] <= 20)
        assert size["margin"] == pytest.approx(20 - trial["model_size_kb"])
        if trial["algorithm"] != "logistic_regression":
            assert not trial["feasible"]
            assert REJECTION.match(trial["rejection_reason"]), trial["rejection_reason"]
            assert f"model_size_kb {trial['model_size_kb']:.4g} > 20" in \
                trial["rejection_reason"]
    assert "model_size_kb ruled out" in trace["rejection_summary"]
    assert trace["champion"]["algorithm"] == "logistic_regression"
    assert "the best of" in trace["champion_reason"]


def test_the_fairness_constraint_rejects_by_name_group_and_margin(params, splits):
    outcome = search.run_search(splits["train"], splits["validation"], _with(params, trials=6))
    rejected = [t for t in outcome.trials
                if not next(c for c in t.checks if c.name == "disparate_impact").passed]
    assert rejected, "the bundled 0.9 guard band rejects some trials on German credit"
    for trial in rejected:
        check = next(c for c in trial.checks if c.name == "disparate_impact")
        assert check.value < 0.9 and check.margin == pytest.approx(check.value - 0.9, abs=1e-6)
        assert (f"disparate_impact {check.value:.4g} < 0.9 on {check.where} "
                f"(margin {check.margin:+.4g})") in trial.rejection_reason()
        assert check.where.split(":")[0] in params.active.sensitive_features
    assert all(t.fairness["disparate_impact"] >= 0.9 for t in outcome.trials if t.feasible)


def test_same_seed_same_trace_bytes_and_another_seed_another_trace(params, splits):
    small = _with(params, trials=5)
    first = search_trace.trace(search.run_search(splits["train"], splits["validation"], small),
                               small)
    again = search_trace.trace(search.run_search(splits["train"], splits["validation"], small),
                               small)
    assert json.dumps(first, sort_keys=True) == json.dumps(again, sort_keys=True)
    other = _with(params, trials=5, seed=7)
    moved = search_trace.trace(search.run_search(splits["train"], splits["validation"], other),
                               other)
    assert search_trace.comparable(moved["trials"]) != search_trace.comparable(first["trials"])


def _recorded(params, splits) -> dict:
    return search_trace.trace(search.run_search(splits["train"], splits["validation"], params),
                              params)


def _forests_only(params, trials: int):
    """One family whose fit draws from its seed (a logistic regression does not)."""
    small = _with(params, trials=trials, min_disparate_impact=None,
                  max_perturbation_auc_drop=None)
    return small.model_copy(update={"model": small.model.model_copy(update={
        "search": small.model.search.model_copy(update={
            "banned": ["logistic_regression", "hist_gradient_boosting"]})})})


def test_the_replay_proposes_and_refits_what_the_search_recorded(params, splits):
    small = _with(params, trials=6, min_disparate_impact=0.8, max_perturbation_auc_drop=None)
    recorded = _recorded(small, splits)
    before, after = search_replay.replay(recorded, splits["train"], splits["validation"], small)
    assert recorded["champion_trial_id"] is not None
    assert len(after["proposals"]) == 6 and len(after["trials"]) == 2
    assert after["trials"][0]["trial_id"] == recorded["champion_trial_id"]
    assert after == before
    assert model_gates.search_reproducible(before, after, "reports/search.json").passed
    slow = [dict(t, constraints=[*t["constraints"], {"name": "latency_p99_ms",
                                                     "passed": False}])
            if t["trial_id"] == recorded["champion_trial_id"] else t
            for t in recorded["trials"]]
    assert search_replay.replayed_champion(slow, []) not in (None,
                                                              recorded["champion_trial_id"])


def test_a_sampler_drawing_other_values_fails_the_replay(params, splits):
    """The mutation: the replay's sampler is seeded otherwise than the recorded search's."""
    small = _with(params, trials=6, min_disparate_impact=0.8, max_perturbation_auc_drop=None)
    recorded = _recorded(small, splits)
    before, after = search_replay.replay(recorded, splits["train"], splits["validation"],
                                         _with(small, trials=6, seed=small.model.search.seed + 1))
    verdict = model_gates.search_reproducible(before, after, "reports/search.json")
    assert not verdict.passed and "differs: proposals of trials [0," in verdict.message


def test_an_estimator_seeded_otherwise_on_each_fit_fails_the_replay(params, splits,
                                                                   monkeypatch):
    """The mutation: every fit draws a fresh seed, so the champion's refit moves; the same
    search with the seeded estimator replays clean."""
    forests = _forests_only(params, trials=4)
    recorded = _recorded(forests, splits)
    before, after = search_replay.replay(recorded, splits["train"], splits["validation"],
                                         forests)
    assert model_gates.search_reproducible(before, after, "reports/search.json").passed
    seeds = iter(range(1000, 2000))
    build = search_trials.build_pipeline
    monkeypatch.setattr(search_trials, "build_pipeline",
                        lambda family, spec, model, _seed, chosen=None:
                        build(family, spec, model, next(seeds), chosen))
    recorded = _recorded(forests, splits)
    before, after = search_replay.replay(recorded, splits["train"], splits["validation"],
                                         forests)
    verdict = model_gates.search_reproducible(before, after, "reports/search.json")
    assert not verdict.passed and f"refitted trials [{recorded['champion_trial_id']}" in \
        verdict.message


@pytest.mark.parametrize(("change", "expected"), [
    ({"banned": ["logistic_regression", "hist_gradient_boosting", "random_forest"]},
     "bans every family in model.candidates"),
    ({"space": {"random_forest": {"n_trees": {"low": 10, "high": 20}}}},
     "model.search.space.random_forest: unknown hyperparameter(s) ['n_trees']"),
    ({"space": {"logistic_regression": {"C": {"low": 0, "high": 1, "log": True}}}},
     "a log-scaled range needs low > 0"),
])
def test_a_bad_search_block_is_named_before_anything_runs(tmp_path, change, expected):
    from governance_assets.core.params import ParamsError

    root = make_project(tmp_path)
    for key, value in change.items():
        set_params(root, **{f"model__search__{key}": value})
    with pytest.raises(ParamsError) as error:
        params_of(root)
    assert expected in str(error.value)


def test_the_hyperparameter_table_is_what_the_installed_estimators_accept(params):
    """params checks search spaces against a table, not an import: it must not drift from the
    estimators the search really builds."""
    from typing import get_args

    from governance_assets.core.model.training import build_pipeline
    from governance_assets.core.params import HYPERPARAMETERS, Family

    assert set(HYPERPARAMETERS) == set(get_args(Family))
    for family in HYPERPARAMETERS:
        built = build_pipeline(family, params.active, params.model, 0).named_steps["est"]
        assert HYPERPARAMETERS[family] == set(built.get_params()), family


def test_pareto_front_keeps_only_undominated_trials():
    points = [(0.9, 0.78, 0), (0.7, 0.81, 1), (0.8, 0.77, 2), (0.95, 0.70, 3)]
    assert pareto_front(points) == [(0.7, 0.81, 1), (0.9, 0.78, 0), (0.95, 0.70, 3)]


def test_the_passing_run_records_trace_pareto_plot_and_emissions(passing):
    root, _, result = passing
    trace = read_json(root / "reports/search.json")
    assert trace["budget"]["trials_used"] == trace["budget"]["trials"] == 12
    assert trace["search_space_hash"] == params_of(root).search_space_hash
    assert (root / "reports/search_pareto.png").stat().st_size > 0
    carbon = read_json(root / "reports/runtime/carbon.json")
    assert carbon["energy_kwh"] > 0 and carbon["emissions_kg_co2eq"] > 0
    assert set(carbon["parts"]) == {"search", "refit"}
    assert carbon["power_mode"] in ("cpu_load", "constant", "intel_rapl", "intel_power_gadget",
                                    "apple_powermetrics")
    assert carbon["country_iso_code"] == "DEU"
    card = read_json(root / "reports/model_card.json")
    assert card["carbon"]["measured"] and card["carbon"]["emissions_g"] > 0
    assert card["rejections"] == trace["rejections"]
    assert card["run_meta"]["trials_used"] == 12
    assert card["environment"]["installed"]["optuna"].startswith("5.")
    assert "co2_eq_emissions:" in (root / "reports/model_card.md").read_text()
    assert not list(root.rglob("emissions*.csv")), "codecarbon wrote no file into the project"
    checks = check_results(result)
    assert checks["search_reproducible"].passed
    assert checks["carbon_budget"].passed  # not applicable: shown as passed, with the reason
    assert "no carbon budget set" in checks["carbon_budget"].description
    assert "| trial | family |" in checks["feasible_trial"].metadata["what was judged"].value


def test_the_golden_set_never_reaches_the_search_or_the_refit(passing, tmp_path):
    """Without the golden split the search and refit give the same trace and model bytes."""
    root = tmp_path / "project"
    shutil.copytree(passing[0], root)
    (root / "data/prepared/splits/golden_test.parquet").unlink()
    before = read_json(root / "reports/search.json")
    model_before = sha256_of_file(root / "models/candidate.skops")
    with DagsterInstance.ephemeral() as instance:
        result = run_graph(root, instance, selection=[model_search, candidate_model])
    assert result.success
    assert read_json(root / "reports/search.json") == before
    assert sha256_of_file(root / "models/candidate.skops") == model_before


def test_an_infeasible_search_blocks_promotion_and_names_the_constraint(passing, tmp_path):
    root = tmp_path / "project"
    shutil.copytree(passing[0], root)
    staged = registry.get_alias(root / "registry", "staging")
    set_params(root, model__search__trials=4, model__search__constraints__max_model_size_kb=1,
               model__search__mitigated_variants__when="never")
    with DagsterInstance.ephemeral() as instance:
        result = run_graph(root, instance)
    verdict = check_results(result)["feasible_trial"]
    assert not verdict.passed
    assert markdown.text("feasible trials (out of 4) 0 fails: must be >= 1") in \
        verdict.description
    assert "model_size_kb ruled out 4 of 4 trial(s)" in verdict.description
    assert "candidate_model" not in materialized(result)
    assert registry.get_alias(root / "registry", "staging") == staged
