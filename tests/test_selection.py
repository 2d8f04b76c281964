"""Dagster's string selections parse in the project's environment (the ANTLR pitfall)."""

from importlib import metadata

from dagster import AssetSelection

from governance_assets import defs
from governance_assets.core.decide.gate_catalog import GATES


def test_antlr_runtime_is_the_one_dagster_needs():
    assert metadata.version("antlr4-python3-runtime").startswith("4.13")


def test_group_string_selection_resolves_to_the_evaluation_assets():
    graph = defs.resolve_asset_graph()
    selected = AssetSelection.from_string("group:evaluation").resolve(graph)
    assert {k.to_user_string() for k in selected} == {
        "performance_report", "proxy_report", "fairness_report", "explanation_report",
        "drift_report", "robustness_report", "reference_agreement_report"}


def test_whole_graph_job_and_stopped_schedule_are_defined():
    job = defs.resolve_job_def("governed_graph")
    assert len(job.asset_layer.asset_graph.get_all_asset_keys()) == 16
    checks = {key.name for key in job.asset_layer.asset_graph.asset_check_keys}
    assert "every_blocking_gate_passed" in checks and len(checks) == len(GATES) + 1
    schedule = defs.resolve_schedule_def("weekly_retraining")
    assert schedule.default_status.value == "STOPPED"


def test_monitoring_runs_apart_from_the_main_job_and_starts_stopped():
    graph_job = defs.resolve_job_def("governed_graph")
    keys = {k.to_user_string() for k in graph_job.asset_layer.asset_graph.get_all_asset_keys()}
    assert not keys & {"scored_batch", "batch_monitoring"}
    search = defs.resolve_job_def("search_to_promotion")
    searched = {k.to_user_string()
                for k in search.asset_layer.asset_graph.get_all_asset_keys()
                if search.asset_layer.asset_graph.get(k).is_executable}
    assert "model_search" in searched and "staging_model" in searched
    assert not searched & {"validated_dataset", "dataset_splits", "batch_monitoring"}
    assert defs.resolve_schedule_def("batch_monitoring_schedule").default_status.value == \
        "STOPPED"
    for name in ("drift_research_sensor", "fairness_rollback_sensor"):
        assert defs.resolve_sensor_def(name).default_status.value == "STOPPED"
