"""The project on Dagster's `dg` CLI (`dg check defs`, `dg list defs`, `dg launch`), which
supersedes `dagster dev` / `dagster asset materialize`, beside workspace.yaml: pyproject.toml's
[tool.dg] points dg at the same definitions. dg runs in the project's virtualenv, activated (as
VIRTUAL_ENV says); without it dg warns that the active environment is not the project's."""

import json
import os
import shutil
import subprocess

import pytest
from dagster import DagsterInstance

from .conftest import REPO, WARNING_LINE
from .worktree import git_copy_of_working_tree

DG = REPO / ".venv" / "bin" / "dg"
STAGE_JOBS = {"prepare", "train", "evaluate", "document", "promote", "promote_production"}


def _dg(arguments: list[str], cwd, home) -> subprocess.CompletedProcess:
    """dg with the project's virtualenv activated and an instance home holding the project's
    dagster.yaml (as `make` sets DAGSTER_HOME to .dagster)."""
    home.mkdir(exist_ok=True)
    shutil.copy(REPO / ".dagster/dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "VIRTUAL_ENV": str(REPO / ".venv"), "DAGSTER_HOME": str(home)}
    return subprocess.run([str(DG), *arguments], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=600)


def _warnings(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in (done.stdout + done.stderr).splitlines()
            if WARNING_LINE.search(line)]


def test_dg_check_defs_loads_the_project_without_a_warning(tmp_path):
    """Mutations killed: [tool.dg] gone from pyproject.toml (dg finds no project, exit 1), or
    definitions that fail to load."""
    done = _dg(["check", "defs"], REPO, tmp_path / "home")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All definitions loaded successfully." in done.stdout
    assert _warnings(done) == []


def test_dg_lists_a_job_per_dvc_stage_beside_the_whole_graph(tmp_path):
    """Mutation killed: the stage jobs left out of the Definitions (a stage's run would again
    be `__ephemeral_asset_job__` in the UI, and `dg launch --job prepare` would not exist)."""
    done = _dg(["list", "defs", "--json"], REPO, tmp_path / "home")
    assert done.returncode == 0, done.stderr
    jobs = {job["name"] for job in json.loads(done.stdout)["jobs"]}
    assert STAGE_JOBS | {"governed_graph"} <= jobs


@pytest.mark.slow
def test_dg_launch_runs_a_stages_job_in_a_project_copy(tmp_path):
    """`dg launch --job prepare` in a copy of the project: the run is the stage's job, on the
    copy's instance, and writes the stage's outputs there. Mutation killed: a stage job named
    or selected otherwise (no `prepare` job, or a run without the data group's assets)."""
    root = git_copy_of_working_tree(REPO, tmp_path / "project")
    home = root / ".dagster"
    done = _dg(["launch", "--job", "prepare"], root, home)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (root / "reports/validation.json").is_file()
    with DagsterInstance.from_config(str(home)) as instance:
        [run] = instance.get_runs()
    assert (run.job_name, run.is_success) == ("prepare", True)
    assert _warnings(done) == []
