"""The DVC driver for real, in a throw-away git copy of the working tree: `governance run`,
a no-op second repro, a policy-only change that skips training, and `dvc exp run -S`."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest
import yaml
from dagster import AssetKey, DagsterInstance

from .conftest import REPO, set_params
from .worktree import commit_all, git_copy_of_working_tree

pytestmark = pytest.mark.slow
DVC = REPO / ".venv-dvc" / "bin" / "dvc"
GOVERNANCE = REPO / ".venv" / "bin" / "governance"


def _run(command, cwd, check=True):
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False,
                            env={**os.environ, "DAGSTER_HOME": str(cwd / ".dagster")})
    if check and result.returncode != 0:
        raise AssertionError(f"{command} exited {result.returncode}\n{result.stdout[-3000:]}\n"
                             f"{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory):
    """The tracked and untracked-but-not-ignored files, committed in a fresh git repo."""
    if not DVC.exists():
        pytest.fail("DVC is not installed in .venv-dvc: run `make setup`")
    root = git_copy_of_working_tree(REPO, tmp_path_factory.mktemp("dvc") / "repo")
    first = _run([str(GOVERNANCE), "--root", str(root), "run"], root, check=False)
    return root, first


def test_main_command_runs_the_graph_through_dvc_and_promotes(repo_copy):
    root, first = repo_copy
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    for stage in ("prepare", "train", "evaluate", "document", "promote"):
        assert f"Running stage '{stage}'" in first.stdout
    assert "PROMOTED: registry version" in first.stdout
    assert "reports/model_card.md" in first.stdout
    gates = json.loads((root / "reports/gates.json").read_text())
    assert gates["promotable"] is True and len(gates["gates"]) == 16
    assert {"name", "asset", "value", "threshold", "verdict", "blocking"} <= set(gates["gates"][0])


def test_dvc_lock_md5_is_the_dagster_data_version(repo_copy):
    root, _ = repo_copy
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    [md5] = [str(d["md5"]) for d in lock["stages"]["prepare"]["deps"]
             if d["path"] == "data/raw/german_credit.csv"]
    os.environ["DAGSTER_HOME"] = str(root / ".dagster")
    try:
        with DagsterInstance.get() as instance:
            event = instance.get_latest_materialization_event(AssetKey("raw_dataset"))
    finally:
        del os.environ["DAGSTER_HOME"]
    assert event.asset_materialization.tags["dagster/data_version"] == md5


def test_second_repro_changes_nothing(repo_copy):
    root, _ = repo_copy
    lock_before = (root / "dvc.lock").read_text()
    again = _run([str(DVC), "repro"], root)
    assert "Running stage" not in again.stdout
    assert (root / "dvc.lock").read_text() == lock_before
    assert "up to date" in _run([str(DVC), "status"], root).stdout


def test_policy_only_change_reruns_evaluation_onwards_not_training(repo_copy):
    root, _ = repo_copy
    set_params(root, policy__min_disparate_impact=0.79)
    result = _run([str(DVC), "repro"], root)
    assert "Running stage 'train'" not in result.stdout
    assert "Running stage 'prepare'" not in result.stdout
    for stage in ("evaluate", "document", "promote"):
        assert f"Running stage '{stage}'" in result.stdout
    card = json.loads((root / "reports/model_card.json").read_text())
    assert card["constraints"]["min_disparate_impact"] == 0.79


def test_dvc_exp_run_with_a_set_param(repo_copy):
    root, _ = repo_copy
    commit_all(root, "after repro")
    result = _run([str(DVC), "exp", "run", "-S", "policy.max_psi=0.3"], root)
    assert "Running stage 'evaluate'" in result.stdout
    assert "Running stage 'train'" not in result.stdout
    shown = _run([str(DVC), "exp", "show", "--json"], root).stdout
    assert "0.3" in shown


def test_a_blocked_gate_fails_the_main_command_and_names_it(repo_copy, tmp_path):
    root, _ = repo_copy
    set_params(root, policy__max_equalized_odds_difference=0.1)
    blocked = _run([str(GOVERNANCE), "--root", str(root), "run"], root, check=False)
    assert blocked.returncode == 1
    assert "BLOCKED: promotion refused by equalized_odds" in blocked.stdout
    gates = json.loads((root / "reports/gates.json").read_text())
    row = next(g for g in gates["gates"] if g["name"] == "equalized_odds")
    assert row["verdict"] == "FAIL" and row["threshold"] == 0.1 and row["value"] > 0.1
    staging = next(g for g in gates["gates"] if g["name"] == "model_card_valid")
    assert staging["verdict"] == "NOT RUN"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql",
                                     data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["data"]


@pytest.fixture
def dagster_dev(repo_copy):
    """`dagster dev` on the copy's instance, in its own process group (it ignores SIGTERM)."""
    root, _ = repo_copy
    port = _free_port()
    server = subprocess.Popen(
        [str(root / ".venv/bin/dagster"), "dev", "-w", "workspace.yaml", "-p", str(port)],
        cwd=root, env={**os.environ, "DAGSTER_HOME": str(root / ".dagster")},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
                break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("dagster dev did not answer within 120 s")
        yield port
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def test_dagster_dev_shows_the_dvc_runs_lineage_and_gates(repo_copy, dagster_dev):
    root, _ = repo_copy
    os.environ["DAGSTER_HOME"] = str(root / ".dagster")
    try:
        with DagsterInstance.get() as instance:
            expected_runs = {run.run_id for run in instance.get_runs()}
    finally:
        del os.environ["DAGSTER_HOME"]
    runs = _graphql(dagster_dev, "{ runsOrError { ... on Runs { results { runId } } } }")
    assert {r["runId"] for r in runs["runsOrError"]["results"]} == expected_runs
    assert len(expected_runs) >= 5
    nodes = _graphql(dagster_dev, """{ assetNodes { assetKey { path } groupName
        dependencyKeys { path } assetChecksOrError { ... on AssetChecks { checks { name blocking
        executionForLatestMaterialization { evaluation { success description } } } } } } }""")
    by_name = {n["assetKey"]["path"][0]: n for n in nodes["assetNodes"]}
    assert len(by_name) == 12 and by_name["fairness_report"]["groupName"] == "evaluation"
    assert {"model_card", "compliance_report"} == {
        d["path"][0] for d in by_name["staging_model"]["dependencyKeys"]}
    checks = {c["name"]: c for c in by_name["fairness_report"]["assetChecksOrError"]["checks"]}
    four_fifths = checks["four_fifths_rule"]
    assert four_fifths["blocking"] is True
    assert "disparate impact ratio" in four_fifths["executionForLatestMaterialization"][
        "evaluation"]["description"]
