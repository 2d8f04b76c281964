"""Shared fixtures: real project copies in tmp dirs, the graph on an ephemeral instance.

`make test` runs on two pytest-xdist workers (`--dist loadgroup --no-loadscope-reorder`): tests
that share mutable state carry one `xdist_group` and run in one worker, in file order; the
queue order is set below so that the longest groups start first.
"""

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import yaml
from dagster import AssetSelection, DagsterInstance, materialize
from filelock import FileLock

from governance_assets.assets import GRAPH_ASSETS, PROMOTION_CHECKS
from governance_assets.checks import GATE_CHECKS
from governance_assets.core.layout import Layout
from governance_assets.core.params import load_params
from governance_assets.resources import GovernanceProject

from .latency_budget import with_test_latency_budget
from .s3_server import s3_endpoint  # noqa: F401 (a fixture for every test module)

REPO = Path(__file__).resolve().parents[1]
# A Python warning printed (SupersessionWarning: ..., DeprecationWarning: ...), a tool's
# "Warning: ..." or a Dagster WARNING log line; not the gates' own descriptions, which the
# DEBUG lines quote ("warning, does not block promotion", "On a failure: Warning only, ...").
WARNING_LINE = re.compile(r"[A-Za-z]Warning\b|\bWarning:|\bWARNING\b")
GERMAN = REPO / "data" / "raw" / "german_credit.csv"


def make_project(root: Path, **overrides) -> Path:
    """A project folder with the repo's params and raw data, judged by the test latency budget
    (tests/latency_budget.py); overrides are dotted params keys."""
    for relative in ("params.yaml", "datasets", "governance/allowed_signers", "data/raw",
                     "data/reference",
                     "data/DATASHEET_german_credit.md",
                     "data/DATASHEET_census_income.md", "requirements.lock",
                     "requirements-dvc.lock", "Containerfile",
                     "governance/allowed_signers"):
        source, target = REPO / relative, root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy(source, target)
    with_test_latency_budget(root)
    if overrides:
        set_params(root, **overrides)
    return root


def set_params(root: Path, **overrides) -> None:
    """policy__min_auc=0.9 sets policy.min_auc; a '.' cannot be a keyword, so '__' stands for it.
    datasets__<name>__key sets `key` in datasets/<name>.yaml, where that dataset's spec lives."""
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split("__")
        if parents[:1] == ["datasets"]:
            path, parents = root / "datasets" / f"{parents[1]}.yaml", parents[2:]
        else:
            path = root / "params.yaml"
        params = yaml.safe_load(path.read_text())
        node = params
        for key in parents:
            node = node[key]
        node[leaf] = value
        path.write_text(yaml.safe_dump(params, sort_keys=False))


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str,
               build: Callable[[Path], None]) -> Path:
    """A folder built once per pytest session and shared by its xdist workers, for an
    expensive read-only starting point (each test copies it before changing anything).

    Workers of one run share the parent of their own base temp dir; the first to ask builds
    under a file lock, the others wait for it. A failed build leaves no marker, so the next
    caller builds again rather than reading half a folder.
    """
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    target, done = base / name, base / f"{name}.built"
    with FileLock(str(base / f"{name}.lock")):
        if not done.exists():
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir()
            build(target)
            done.touch()
    return target


# The queue order under xdist, longest first: the DVC module's first half builds the shared
# first run (tests/test_dvc.py) while the other worker runs the graph tests, then takes the
# DVC module's second half, which copies that run; everything else follows in file order.
XDIST_QUEUE = ("group:dvc_first_half", "file:test_graph.py", "group:dvc_second_half")


def _queue_position(item: pytest.Item) -> int:
    marker = item.get_closest_marker("xdist_group")
    keys = {f"file:{item.path.name}"} | ({f"group:{marker.args[0]}"} if marker else set())
    return next((i for i, key in enumerate(XDIST_QUEUE) if key in keys), len(XDIST_QUEUE))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist only (a serial run keeps file order): every worker collects the same order,
    and `--no-loadscope-reorder` makes it the order the controller hands work out."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=_queue_position)   # stable: file order within each position


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Stop rather than run grouped tests apart: xdist marks a group by suffixing the node id
    with `@group`, which a pytest that builds node ids otherwise silently ignores."""
    if not (os.environ.get("PYTEST_XDIST_WORKER") and session.config.getvalue("loadgroup")):
        return
    ungrouped = [item.nodeid for item in session.items
                 if item.get_closest_marker("xdist_group") and "@" not in item.nodeid]
    if ungrouped:
        raise pytest.UsageError(f"--dist loadgroup ignored the xdist_group of {ungrouped[0]} "
                                "(pytest and pytest-xdist out of step; see pyproject.toml)")


def declare_vendor_score(root: Path, score: Callable[[pd.DataFrame], object], provenance: str,
                         **overrides) -> None:
    """The raw German credit file gains `vendor_risk_score` (`score` of the raw text frame),
    declared as the external candidate: favourable when below 5. Overrides are params keys."""
    raw = root / "data/raw/german_credit.csv"
    frame = pd.read_csv(raw, dtype=str)
    frame["vendor_risk_score"] = score(frame)
    frame.to_csv(raw, index=False)
    spec = "datasets__german_credit__"
    numeric = load_params(root).active.numeric_columns
    set_params(root, **{f"{spec}numeric_columns": [*numeric, "vendor_risk_score"],
                        f"{spec}external_scores": {
                            "column": "vendor_risk_score", "favourable_when": "<",
                            "threshold": 5, "provenance": provenance}, **overrides})


def german_spec_path(name: str) -> str:
    return f"datasets__german_credit__{name}"


def run_graph(root: Path, instance: DagsterInstance, selection=None):
    """Materialize the graph with every gate, as `dagster dev` or a schedule would (production
    is approval-gated and left out unless selected)."""
    return materialize(
        [*GRAPH_ASSETS, *GATE_CHECKS, *PROMOTION_CHECKS],
        instance=instance,
        resources={"project": GovernanceProject(root=str(root))},
        selection=selection or AssetSelection.all() - AssetSelection.groups("production"),
        raise_on_error=False,
    )


def check_results(result) -> dict[str, object]:
    """Every check evaluation in a run, by check name."""
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def materialized(result) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def layout(root: Path) -> Layout:
    return Layout(root)


def params_of(root: Path):
    return load_params(root)


@pytest.fixture(scope="session")
def passing(tmp_path_factory):
    """The bundled German credit data under the bundled policy (latency held to the test
    budget), on its own instance.

    Shared by the graph tests: a test that changes anything copies the project first.
    """
    root = make_project(tmp_path_factory.mktemp("passing"))
    with DagsterInstance.ephemeral() as instance:
        yield root, instance, run_graph(root, instance)


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


@pytest.fixture
def german() -> pd.DataFrame:
    return pd.read_csv(GERMAN, dtype=str, keep_default_na=False)
