"""`governance publish mlflow` against a real MLflow tracking server (`mlflow server` from
.venv-mlflow, SQLite backend and artifact root in a temporary folder, on a free port), read back
through MLflow's REST API; the published model loaded with mlflow.sklearn and compared with the
registry's on the golden rows. `make test` installs both environments (`make mlflow`).
"""

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from governance_assets.cli import main
from governance_assets.core.data.columns import input_columns, model_inputs
from governance_assets.core.decide.gate_catalog import FAIRNESS_GATES, GATES
from governance_assets.core.decide.verdicts import refusals, standings
from governance_assets.core.files import read_json
from governance_assets.core.layout import Layout
from governance_assets.core.params import load_params
from governance_assets.core.publish import mlflow_registry
from governance_assets.core.publish.publishable import ARTIFACTS, fairness_verified
from governance_assets.core.record import audit, ledger, registry
from governance_assets.core.trust import signoff

from .conftest import REPO, make_project, run_graph, set_params
from .servers import free_port
from .signing import keys

__all__ = ["keys"]  # a fixture, used by name
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("mlflow")]

MLFLOW = REPO / ".venv-mlflow" / "bin" / "mlflow"
NAME = "governance-german_credit"   # the default: governance-<dataset>
# A loaded 2-core machine took 54 s to migrate a new SQLite store and start; this bound only
# stops a server that never comes up from hanging the suite.
SERVER_START_SECONDS = 300


def _wait_healthy(url: str, server: subprocess.Popen, log) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"mlflow server exited with {server.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/health",
                                                                   timeout=5) as answer:
            if answer.status == 200:
                return
        time.sleep(0.5)
    pytest.fail(f"mlflow server not healthy within {SERVER_START_SECONDS} s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real tracking server with a model registry: SQLite store, local artifact root."""
    if not MLFLOW.exists():
        pytest.fail(f"{MLFLOW} is missing: `make mlflow` installs it (`make test` runs it)")
    folder = tmp_path_factory.mktemp("mlflow-server")
    port, log = free_port(), folder / "server.log"
    with pytest.MonkeyPatch.context() as patch, log.open("wb") as sink:
        patch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")   # no call home, client or server
        # The server's job runner (GenAI scorers: seven huey worker processes) has nothing to do
        # with the registry and slows start and stop on two shared cores.
        patch.setenv("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
        process = subprocess.Popen(
            [str(MLFLOW), "server", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
             "--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1",
             "--port", str(port), "--workers", "1"],
            stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(url, process, log)
            yield url
        finally:
            _stop(process)


def _stop(process: subprocess.Popen) -> None:
    """The server and every worker it started (its own process group)."""
    os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):   # a worker that outlived its server
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def project(passing, tmp_path_factory, keys):
    """A copy of the shared governed run whose staging version a reviewer approved with a real
    key (the team's keys: alice approves and promotes)."""
    root = tmp_path_factory.mktemp("publish") / "project"
    shutil.copytree(passing[0], root)
    trust = keys.adopt(root, require_signed_run=False)
    version = registry.get_alias(Layout(root).registry, "staging")
    signoff.approve(Layout(root).registry, version, keys.signer("alice"), "test: reviewed",
                    trust)
    return root


def governance(root, *args: str) -> tuple[int, str]:
    """The real `governance` command line, in process, with what it printed."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["--root", str(root), *args])
    return code, printed.getvalue()


def rest(url: str, endpoint: str, **query: str) -> dict:
    """GET one MLflow REST endpoint; an error answer as {"status": code, **its body}."""
    address = f"{url}/api/2.0/mlflow/{endpoint}?{urllib.parse.urlencode(query)}"
    try:
        with urllib.request.urlopen(address, timeout=60) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return {"status": error.code, **json.loads(error.read() or b"{}")}


def model_versions(url: str, name: str) -> list[dict]:
    return rest(url, "model-versions/search", filter=f"name='{name}'").get("model_versions", [])


def publications(root) -> list[dict]:
    return ledger.entries(Layout(root).registry, ("publication",))


@pytest.fixture(scope="module")
def published(project, server):
    """`governance publish mlflow staging --sync-aliases`, once."""
    code, printed = governance(project, "publish", "mlflow", "staging", "--tracking-uri", server,
                               "--sync-aliases")
    return code, printed, registry.get_alias(Layout(project).registry, "staging")


def test_publish_registers_the_staging_version_with_its_governance_tags(published, project,
                                                                         server):
    """Kills: a tag left out or misnamed, fairness_verified not from the fairness gates, a gate
    verdict tag missing, the ledger registration or evidence hash not the version's."""
    code, printed, version = published
    assert code == 0, printed
    assert f"{version} published as models:/{NAME}/1" in printed
    assert rest(server, "registered-models/get", name=NAME)["registered_model"]["name"] == NAME
    model_version = rest(server, "model-versions/get", name=NAME, version="1")["model_version"]
    tags = {tag["key"]: tag["value"] for tag in model_version["tags"]}
    root = Layout(project).registry
    registered = registry.registration(root, version)
    assert tags["governance.version"] == version
    assert tags["governance.evidence_hash"] == signoff.evidence_hash(registered)
    assert tags["governance.ledger_entry"] == f"{registered['seq']}:{registered['hash']}"
    assert tags["governance.decision"] == "promote"
    assert tags["governance.model_sha256"] == registered["data"]["model_sha256"]
    decision = read_json(root / "versions" / version / "decision.json")
    fairness = [row for row in decision["verdicts"] if row["name"] in FAIRNESS_GATES]
    assert {row["name"] for row in fairness} == set(FAIRNESS_GATES)
    expected = all(row["verdict"] in ("PASS", "NOT_APPLICABLE") for row in fairness)
    assert tags["fairness_verified"] == str(expected).lower()
    gate_tags = {key.removeprefix("governance.gate."): value for key, value in tags.items()
                 if key.startswith("governance.gate.")}
    assert gate_tags == {row["name"]: row["verdict"] for row in decision["verdicts"]}
    assert set(gate_tags) == {gate.name for gate in GATES}
    run = rest(server, "runs/get", run_id=model_version["run_id"])["run"]
    assert {t["key"]: t["value"] for t in run["data"]["tags"]}["governance.version"] == version


def test_publish_logs_the_card_decision_and_compliance_report(published, project, server):
    """Kills: an artifact left out, or logged from the working copy instead of the version's
    ledger-checked bytes."""
    import mlflow

    _, _, version = published
    run_id = rest(server, "model-versions/get", name=NAME, version="1")["model_version"]["run_id"]
    listed = rest(server, "artifacts/list", run_id=run_id, path="governance")["files"]
    assert {entry["path"] for entry in listed} == {f"governance/{name}" for name in ARTIFACTS}
    folder = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="governance",
                                                 tracking_uri=server)
    stored = Layout(project).registry / "versions" / version
    for name in ARTIFACTS:
        assert (stored / name).read_bytes() == (Path(folder) / name).read_bytes(), name


def test_published_model_predicts_as_the_registry_model_on_the_golden_rows(published, project,
                                                                          server):
    """Kills: logging another model than the registry's verified one, or dropping the signature
    or input example."""
    import mlflow

    _, _, version = published
    layout, params = Layout(project), load_params(project)
    mine = registry.load_model(layout.registry, version)
    golden = pd.read_parquet(layout.split("golden_test"))
    mlflow.set_tracking_uri(server)
    uri = f"models:/{NAME}/1"
    theirs = mlflow.sklearn.load_model(uri)
    np.testing.assert_array_equal(theirs.predict_proba(model_inputs(theirs, golden)),
                                  mine.predict_proba(model_inputs(mine, golden)))
    assert len(golden) >= 100 and params.dataset == "german_credit"
    info = mlflow.models.get_model_info(uri)
    assert info.signature.inputs.input_names() == input_columns(mine)
    assert info.saved_input_example_info is not None
    assert set(info.flavors) >= {"sklearn", "python_function"}
    assert info.flavors["sklearn"]["serialization_format"] == "skops"


def test_publication_is_a_verified_ledger_entry_with_the_model_uri(published, project, server):
    """Kills: no ledger entry, an entry without the MLflow model URI, an entry that breaks the
    chain."""
    _, _, version = published
    [entry] = publications(project)
    assert entry["data"]["version"] == version
    assert entry["data"]["model_uri"] == f"models:/{NAME}/1"
    assert entry["data"]["tracking_uri"] == server
    assert entry["data"]["aliases"] == ["staging"]
    report = audit.verify(Layout(project).registry)
    assert not report.problems, report.problems
    code, printed = governance(project, "history", "--kind", "publication")
    assert code == 0 and f"published as models:/{NAME}/1" in printed


def test_publishing_again_returns_the_same_model_version(published, project, server):
    """Kills: registering without looking for the version's tags first (a second model
    version), or a ledger entry per call."""
    code, printed = governance(project, "publish", "mlflow", "staging", "--tracking-uri",
                               server, "--sync-aliases")
    assert code == 0, printed
    assert f"already published as models:/{NAME}/1" in printed
    assert [mv["version"] for mv in model_versions(server, NAME)] == ["1"]
    assert len(publications(project)) == 1


def test_mlflow_aliases_follow_the_projects_signed_production_move(published, project, server,
                                                                   keys):
    """Kills: --sync-aliases moving only staging, or recording no new entry when MLflow's
    aliases changed."""
    _, _, version = published
    root = Layout(project).registry
    trust = signoff.Trust.of(project, load_params(project).signoff)
    signoff.request_promotion(root, version, keys.signer("alice"), trust)
    signoff.promote_to_production(root, version, trust)
    code, printed = governance(project, "publish", "mlflow", "production", "--tracking-uri",
                               server, "--sync-aliases")
    assert code == 0, printed
    aliases = rest(server, "registered-models/get", name=NAME)["registered_model"]["aliases"]
    assert {a["alias"]: a["version"] for a in aliases} == {"staging": "1", "production": "1"}
    assert [mv["version"] for mv in model_versions(server, NAME)] == ["1"]
    assert publications(project)[-1]["data"]["aliases"] == ["staging", "production"]


@pytest.fixture(scope="module")
def tightened(passing, tmp_path_factory):
    """The shared run with policy.max_equalized_odds_difference below the candidate's gap."""
    root = tmp_path_factory.mktemp("tightened") / "project"
    shutil.copytree(passing[0], root)
    set_params(root, policy__max_equalized_odds_difference=0.05)
    return root


def _refused_with_promotions_reasons(root, server, name: str) -> str:
    code, printed = governance(root, "publish", "mlflow", "staging", "--tracking-uri", server,
                               "--name", name)
    assert code == 1, printed
    reasons = refusals(standings(load_params(root), Layout(root)))
    assert reasons and all(line in printed for line in reasons)
    assert rest(server, "registered-models/get", name=name)["status"] == 404
    assert publications(root) == []
    return printed


def test_a_stale_gate_refuses_publication_and_registers_nothing(tightened, server):
    """Kills: publishing on the version's recorded decision instead of the current standings
    (the policy changed after it was judged)."""
    printed = _refused_with_promotions_reasons(tightened, server, "stale-candidate")
    assert "equalized_odds on fairness_report: STALE" in printed
    assert "policy.max_equalized_odds_difference was 0.2, now 0.05" in printed


def test_a_blocked_candidate_is_refused_and_nothing_is_registered(tightened, server, instance):
    """Kills: publishing a version whose gates failed under the current policy (staging still
    points at the version the looser policy promoted)."""
    run_graph(tightened, instance)
    assert "equalized_odds" in read_json(tightened / "reports/decision.json")["refused_by"]
    printed = _refused_with_promotions_reasons(tightened, server, "blocked-candidate")
    assert "equalized_odds on fairness_report: FAIL" in printed


def test_fairness_verified_needs_every_fairness_gate_to_pass(published, project):
    """Kills: a fairness gate missing from the check, or insufficient evidence counted as
    verified."""
    _, _, version = published
    record = read_json(Layout(project).registry / "versions" / version / "decision.json")
    passed = {**record, "verdicts": [
        {**row, "outcome": "pass"} if row["name"] in FAIRNESS_GATES else row
        for row in record["verdicts"]]}
    assert fairness_verified(passed)
    for gate in FAIRNESS_GATES:
        thin = {**passed, "verdicts": [
            {**row, "outcome": "insufficient_evidence"} if row["name"] == gate else row
            for row in passed["verdicts"]]}
        assert not fairness_verified(thin), gate
        missing = {**passed, "verdicts": [r for r in passed["verdicts"] if r["name"] != gate]}
        assert not fairness_verified(missing), gate


def test_the_ledger_keeps_the_tracking_uri_without_credentials():
    """Kills: a password in a tracking URI copied into the ledger, which everyone reads."""
    assert (mlflow_registry.recorded_uri("https://ci:s3cret@mlflow.example:8443/base?x=1")
            == "https://mlflow.example:8443/base?x=1")
    assert mlflow_registry.recorded_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"


def test_without_a_tracking_uri_the_command_names_where_to_set_one(tmp_path, monkeypatch):
    """Kills: falling back to MLflow's default (a local ./mlruns folder) instead of saying so."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root = make_project(tmp_path / "project")
    code, printed = governance(root, "publish", "mlflow")
    assert code == 2, printed
    assert "--tracking-uri" in printed and "publish.mlflow.tracking_uri" in printed
    assert not (root / "mlruns").exists()
