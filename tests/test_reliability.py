"""Reliability with real processes, in a throw-away git copy of the repo (marker `reliability`):

- bad inputs of many kinds, each stopped by `governance run` with exit 2 and one paragraph
  naming file, column or params key, and nothing previously good overwritten;
- a run killed (SIGKILL, its whole process group) inside each of the five stages, then the
  plain command recovers: registry, reports, `dvc.lock` and the instance consistent;
- two concurrent runs in one checkout serialize, and both end promoted.

docs/reliability.md has the table of what was tried and what happened.
"""

import os
import signal
import subprocess
import time

import pandas as pd
import pytest

from governance_assets.core.record import registry

from .conftest import REPO, set_params
from .test_dvc import DVC, GOVERNANCE, _env, _json, _snapshot, governance
from .worktree import git_copy_of_working_tree

pytestmark = [pytest.mark.slow, pytest.mark.reliability]
RAW = "data/raw/german_credit.csv"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A promoted copy of the repository, with its DVC cache, registry and instance."""
    if not DVC.exists():
        pytest.fail("DVC is not installed in .venv-dvc: run `make setup`")
    root = git_copy_of_working_tree(REPO, tmp_path_factory.mktemp("reliability") / "repo")
    (root / "dvc.lock").unlink(missing_ok=True)
    first = governance(root, "run")
    assert first.returncode == 0, first.stdout[-3000:]
    return root


def _frame(root) -> pd.DataFrame:
    return pd.read_csv(root / RAW, dtype=str, keep_default_na=False)


def _write(root, frame: pd.DataFrame, **options) -> None:
    frame.to_csv(root / RAW, index=False, **options)


def _text(root) -> str:
    return (root / RAW).read_text()


def _cell(column, row, value):
    return lambda root: _write(root, _frame(root).assign(
        **{column: lambda f: f[column].where(f.index != row, value)}))


def _params_text(old, new):
    def change(root):
        path = root / "params.yaml"
        assert old in path.read_text()
        path.write_text(path.read_text().replace(old, new, 1))
    return change


def _one_gigabyte(root) -> None:
    """A real 1 GiB file (sparse, so the test does not need the disk space)."""
    with (root / RAW).open("r+b") as handle:
        handle.truncate(2**30 + 1)


# case: (how the input is broken, what the one-paragraph error must name)
BAD_INPUTS = {
    "latin-1 encoding": (
        lambda r: (r / RAW).write_bytes(_text(r).replace("A11", "Ä11", 1).encode("latin-1")),
        [RAW, "not UTF-8 text at line 2", "Save the file as UTF-8"]),
    "semicolon delimiter": (lambda r: _write(r, _frame(r), sep=";"),
                            [RAW, "separated by ';'", "datasets.german_credit.delimiter"]),
    "binary garbage": (lambda r: (r / RAW).write_bytes(bytes(range(256)) * 20),
                       [RAW, "not UTF-8 text"]),
    "duplicated column name": (
        lambda r: (r / RAW).write_text(_text(r).replace("credit_amount", "duration_in_month", 1)),
        [RAW, "'duration_in_month' appears 2 times in the header"]),
    "unicode column name": (
        lambda r: (r / RAW).write_text(_text(r).replace("credit_amount", "crédit_amount", 1)),
        [RAW, "required column 'credit_amount' is missing", "'crédit_amount'"]),
    "missing target column": (lambda r: _write(r, _frame(r).drop(columns=["credit_risk"])),
                              [RAW, "required column 'credit_risk' is missing"]),
    "all-null column": (lambda r: _write(r, _frame(r).assign(credit_amount="")),
                        [RAW, "'credit_amount' rule no_missing", "missing_numeric"]),
    "constant column": (lambda r: _write(r, _frame(r).assign(purpose="A43")),
                        [RAW, "'purpose' rule not_constant", "exclude_from_model"]),
    "single-class label": (lambda r: _write(r, _frame(r).assign(credit_risk="1")),
                           [RAW, "'credit_risk' rule both_classes"]),
    "three-valued label": (_cell("credit_risk", 3, "3"),
                           [RAW, "'credit_risk' rule known_label", "'3' at line 5"]),
    "inf string": (_cell("credit_amount", 5, "inf"),
                   [RAW, "'credit_amount' rule numeric", "'inf' at line 7"]),
    "NaN string": (_cell("credit_amount", 5, "NaN"),
                   [RAW, "'credit_amount' rule numeric", "'NaN' at line 7"]),
    "text in a numeric column": (_cell("credit_amount", 10, "lots"),
                                 [RAW, "'credit_amount'", "'lots' at line 12"]),
    "missing file": (lambda r: (r / RAW).unlink(),
                     ["datasets.german_credit.path", "not found"]),
    "empty file": (lambda r: (r / RAW).write_text(""), [RAW, "no data rows"]),
    "header-only file": (lambda r: (r / RAW).write_text(_text(r).splitlines()[0] + "\n"),
                         [RAW, "no data rows"]),
    "1 GB file": (_one_gigabyte, [RAW, "1,024 MB is above datasets.german_credit.max_file_mb"]),
    "unknown params key": (lambda r: set_params(r, policy__min_aucc=0.7),
                           ["params.yaml", "policy.min_aucc", "unknown key"]),
    "mistyped params value": (lambda r: set_params(r, policy__min_auc="high"),
                              ["params.yaml", "policy.min_auc", "valid number"]),
    "threshold out of range": (lambda r: set_params(r, policy__min_disparate_impact=1.7),
                               ["params.yaml", "policy.min_disparate_impact", "less than or "
                                "equal to 1"]),
    "YAML tag that would run code": (
        _params_text("seed: 42", "seed: !!python/object/apply:os.system ['touch /tmp/owned']"),
        ["params.yaml", "not valid YAML", "python/object/apply"]),
    "duplicate params key": (
        lambda r: (r / "params.yaml").write_text(
            (r / "params.yaml").read_text() + "dataset: census_income\n"),
        ["key 'dataset' appears twice"]),
    "dataset path outside the project": (
        lambda r: set_params(r, datasets__german_credit__path="../outside.csv"),
        ["datasets.german_credit.path", "outside data/raw/"]),
    "absolute dataset path": (
        lambda r: set_params(r, datasets__german_credit__path="/etc/passwd"),
        ["datasets.german_credit.path", "/etc/passwd"]),
    "unknown dataset name": (lambda r: set_params(r, dataset="german_credits"),
                             ["params.yaml", "german_credits"]),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_named_with_exit_2_and_overwrites_nothing(project, case):
    before, lock = _snapshot(project), (project / "dvc.lock").read_text()
    change, expected = BAD_INPUTS[case]
    change(project)
    try:
        result = governance(project, "run")
        paragraph = result.stdout.strip()
        assert result.returncode == 2, result.stdout[-2000:]
        assert paragraph.startswith("error: ") and paragraph.endswith("(exit 2).")
        assert "Traceback" not in result.stdout + result.stderr
        missing = [part for part in expected if part not in paragraph]
        assert not missing, paragraph
        assert _snapshot(project) == before
        assert (project / "dvc.lock").read_text() == lock
    finally:
        subprocess.run(["git", "checkout", "-q", "--", "params.yaml", "datasets",
                        "data/raw"], cwd=project,
                       check=True)
    assert not os.path.exists("/tmp/owned")


def test_a_file_in_another_delimiter_reads_once_params_say_so(project):
    """The positive side of the delimiter rule: params alone make the file readable."""
    _write(project, _frame(project), sep=";")
    set_params(project, datasets__german_credit__delimiter=";")
    try:
        checked = governance(project, "check")
        assert checked.returncode == 0, checked.stdout
    finally:
        subprocess.run(["git", "checkout", "-q", "--", "params.yaml", "datasets",
                        "data/raw"], cwd=project,
                       check=True)


def _wait_until_group_is_gone(group: int, timeout: float = 60) -> None:
    """A killed dvc process holds its lock until it is reaped; on a loaded machine that is
    not instant, and DVC then reports the stage as busy. A user restarting after a crash
    waits the same way."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)


def _model_of(project, version: str) -> str:
    return registry.registration(project / "registry", version)["data"]["model_sha256"]


def _wait_for_the_stage_run(project, stage: str, since: float, timeout: float = 120) -> None:
    """Until the stage's own Dagster run has started, so the kill lands inside the stage (the
    warm stage server finishes promote in about a second: a fixed sleep can land after it)."""
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

    deadline = time.monotonic() + timeout
    with DagsterInstance.from_config(str(project / ".dagster")) as instance:
        while time.monotonic() < deadline:
            runs = instance.get_run_records(RunsFilter(tags={"governance/stage": stage}),
                                            limit=1)
            if runs and runs[0].create_timestamp.timestamp() >= since and \
                    runs[0].dagster_run.status == DagsterRunStatus.STARTED:
                return
            time.sleep(0.02)
    pytest.fail(f"the {stage} stage's Dagster run never started")


@pytest.mark.parametrize("stage", ["prepare", "train", "evaluate", "document", "promote"])
def test_a_run_killed_in_a_stage_is_recovered_by_the_plain_command(project, stage):
    staged = registry.get_alias(project / "registry", "staging")
    started = time.time()
    process = subprocess.Popen([str(GOVERNANCE), "--root", str(project), "run", "--force"],
                               cwd=project, env=_env(project), stdout=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        for line in process.stdout:
            if line.strip().startswith(stage) and "running" in line:
                _wait_for_the_stage_run(project, stage, since=started)
                break
        else:
            pytest.fail(f"the run never reached {stage}")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        _wait_until_group_is_gone(process.pid)
    recovered = governance(project, "run")
    assert recovered.returncode == 0, recovered.stdout[-3000:]
    assert "PROMOTED" in recovered.stdout
    gates = _json(project, "reports/gates.json")["gates"]
    assert all(g["verdict"] != "STALE" for g in gates)
    # the same data and seed give the same candidate: staging holds that model, either in the
    # version it held or, when the kill came after promote had moved it, in the killed run's
    # complete version; the ledger behind it verifies
    now = registry.get_alias(project / "registry", "staging")
    assert _model_of(project, now) == _model_of(project, staged)
    verified = governance(project, "verify")
    assert verified.returncode == 0, verified.stdout
    status = subprocess.run([str(DVC), "status", "dvc.yaml"], cwd=project, capture_output=True,
                            text=True)   # production/dvc.yaml's stage is always changed
    assert "changed" not in status.stdout, status.stdout


def test_two_runs_in_one_checkout_serialize_and_both_promote(project):
    runs = [subprocess.Popen([str(GOVERNANCE), "--root", str(project), "run", "--force"],
                             cwd=project, env=_env(project), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
            for _ in range(2)]
    outputs = [run.communicate(timeout=900)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    waited = [out for out in outputs if "another `governance run` is working" in out]
    assert len(waited) == 1
    assert "Unable to acquire lock" not in "".join(outputs)
    assert all(g["verdict"] != "STALE" for g in _json(project, "reports/gates.json")["gates"])
