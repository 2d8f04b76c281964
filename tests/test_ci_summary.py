"""What CI shows beside the gate verdicts: the job summary's metrics table from a real
`dvc metrics diff`, and the permissions the workflow's JUnit report action needs."""

import json
import subprocess
from pathlib import Path

import yaml

from governance_assets.cli.ci import dvc_diffs

from .conftest import REPO
from .worktree import commit_all

WORKFLOW = REPO / ".github/workflows/governance.yml"
JUNIT_ACTION = "mikepenz/action-junit-report"


def _dvc_repo_with_metrics(root: Path) -> Path:
    """A git + DVC repo declaring a stage metric (committed) and carbon's runtime file (never
    committed), as dvc.yaml does; the workspace then changes one metric and writes carbon."""
    (root / ".venv-dvc").symlink_to(REPO / ".venv-dvc")
    (root / ".gitignore").write_text(".venv-dvc\n/reports/runtime/\n")
    (root / "dvc.yaml").write_text(yaml.safe_dump({"metrics": [
        "reports/metrics/performance.json", "reports/runtime/carbon.json"]}))
    metrics = root / "reports/metrics/performance.json"
    metrics.parent.mkdir(parents=True)
    metrics.write_text(json.dumps({"auc": 0.7815, "f1": 0.8}))
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run([str(root / ".venv-dvc/bin/dvc"), "init", "-q"], cwd=root, check=True)
    commit_all(root, "metrics on main")
    metrics.write_text(json.dumps({"auc": 0.7815, "f1": 0.9}))
    carbon = root / "reports/runtime/carbon.json"
    carbon.parent.mkdir(parents=True)
    carbon.write_text(json.dumps({"energy_kwh": 0.0002, "cpu_model": "AMD EPYC",
                                  "parts": {"search": {"tracker": "codecarbon"}}}))
    return root


def test_the_summary_shows_every_metric_beside_the_refs_not_only_carbons_descriptions(tmp_path):
    """Mutations killed: `dvc metrics diff` without --all (the unchanged auc row is gone, as it
    was when only carbon's new rows showed), or every text metric kept (carbon's CPU model and
    tracker fill the table)."""
    root = _dvc_repo_with_metrics(tmp_path)
    table = dvc_diffs(root, "HEAD")["dvc metrics diff HEAD --all"]
    rows = [line for line in table.splitlines() if line.startswith("| reports/")]
    assert rows == [
        "| reports/metrics/performance.json | auc | 0.7815 | 0.7815 | 0 |",
        "| reports/metrics/performance.json | f1 | 0.8 | 0.9 | 0.1 |",
        "| reports/runtime/carbon.json | energy_kwh | - | 0.0002 | - |",
    ]
    assert table.startswith("| path | metric | HEAD | workspace | change |")


def test_the_workflow_grants_the_junit_report_action_what_it_writes():
    """The action creates a check run with the job's token. Mutation killed: the job without
    `checks: write` (the action fails with "Resource not accessible by integration")."""
    workflow = yaml.safe_load(WORKFLOW.read_text())
    jobs = [job for job in workflow["jobs"].values()
            if any(step.get("uses", "").startswith(JUNIT_ACTION) for step in job["steps"])]
    assert jobs, f"no job of {WORKFLOW.name} uses {JUNIT_ACTION}"
    for job in jobs:
        assert job["permissions"] == {"contents": "read", "checks": "write"}
    assert workflow["permissions"] == {"contents": "read"}
