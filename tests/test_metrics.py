"""Metrics a dashboard can scrape, and the periodic compliance report, on real runs.

A copy of the production project (tests/test_monitoring.py's fixture: the bundled graph's
model approved into `production`, a real second model in `staging` as the shadow) gets a
compliance report, one batch monitored through Dagster, then two more batches (a drifted one
and a malformed one) through the real `governance monitor` command. The metrics file it leaves
is parsed with prometheus_client's parser and compared with each batch's report.json and with
the ledger; `governance serve-metrics` runs as a process on a real port; the Grafana
dashboard's queries are parsed with promql-parser and checked against the names emitted.
"""

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import httpx
import promql_parser
import pytest
from dagster import DagsterInstance, build_schedule_context, instance_for_test
from prometheus_client.parser import text_string_to_metric_families

from governance_assets import cli
from governance_assets.core.decide.gate_catalog import GATES
from governance_assets.core.files import read_json, sha256_of_file
from governance_assets.core.layout import Layout
from governance_assets.core.record import audit, ledger
from governance_assets.definitions import defs
from governance_assets.sensors import weekly_compliance_report

from .signing import keys
from .test_monitoring import clean_batch, drifted_batch, drop_batch, monitor, production

__all__ = ["keys", "production"]  # fixtures, used by name

DASHBOARD = Path(__file__).resolve().parents[1] / "deploy" / "grafana" / \
    "governance-monitoring.json"
# Statistics the dashboard and the issue name, each with where report.json holds it and the
# check that judges it: a metric carrying another statistic's value goes red.
STATISTICS = {
    "governance_monitoring_data_drift_max_psi": (("data_drift", "max_psi"), "feature_psi"),
    "governance_monitoring_data_drift_drifted_share": (("data_drift", "drifted_share"),
                                                       "drifted_share"),
    "governance_monitoring_prediction_drift_psi": (("prediction_drift", "psi"),
                                                   "prediction_drift"),
    "governance_monitoring_prediction_drift_ks_statistic": (("prediction_drift", "ks_statistic"),
                                                            "prediction_drift"),
    "governance_monitoring_label_drift_psi": (("label_drift", "psi"), "label_drift"),
    "governance_monitoring_performance_auc": (("performance", "auc"), "batch_auc"),
    "governance_monitoring_performance_auc_drop": (("performance", "auc_drop"), "batch_auc"),
    "governance_monitoring_fairness_disparate_impact_ratio_min": (
        ("fairness", "disparate_impact_ratio_min"), "batch_disparate_impact"),
    "governance_monitoring_shadow_agreement_rate": (("shadow", "agreement_rate"), "none"),
    "governance_monitoring_rows": (("rows",), "none"),
}


@contextmanager
def dagster_home(root: Path):
    """The project's own instance, as `governance` points Dagster at it."""
    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(root / ".dagster")
    (root / ".dagster").mkdir(exist_ok=True)
    try:
        yield
    finally:
        if previous is None:
            del os.environ["DAGSTER_HOME"]
        else:
            os.environ["DAGSTER_HOME"] = previous


@pytest.fixture(scope="module")
def monitored(production, tmp_path_factory):
    """The project after: a compliance report, `clean` monitored through Dagster (the file as
    the schedule's path leaves it is kept), `drifted` and a malformed `bad` through
    `governance monitor`."""
    root = tmp_path_factory.mktemp("metrics") / "project"
    shutil.copytree(production[0], root)
    assert cli.main(["--root", str(root), "compliance-report"]) == 0
    drop_batch(root, "clean", clean_batch(root))
    with instance_for_test() as instance:
        assert monitor(root, instance, "clean").success
    written = root / "reports/monitoring/metrics.prom"
    after_dagster = written.read_text() if written.is_file() else ""
    drop_batch(root, "drifted", drifted_batch(root))
    bad = clean_batch(root).reset_index(drop=True)
    bad.loc[7, "credit_amount"] = "lots"
    drop_batch(root, "bad", bad)
    with dagster_home(root):
        code = cli.main(["--root", str(root), "monitor"])
    assert code == 2, "a refused batch makes `governance monitor` exit 2"
    return root, production[1], after_dagster


def samples(text: str) -> list:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def by_batch(found: list, name: str, batch: str) -> list:
    return [s for s in found if s.name == name and s.labels.get("batch") == batch]


def report_value(report: dict, path: tuple[str, ...]):
    for key in path:
        report = report.get(key, {})
    return report


def test_metrics_file_holds_every_batch_statistic_with_its_check_and_level(monitored):
    """Mutations killed: two statistics swapped (max PSI exported as score PSI), a wrong check
    or level label, the feature label dropped, a refused batch missing from the status."""
    root, version, _ = monitored
    found = samples((root / "reports/monitoring/metrics.prom").read_text())
    for batch in ("clean", "drifted"):
        report = read_json(root / f"reports/monitoring/{batch}/report.json")
        for name, (path, check) in STATISTICS.items():
            value = report_value(report, path)
            [sample] = by_batch(found, name, batch)
            assert sample.value == pytest.approx(value, abs=1e-9), (batch, name)
            assert sample.labels["model_version"] == version
            assert sample.labels["check"] == check
            assert sample.labels["level"] == report["levels"].get(check, "none")
        psi = {s.labels["feature"]: s for s in by_batch(
            found, "governance_monitoring_data_drift_psi", batch)}
        assert set(psi) == set(report["data_drift"]["psi"])
        for feature, sample in psi.items():
            assert sample.value == pytest.approx(report["data_drift"]["psi"][feature])
            assert sample.labels["level"] == report["data_drift"]["feature_levels"][feature]
        levels = {s.labels["check"]: s for s in by_batch(
            found, "governance_monitoring_check_level", batch)}
        assert {c: s.labels["level"] for c, s in levels.items()} == report["levels"]
        assert all(s.value == {"NOT_MEASURED": -1, "OK": 0, "WARN": 1, "ERROR": 2}[
            s.labels["level"]] for s in levels.values())
    drifted = by_batch(found, "governance_monitoring_data_drift_psi", "drifted")
    assert {s.labels["feature"] for s in drifted if s.labels["level"] == "ERROR"} >= {
        "credit_amount", "duration_in_month"}
    status = {s.labels["batch"]: s.labels["status"] for s in found
              if s.name == "governance_monitoring_batch_status"}
    assert status == {"clean": "monitored", "drifted": "monitored", "bad": "refused"}
    threshold = {(s.labels["setting"], s.labels["level"]): s.value for s in found
                 if s.name == "governance_monitoring_level_threshold"}
    assert threshold[("monitoring.disparate_impact", "ERROR")] == 0.8
    assert threshold[("monitoring.psi", "WARN")] == 0.1


def test_the_dagster_path_writes_the_file_too(monitored):
    """Mutation killed: batch_monitoring not refreshing metrics.prom (only the CLI would)."""
    _, _, after_dagster = monitored
    batches = {s.labels.get("batch") for s in samples(after_dagster)}
    assert "clean" in batches and "drifted" not in batches


def test_gate_counters_equal_the_ledgers_verdicts_per_gate_version_and_outcome(monitored):
    """Mutations killed: a verdict counted twice or not at all, counted under another outcome,
    or a candidate's verdicts not attributed to the registry version of that candidate."""
    root, version, _ = monitored
    found = [s for s in samples((root / "reports/monitoring/metrics.prom").read_text())
             if s.name == "governance_gate_verdicts_total"]
    verdicts = ledger.entries(Layout(root).registry, ("verdict",))
    assert verdicts
    exported = Counter()
    for sample in found:
        exported[(sample.labels["gate"], sample.labels["outcome"])] += int(sample.value)
    assert exported == Counter((e["data"]["gate"], e["data"]["outcome"]) for e in verdicts)
    versions = {s.labels["gate"]: s.labels["model_version"] for s in found}
    for gate in GATES:
        if gate.name in versions:
            assert versions[gate.name] == (version if gate.needs_candidate else "none"), gate.name
    assert version in versions.values()


def test_an_edited_verdict_file_is_counted_as_unverified_not_lost(monitored, tmp_path):
    """Mutation killed: trusting a verdict file whose bytes differ from its ledger entry."""
    root = tmp_path / "project"
    shutil.copytree(monitored[0], root)
    registry = Layout(root).registry
    entry = next(e for e in ledger.entries(registry, ("verdict",))
                 if e["data"]["gate"] == "performance_floor")
    path = registry / "verdicts" / "performance_floor" / f"{entry['data']['fingerprint']}.json"
    record = read_json(path)
    record["fingerprint"]["candidate_sha256"] = "0" * 64
    path.write_text(json.dumps(record))
    from governance_assets.core.monitor import metrics
    from governance_assets.core.params import load_params

    text = metrics.write_metrics(Layout(root), load_params(root).monitoring).read_text()
    floor = [s for s in samples(text) if s.name == "governance_gate_verdicts_total"
             and s.labels["gate"] == "performance_floor"]
    judged = sum(e["data"]["gate"] == "performance_floor"
                 for e in ledger.entries(registry, ("verdict",)))
    assert sum(s.value for s in floor) == judged
    assert "unverified" in {s.labels["model_version"] for s in floor}


def test_serve_metrics_answers_on_a_real_port_with_the_same_samples(monitored):
    """Mutations killed: serve-metrics serving other families than the file (or none), not
    answering /metrics, or not ending cleanly on SIGTERM."""
    root, _, _ = monitored
    server = subprocess.Popen(
        [sys.executable, "-m", "governance_assets.cli", "--root", str(root), "serve-metrics",
         "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "DAGSTER_HOME": str(root / ".dagster")})
    try:
        line = server.stdout.readline()
        assert line.startswith("serving http://127.0.0.1:"), line + server.stderr.read()
        url = line.split()[1]
        answer = httpx.get(url, timeout=60)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain")
    finally:
        server.terminate()
        assert server.wait(timeout=60) == 0
    served = {(s.name, tuple(sorted(s.labels.items())), s.value) for s in samples(answer.text)}
    written = {(s.name, tuple(sorted(s.labels.items())), s.value)
               for s in samples((root / "reports/monitoring/metrics.prom").read_text())}
    assert served == written and len(served) > 100


def _query_metric_names(expr: str) -> set[str | None]:
    names: set[str | None] = set()

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector):
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def _dashboard_queries(dashboard: dict) -> list[str]:
    """Every panel target's expression (rows' panels too) and every label_values() variable's
    metric, as a PromQL selector."""
    panels = [*dashboard["panels"], *(p for row in dashboard["panels"]
                                      for p in row.get("panels", []))]
    queries = [target["expr"] for panel in panels for target in panel.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            inner = variable["query"]["query"]
            assert inner.startswith("label_values(") and inner.endswith(")"), inner
            queries.append(inner.removeprefix("label_values(").rstrip(")").split(",")[0])
    return queries


def test_every_dashboard_query_names_only_metrics_the_project_emits(monitored):
    """Mutations killed: a panel querying a metric renamed or never emitted, a query that does
    not parse, a selector without a metric name, a panel without a query."""
    root, _, _ = monitored
    emitted = {s.name for s in samples((root / "reports/monitoring/metrics.prom").read_text())}
    dashboard = json.loads(DASHBOARD.read_text())
    assert all(panel.get("targets") for panel in dashboard["panels"])
    named = set().union(*(_query_metric_names(q) for q in _dashboard_queries(dashboard)))
    assert None not in named
    assert named <= emitted, sorted(named - emitted)
    assert {"governance_gate_verdicts_total", "governance_monitoring_data_drift_psi",
            "governance_monitoring_fairness_disparate_impact_ratio_min",
            "governance_monitoring_level_threshold"} <= named


def test_the_query_check_catches_an_unknown_metric():
    """The checker itself: a misspelt metric in a query is found."""
    assert _query_metric_names('sum by (gate) (governance_gate_verdict_total{x="1"}) / '
                               "max_over_time(other[5m])") == {
        "governance_gate_verdict_total", "other"}


# --- the periodic compliance report ---

def test_weekly_schedule_job_writes_the_report_and_one_ledger_entry_that_verifies(
        production, tmp_path):
    """Mutations killed: the job not writing the report, no ledger entry or two, a sha256
    that does not match the file, the entry naming another version, the page without what
    the periodic check found, `governance verify` not checking the report's bytes."""
    assert weekly_compliance_report.default_status.value == "STOPPED"
    root = tmp_path / "project"
    shutil.copytree(production[0], root)
    registry = Layout(root).registry
    before = len(ledger.entries(registry))
    with DagsterInstance.ephemeral() as instance:
        [request] = weekly_compliance_report.evaluate_tick(
            build_schedule_context(instance=instance)).run_requests
        job = defs.resolve_job_def("compliance_report_job")
        result = job.execute_in_process(
            instance=instance, tags=request.tags,
            run_config={"resources": {"project": {"config": {"root": str(root)}}}})
    assert result.success
    added = ledger.entries(registry)[before:]
    assert [e["kind"] for e in added] == ["compliance_report"]
    data = added[0]["data"]
    assert data["version"] == production[1] and data["run_id"] == result.run_id
    report_file = registry / data["record"]
    assert sha256_of_file(report_file) == data["record_sha256"]
    report = read_json(report_file)
    assert report["version"] == production[1]
    assert {i["article"] for i in report["items"]} >= {"Art. 10", "Art. 12", "Art. 14"}
    assert report["standing"]["approval_counts"] is True
    assert report["standing"]["files_not_as_registered"] == []
    assert (report_file.parent / "compliance.html").is_file()
    page = (report_file.parent / "compliance.md").read_text()
    assert "## Periodic review" in page and "approved by alice" in page
    assert not audit.verify(registry).problems
    report_file.write_text(report_file.read_text().replace("Art. 12", "Art. 99"))
    assert any("compliance_reports/" in p for p in audit.verify(registry).problems)


def test_compliance_report_command_without_production_is_refused(passing, tmp_path):
    """Mutation killed: a report (and ledger entry) made when nothing is in production."""
    root = tmp_path / "project"
    shutil.copytree(passing[0], root)
    before = len(ledger.entries(Layout(root).registry))
    assert cli.main(["--root", str(root), "compliance-report"]) == 2
    assert len(ledger.entries(Layout(root).registry)) == before
