"""The governed graph materialized for real: gates both ways, the promotion guard, bad input."""

import hashlib
import shutil

import numpy as np
import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance

from governance_assets.assets import staging_model
from governance_assets.core.decide.decisions import SCHEMA as DECISION_SCHEMA
from governance_assets.core.decide.gate_catalog import GATES
from governance_assets.core.files import md5_of_file, read_json
from governance_assets.core.record import registry
from governance_assets.core.report.card import validate_card

from .conftest import (
    GERMAN,
    check_results,
    layout,
    make_project,
    materialized,
    run_graph,
    set_params,
)
from .signing import keys

__all__ = ["keys"]  # a fixture, used by name

DOWNSTREAM_OF_VALIDATION = {"dataset_splits", "model_search", "candidate_model",
                            "performance_report", "fairness_report", "explanation_report",
                            "drift_report", "model_card", "compliance_report",
                            "promotion_decision", "staging_model"}


def blocked_after(result, failing_check: str, root) -> None:
    """Refused: the card and the decision record say so and why; staging is never built."""
    evaluation = check_results(result)[failing_check]
    assert not evaluation.passed and evaluation.metadata["blocks_promotion"].value is True
    assert evaluation.description.startswith("BLOCKS PROMOTION: ")
    assert not result.success
    assert "staging_model" not in materialized(result)
    assert {"model_card", "compliance_report", "promotion_decision"} <= materialized(result)
    assert not check_results(result)["every_blocking_gate_passed"].passed
    card = read_json(root / "reports/model_card.json")
    assert validate_card(card, layout(root).card_schema) == []
    assert card["decision"]["status"] == "blocked"
    assert failing_check in card["decision"]["refused_by"]
    [line] = [line for line in (root / "reports/model_card.md").read_text().splitlines()
              if line.startswith("**Decision: BLOCKED** by")]
    assert failing_check in line
    decision = read_json(root / "reports/decision.json")
    assert decision["decision"] == "blocked" and failing_check in decision["refused_by"]
    assert decision["candidate_sha256"] == read_json(root / "models/candidate.json")["sha256"]
    assert validate_card(decision, DECISION_SCHEMA) == []
    assert any(path.name.endswith("-blocked.json")
               for path in (root / "registry/decisions").iterdir())


def test_bundled_data_passes_every_blocking_gate_and_is_staged(passing):
    root, _, result = passing
    assert result.success
    checks = check_results(result)
    assert len(checks) == len(GATES) + 1   # every gate and the promotion check
    blocking_failures = [n for n, e in checks.items()
                         if not e.passed and e.metadata["blocks_promotion"].value]
    assert blocking_failures == []
    assert checks["demographic_parity"].description.startswith(
        "insufficient evidence, warning, does not block promotion: largest demographic parity "
        "difference")
    assert checks["four_fifths_rule"].metadata["value"].value == pytest.approx(0.92, abs=0.03)
    assert 0.1 < checks["equalized_odds"].metadata["value"].value <= 0.2
    # Not the near-constant approver of a fixed 0.5: it refuses a share of defaulters.
    performance = read_json(root / "reports/performance.json")["metrics"]
    assert performance["selection_rate"]["value"] < 0.95
    for gate, metric in (("decision_skill", "balanced_accuracy"),
                         ("adverse_refusal", "adverse_refusal_rate")):
        assert checks[gate].metadata["outcome"].value == "pass"
        assert checks[gate].metadata["value"].value == performance[metric]["value"]
        low, high = performance[metric]["ci95"]
        assert low < performance[metric]["value"] < high
    assert performance["balanced_accuracy"]["ci95"][0] > 0.5
    staged = read_json(root / "reports/staging.json")
    assert registry.get_alias(root / "registry", "staging") == staged["version"]
    manifest = registry.manifest(root / "registry", staged["version"])
    assert manifest["model_sha256"] == read_json(root / "models/candidate.json")["sha256"]


def test_card_records_lineage_gates_and_validates(passing):
    root, _, result = passing
    card = read_json(root / "reports/model_card.json")
    assert validate_card(card, layout(root).card_schema) == []
    assert card["data_lineage"]["md5"] == md5_of_file(GERMAN)
    assert card["data_lineage"]["data_version"] == md5_of_file(GERMAN)
    assert {g["gate"] for g in card["gates"]} >= {"four_fifths_rule", "equalized_odds",
                                                  "drift_psi", "schema"}
    assert card["drift"]["simulated"] is True
    assert any("0.2, not the common 0.1" in item for item in card["limitations"])
    for metric in ("balanced_accuracy", "adverse_refusal_rate"):
        assert len(card["performance"]["metrics"][metric]["ci95"]) == 2
        assert f"| {metric} |" in (root / "reports/model_card.md").read_text()
    assert {"decision_skill", "adverse_refusal"} <= {g["gate"] for g in card["gates"]}
    markdown = (root / "reports/model_card.md").read_text()
    assert "co2_eq_emissions:\n  emissions: " in markdown and "| four_fifths_rule |" in markdown


def test_raw_data_version_is_the_dvc_md5(passing):
    _, instance, _ = passing
    event = instance.get_latest_materialization_event(AssetKey("raw_dataset"))
    assert event.asset_materialization.tags["dagster/data_version"] == md5_of_file(GERMAN)


def test_an_equalized_odds_bound_below_the_measured_gap_blocks_the_same_model(tmp_path,
                                                                              instance):
    root = make_project(tmp_path, policy__max_equalized_odds_difference=0.05)
    result = run_graph(root, instance)
    blocked_after(result, "equalized_odds", root)
    assert registry.get_alias(root / "registry", "staging") is None


def test_a_latency_budget_no_machine_meets_blocks_the_candidate(tmp_path, instance):
    """The gate measures for real under the test budget's override: 1 ns is never met."""
    root = make_project(tmp_path, policy__max_latency_ms=1e-6)
    result = run_graph(root, instance)
    blocked_after(result, "latency_budget", root)


def inject_bias(root) -> None:
    """Most women relabelled bad, and the model allowed to see the code that carries sex."""
    frame = pd.read_csv(GERMAN, dtype=str)
    women = frame["personal_status_and_sex"].eq("A92")
    rng = np.random.default_rng(7)
    frame.loc[women & (rng.random(len(frame)) < 0.8), "credit_risk"] = "2"
    frame.to_csv(root / "data/raw/german_credit.csv", index=False)
    set_params(root, datasets__german_credit__exclude_from_model=["age_in_years",
                                                                  "foreign_worker"])


def test_injected_bias_is_blocked_and_promotion_refused_even_when_selected_alone(
        tmp_path, instance):
    root = make_project(tmp_path, model__search__trials=6,
                        model__search__mitigated_variants__when="never")
    inject_bias(root)
    stopped = run_graph(root, instance)   # the search's fairness constraint sees it first
    search = check_results(stopped)["feasible_trial"]
    assert not search.passed and "disparate_impact ruled out 6 of 6 trial(s)" in \
        search.description
    assert "candidate_model" not in materialized(stopped)
    set_params(root, model__search__constraints__min_disparate_impact=None,
               model__search__constraints__max_perturbation_auc_drop=None)
    result = run_graph(root, instance)    # without it, the golden-set gates refuse the model
    blocked_after(result, "four_fifths_rule", root)
    assert check_results(result)["four_fifths_rule"].metadata["value"].value < 0.5
    assert not check_results(result)["protected_influence"].passed
    flip = check_results(result)["counterfactual_flip"]
    assert not flip.passed and flip.metadata["value"].value > 0.05
    assert "worst: sex, swapping personal_status_and_sex" in flip.description

    with DagsterInstance.ephemeral() as another:  # verdicts live with the project, not the instance
        alone = run_graph(root, another, selection=[staging_model])
    assert not alone.success and "staging_model" not in materialized(alone)
    [failure] = alone.get_step_failure_events()
    message = failure.step_failure_data.error.message
    assert "staging promotion refused" in message and "four_fifths_rule" in message
    assert registry.get_alias(root / "registry", "staging") is None


def test_a_mitigated_candidate_goes_through_every_gate_and_the_card_says_it_reads_sex(
        tmp_path, instance):
    """ThresholdOptimizer reads sex at decision time: the flip test sees it and blocks it."""
    root = make_project(tmp_path, model__mitigation={"method": "threshold_optimizer",
                                                     "constraint": "demographic_parity",
                                                     "sensitive_feature": "sex"})
    result = run_graph(root, instance)
    blocked_after(result, "counterfactual_flip", root)
    assert len(check_results(result)) == len(GATES) + 1
    fairness = read_json(root / "reports/fairness.json")
    comparison = fairness["mitigation"]
    assert comparison["uses_sensitive_attribute_at_decision_time"] is True
    assert comparison["without"]["auc"] != comparison["with"]["auc"]
    sex = fairness["counterfactual"]["attributes"]["sex"]
    assert sex["model_reads_attribute"] and sex["attribute"]["swapped_columns"] == ["sex"]
    assert read_json(root / "models/candidate.json")["features"][-1] == "sex"
    card = read_json(root / "reports/model_card.json")
    assert card["mitigation"]["method"] == "threshold_optimizer"
    assert "**This model reads the sensitive attribute `sex` at decision time**" in (
        root / "reports/model_card.md").read_text()
    assert any("reads sex at decision time" in item for item in card["limitations"])


def test_drifted_current_batch_is_blocked(tmp_path, instance):
    root = make_project(tmp_path)
    frame = pd.read_csv(GERMAN, dtype=str)
    later = np.arange(len(frame)) % 4 == 0
    frame["period"] = np.where(later, "later", "earlier")
    frame.loc[later, "credit_amount"] = (frame.loc[later, "credit_amount"].astype(int) * 4
                                         ).astype(str)
    frame.to_csv(root / "data/raw/german_credit.csv", index=False)
    set_params(root, datasets__german_credit__time={"column": "period", "reference": "earlier",
                                                     "current": "later"})
    result = run_graph(root, instance)
    drift = check_results(result)["drift_psi"]
    assert not drift.passed and "credit_amount" in drift.description
    assert read_json(root / "reports/drift.json")["simulated"] is False
    blocked_after(result, "drift_psi", root)


def test_regression_against_production_is_blocked(passing, tmp_path, instance, keys):
    root = tmp_path / "project"
    shutil.copytree(passing[0], root)
    production = read_json(root / "reports/staging.json")["version"]
    # a strong production, approved and promoted with signed keys (the shared run is unsigned)
    keys.promote(root / "registry", production, keys.adopt(root, require_signed_run=False))
    # A weaker model: the search's own floors are loosened so that one is found and judged.
    set_params(root, datasets__german_credit__exclude_from_model=[
        "personal_status_and_sex", "age_in_years", "foreign_worker",
        "status_of_existing_checking_account", "credit_history", "duration_in_month"],
        model__search__constraints__max_perturbation_auc_drop=None,
        model__search__constraints__min_disparate_impact=None, policy__min_auc=0.6)
    result = run_graph(root, instance)
    verdict = check_results(result)["no_regression"]
    assert not verdict.passed and production in verdict.description
    assert verdict.metadata["value"].value > 0.02
    regression = read_json(root / "reports/performance.json")["regression"]
    assert regression["production_version"] == production and regression["ci95"][0] > 0
    blocked_after(result, "no_regression", root)
    assert registry.get_alias(root / "registry", "staging") == production, "staging untouched"


def _snapshot(root) -> dict[str, str]:
    """Hashes of everything downstream of validation, and of the registry (its append-only
    ledger aside)."""
    paths = [p for base in ("data/prepared/splits", "models", "registry", "reports")
             for p in (root / base).rglob("*")
             if p.is_file() and "verdicts" not in p.parts
             and p.name not in ("ledger.jsonl", "ledger.head")]
    skip = {"validation.json", "data.json"}
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in paths if p.name not in skip and ".lock" not in p.name}


def _drop(column):
    return lambda frame: frame.drop(columns=column)


def _set(column, row, value):
    def change(frame):
        frame.loc[row, column] = value
        return frame
    return change


def _few_young(frame):
    young = frame["age_in_years"].astype(int) < 25
    return pd.concat([frame[~young], frame[young].head(5)])


BAD_INPUTS = {
    "missing target": (_drop("credit_risk"), "schema", "required column 'credit_risk'"),
    "unknown label": (_set("credit_risk", 3, "7"), "label_sanity",
                      "column 'credit_risk' rule known_label"),
    "empty file": (None, "schema", "the file has no data rows"),
    "missing sensitive column": (_drop("personal_status_and_sex"), "sensitive_groups",
                                 "column 'personal_status_and_sex' rule sensitive_present"),
    "text in numeric column": (_set("duration_in_month", 7, "twelve"), "schema",
                               "column 'duration_in_month' rule numeric"),
    "group below minimum": (_few_young, "sensitive_groups", "column 'age_band' rule "
                                                            "min_group_size"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_stops_at_validation_and_overwrites_nothing(case, passing, tmp_path):
    change, gate, expected = BAD_INPUTS[case]
    root = tmp_path / "project"
    shutil.copytree(passing[0], root)
    raw = root / "data/raw/german_credit.csv"
    if change is None:
        raw.write_text("")
    else:
        change(pd.read_csv(raw, dtype=str)).to_csv(raw, index=False)
    before = _snapshot(root)
    with DagsterInstance.ephemeral() as instance:
        result = run_graph(root, instance)
        evaluation = check_results(result)[gate]
        assert not evaluation.passed
        assert "data/raw/german_credit.csv" in evaluation.description
        assert expected in evaluation.description
        assert materialized(result).isdisjoint(DOWNSTREAM_OF_VALIDATION)
        assert _snapshot(root) == before
        assert not (root / "data/prepared/validated.parquet").exists()
        if case == "unknown label":
            alone = run_graph(root, instance, selection=[staging_model])
            assert not alone.success and not materialized(alone)
