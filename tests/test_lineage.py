"""OpenLineage events of the governed graph, received by a real HTTP server on localhost.

The graph runs on a real Dagster instance; the events go out through openlineage-python's own
HTTP (or file) transport, configured the OpenLineage way (OPENLINEAGE_URL, openlineage.yml).
Runs made as `dagster dev` makes them are sent by the run-status sensors, invoked on the
finished run; `governance run` sends its own from each stage.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterEventType, DagsterInstance, build_run_status_sensor_context

from governance_assets.lineage import (
    configured,
    emit_run,
    openlineage_after_failure,
    openlineage_after_success,
)
from governance_assets.resources import GovernanceProject

from .conftest import GERMAN, REPO, check_results, make_project, materialized, run_graph
from .servers import free_port, graphql
from .worktree import git_copy_of_working_tree

GOVERNANCE = REPO / ".venv" / "bin" / "governance"
STAGES = ("prepare", "train", "evaluate", "document", "promote")
HOME = os.environ.get("HOME", "")
OPENLINEAGE_VARIABLES = ("OPENLINEAGE_URL", "OPENLINEAGE_CONFIG", "OPENLINEAGE_DISABLED",
                         "OPENLINEAGE_NAMESPACE")


class Receiver:
    """A lineage backend's HTTP endpoint: keeps every event POSTed to it, in order."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.paths: list[str] = []

    @contextmanager
    def serving(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:   # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.paths.append(self.path)
                receiver.events.append(json.loads(body))
                self.send_response(201)
                self.end_headers()

            def log_message(self, *_args) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()


@pytest.fixture
def no_openlineage(monkeypatch, tmp_path):
    """No OpenLineage configuration anywhere the client looks: environment, working directory,
    ~/.openlineage."""
    for name in OPENLINEAGE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name in [n for n in os.environ if n.startswith("OPENLINEAGE__")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return monkeypatch


@pytest.fixture
def receiver(no_openlineage):
    found = Receiver()
    with found.serving() as url:
        no_openlineage.setenv("OPENLINEAGE_URL", url)
        yield found


def send_as_dagster_dev_would(instance: DagsterInstance, run_id: str, root: Path) -> None:
    """The sensor `dagster dev`'s daemon runs after a run ends, on that run."""
    run = instance.get_run_by_id(run_id)
    [last] = [entry.dagster_event for entry in instance.all_logs(run_id)
              if entry.dagster_event and entry.dagster_event.event_type in
              (DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE)]
    sensor = (openlineage_after_success if last.event_type == DagsterEventType.RUN_SUCCESS
              else openlineage_after_failure)
    sensor(build_run_status_sensor_context(
        sensor_name=sensor.name, dagster_event=last, dagster_instance=instance, dagster_run=run,
        resources={"project": GovernanceProject(root=str(root))}))


def asset_events(events: list[dict], state: str) -> dict[str, dict]:
    """The events of one type, by asset (job name), for the asset runs only."""
    found = {}
    for event in events:
        if event["job"]["facets"]["jobType"]["jobType"] == "ASSET" and \
                event["eventType"] == state:
            assert event["job"]["name"] not in found, "one event per asset and state"
            found[event["job"]["name"]] = event
    return found


def run_level(events: list[dict]) -> list[dict]:
    return [e for e in events if e["job"]["facets"]["jobType"]["jobType"] == "JOB"]


def verdicts_of(result, asset: str) -> dict[str, tuple[bool, str]]:
    return {e.check_name: (e.passed, e.severity.value) for e in check_results(result).values()
            if e.asset_key.to_user_string() == asset}


def facet_verdicts(event: dict) -> dict[str, tuple[bool, str]]:
    gates = event["run"]["facets"].get("governance_gates", {}).get("gates", [])
    return {g["gate"]: (g["passed"], g["severity"]) for g in gates}


def test_every_materialized_asset_completes_with_its_files_md5_schema_and_verdicts(
        passing, receiver):
    root, instance, result = passing
    send_as_dagster_dev_would(instance, result.run_id, root)

    assert set(receiver.paths) == {"/api/v1/lineage"}
    starts, completes = (asset_events(receiver.events, s) for s in ("START", "COMPLETE"))
    assert set(completes) == materialized(result) == set(starts)
    assert asset_events(receiver.events, "FAIL") == {}
    for asset, complete in completes.items():
        assert complete["run"]["runId"] == starts[asset]["run"]["runId"]
        assert starts[asset]["eventTime"] <= complete["eventTime"]
        assert complete["run"]["facets"]["parent"]["run"]["runId"] == result.run_id
        assert facet_verdicts(complete) == verdicts_of(result, asset), asset
    assert [e["eventType"] for e in run_level(receiver.events)] == ["START", "COMPLETE"]

    raw = root / "data/raw/german_credit.csv"
    [raw_output] = completes["raw_dataset"]["outputs"]
    assert (raw_output["namespace"], raw_output["name"]) == ("file", str(raw))
    assert raw_output["facets"]["version"]["datasetVersion"] == md5_of(GERMAN)
    [raw_input] = completes["validated_dataset"]["inputs"]
    assert raw_input["facets"]["version"] == raw_output["facets"]["version"]

    frames = {d["name"]: d for d in completes["dataset_splits"]["outputs"]
              if d["name"].endswith(".parquet")}
    assert set(frames) == {str(p) for p in (root / "data/prepared/splits").glob("*.parquet")}
    for name, dataset in frames.items():
        columns = [f["name"] for f in dataset["facets"]["schema"]["fields"]]
        assert columns == list(pd.read_parquet(name).columns)
    assert {d["name"] for d in completes["model_search"]["inputs"]} >= set(frames)
    assert str(root / "models/candidate.skops") in \
        {d["name"] for d in completes["candidate_model"]["outputs"]}
    assert str(root / "reports/fairness.json") in \
        {d["name"] for d in completes["fairness_report"]["outputs"]}


def md5_of(path: Path) -> str:
    from governance_assets.core.files import md5_of_file

    return md5_of_file(path)


def test_a_gate_that_refuses_promotion_completes_its_asset_and_fails_staging_and_the_run(
        tmp_path, instance, receiver):
    """The latency gate fails (WARN, blocks promotion): performance_report was built, so it is
    COMPLETE with the failed verdict in its facets; staging_model was never built, so it is a
    FAIL naming the gates; the Dagster run failed, so its run is a FAIL."""
    root = make_project(tmp_path, policy__max_latency_ms=1e-6)
    result = run_graph(root, instance)
    assert not result.success and "staging_model" not in materialized(result)
    send_as_dagster_dev_would(instance, result.run_id, root)

    completes, fails = (asset_events(receiver.events, s) for s in ("COMPLETE", "FAIL"))
    assert set(completes) == materialized(result)
    assert facet_verdicts(completes["performance_report"])["latency_budget"][0] is False
    assert facet_verdicts(completes["performance_report"]) == \
        verdicts_of(result, "performance_report")
    assert set(fails) == {"staging_model"}
    assert "staging_model" not in asset_events(receiver.events, "START")
    assert fails["staging_model"]["outputs"] == []
    message = fails["staging_model"]["run"]["facets"]["errorMessage"]["message"]
    assert "every_blocking_gate_passed on promotion_decision" in message
    assert "latency_budget on performance_report" in message
    assert [e["eventType"] for e in run_level(receiver.events)] == ["START", "FAIL"]


def test_a_data_gate_that_stops_the_run_fails_every_asset_after_it(passing, tmp_path, receiver):
    root = tmp_path / "project"
    shutil.copytree(passing[0], root)
    raw = root / "data/raw/german_credit.csv"
    frame = pd.read_csv(raw, dtype=str)
    frame.loc[3, "credit_risk"] = "7"
    frame.to_csv(raw, index=False)
    with DagsterInstance.ephemeral() as instance:
        result = run_graph(root, instance)
        send_as_dagster_dev_would(instance, result.run_id, root)
        sent = len(receiver.events)   # a stage's run is sent by the stage: the sensors skip it
        instance.add_run_tags(result.run_id, {"governance/stage": "prepare"})
        send_as_dagster_dev_would(instance, result.run_id, root)
        assert len(receiver.events) == sent

    completes, fails = (asset_events(receiver.events, s) for s in ("COMPLETE", "FAIL"))
    assert set(completes) == materialized(result) == {"raw_dataset", "validated_dataset"}
    assert facet_verdicts(completes["validated_dataset"])["label_sanity"] == (False, "ERROR")
    assert {"dataset_splits", "candidate_model", "staging_model"} <= set(fails)
    for failed in fails.values():
        assert "blocked by gate label_sanity on validated_dataset" in \
            failed["run"]["facets"]["errorMessage"]["message"]
        assert failed["outputs"] == [], "the earlier run's files are not this run's"
    assert (root / "data/prepared/splits/train.parquet").exists()
    raw_version = completes["raw_dataset"]["outputs"][0]["facets"]["version"]
    assert raw_version["datasetVersion"] == md5_of(raw) != md5_of(GERMAN)


def test_openlineage_yml_in_the_working_directory_selects_the_file_transport(
        passing, no_openlineage, tmp_path):
    root, instance, result = passing
    sink = tmp_path / "events.jsonl"
    (tmp_path / "openlineage.yml").write_text(
        f"transport:\n  type: file\n  log_file_path: {sink}\n  append: true\n")
    no_openlineage.setenv("OPENLINEAGE_NAMESPACE", "credit-risk")
    send_as_dagster_dev_would(instance, result.run_id, root)
    events = [json.loads(line) for line in sink.read_text().splitlines()]
    assert set(asset_events(events, "COMPLETE")) == materialized(result)
    assert {e["job"]["namespace"] for e in events} == {"credit-risk"}


def test_without_configuration_nothing_is_sent_or_imported(passing, no_openlineage):
    root, instance, result = passing
    assert not configured()
    assert emit_run(instance, result.run_id, root) == 0
    no_openlineage.setenv("OPENLINEAGE_URL", "http://127.0.0.1:9")
    no_openlineage.setenv("OPENLINEAGE_DISABLED", "true")
    assert emit_run(instance, result.run_id, root) == 0
    probe = ("import sys, governance_assets.definitions, governance_assets.cli.stage;"
             "from governance_assets import lineage;"
             "assert lineage.emit_run(None, 'no run', None) == 0;"
             "print(sorted(m for m in sys.modules if m.startswith('openlineage')))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENLINEAGE")}
    imported = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                              check=True, env=env).stdout
    assert imported.strip() == "[]"


def test_a_backend_that_is_down_costs_a_warning_not_the_run(passing, no_openlineage, capsys):
    root, instance, result = passing
    no_openlineage.setenv("OPENLINEAGE_URL", f"http://127.0.0.1:{free_port()}")
    assert emit_run(instance, result.run_id, root) == 0
    assert f"OpenLineage: 0 event(s) of run {result.run_id} sent, then: " in \
        capsys.readouterr().err


@pytest.mark.parametrize("configuration", [{}, {"OPENLINEAGE_URL": "http://127.0.0.1:5000"}])
def test_the_sensors_start_running_only_where_openlineage_is_configured(configuration,
                                                                       no_openlineage):
    probe = ("from governance_assets.definitions import defs;"
             "print(*(defs.resolve_sensor_def(n).default_status.value for n in"
             " ('openlineage_after_success', 'openlineage_after_failure')))")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OPENLINEAGE")},
           **configuration}
    statuses = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                              check=True, env=env).stdout.split()
    assert statuses == ["RUNNING" if configuration else "STOPPED"] * 2


@pytest.mark.parametrize("setting", ["url", "config", "cwd_file", "home_file", "transport_env"])
def test_each_way_openlineage_is_configured_is_seen(setting, no_openlineage, tmp_path):
    config = tmp_path / "elsewhere.yml"
    config.write_text("transport:\n  type: console\n")
    where = {"config": ("OPENLINEAGE_CONFIG", str(config)),
             "url": ("OPENLINEAGE_URL", "http://127.0.0.1:5000"),
             "transport_env": ("OPENLINEAGE__TRANSPORT__TYPE", "console")}
    assert not configured()
    if setting in where:
        no_openlineage.setenv(*where[setting])
    else:
        folder = tmp_path if setting == "cwd_file" else tmp_path / "home/.openlineage"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(config, folder / "openlineage.yml")
    assert configured()
    no_openlineage.setenv("OPENLINEAGE_DISABLED", "true")
    assert not configured()


@pytest.mark.slow
def test_the_main_command_sends_each_stages_assets_and_run(tmp_path, receiver):
    """`governance run` on a copy of the project: each stage's Dagster run and every asset it
    materialized reach the receiver, as many as the stage says it materialized."""
    root = git_copy_of_working_tree(REPO, tmp_path / "repo")
    (root / "dvc.lock").unlink(missing_ok=True)
    env = {**os.environ, "DAGSTER_HOME": str(root / ".dagster"), "HOME": HOME}
    done = subprocess.run([str(GOVERNANCE), "--root", str(root), "run"], cwd=root, env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    runs = run_level(receiver.events)
    assert Counter((e["job"]["name"], e["eventType"]) for e in runs) == Counter(
        {(f"stage.{stage}", state): 1 for stage in STAGES for state in ("START", "COMPLETE")})
    stage_of_run = {e["run"]["runId"]: e["job"]["name"].removeprefix("stage.") for e in runs}
    per_stage = Counter(stage_of_run[e["run"]["facets"]["parent"]["run"]["runId"]]
                        for e in asset_events(receiver.events, "COMPLETE").values())
    said = {stage: json.loads((root / f"reports/runtime/stages/{stage}.json").read_text())
            for stage in STAGES}
    assert per_stage == Counter({stage: said[stage]["assets"] for stage in STAGES})
    [raw] = asset_events(receiver.events, "COMPLETE")["raw_dataset"]["outputs"]
    assert raw["facets"]["version"]["datasetVersion"] == md5_of(root / "data/raw/german_credit.csv")


LAUNCH = """mutation { launchRun(executionParams: {selector: {
  repositoryLocationName: "governance_assets", repositoryName: "__repository__",
  jobName: "__ASSET_JOB", assetSelection: [{path: ["raw_dataset"]}]}}) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""


@contextmanager
def dagster_dev(root: Path, env: dict[str, str]):
    """`dagster dev` (webserver and daemon) on the project, in its own process group."""
    port = free_port()
    server = subprocess.Popen([str(REPO / ".venv/bin/dagster"), "dev", "-w", "workspace.yaml",
                               "-p", str(port)], cwd=root, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: _answers(port), 180, "dagster dev to answer")
        yield port
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def _answers(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
        return True
    except OSError:
        return False


def wait_for(condition, seconds: float, what: str) -> None:
    """Poll until `condition()` holds; the bound is only there so a broken run cannot hang."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {seconds} s for {what}")
        time.sleep(1)


@pytest.mark.slow
def test_a_run_launched_in_dagster_dev_is_sent_by_its_daemon(tmp_path, receiver):
    """The UI's Materialize of raw_dataset, on a real `dagster dev`: its daemon runs the
    lineage sensor, which sends the run (nothing here calls the sensor)."""
    root = make_project(tmp_path / "project")
    shutil.copy(REPO / "workspace.yaml", root / "workspace.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(root / ".dagster"), "HOME": HOME}
    (root / ".dagster").mkdir()
    with dagster_dev(root, env) as port:
        launched = graphql(port, LAUNCH)["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run_id = launched["run"]["runId"]
        wait_for(lambda: any(e["eventType"] == "COMPLETE" and e["run"]["runId"] == run_id
                             for e in receiver.events), 300, "the run's COMPLETE event")

    [complete] = asset_events(receiver.events, "COMPLETE").values()
    assert complete["job"]["name"] == "raw_dataset"
    assert complete["run"]["facets"]["parent"]["run"]["runId"] == run_id
    [raw] = complete["outputs"]
    assert raw["facets"]["version"]["datasetVersion"] == md5_of(GERMAN)
