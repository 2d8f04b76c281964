"""Shared fixtures: real project copies in tmp dirs, the graph on an ephemeral instance."""

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from dagster import AssetSelection, DagsterInstance, materialize

from governance_assets.assets import GRAPH_ASSETS, PROMOTION_CHECKS
from governance_assets.checks import GATE_CHECKS
from governance_assets.core.layout import Layout
from governance_assets.core.params import load_params
from governance_assets.resources import GovernanceProject

REPO = Path(__file__).resolve().parents[1]
GERMAN = REPO / "data" / "raw" / "german_credit.csv"


def make_project(root: Path, **overrides) -> Path:
    """A project folder with the repo's params and raw data; overrides are dotted params keys."""
    for relative in ("params.yaml", "data/raw", "data/reference", "data/DATASHEET_german_credit.md",
                     "data/DATASHEET_census_income.md", "requirements.lock",
                     "requirements-dvc.lock", "Containerfile"):
        source, target = REPO / relative, root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy(source, target)
    if overrides:
        set_params(root, **overrides)
    return root


def set_params(root: Path, **overrides) -> None:
    """policy__min_auc=0.9 sets policy.min_auc; a '.' cannot be a keyword, so '__' stands for it."""
    path = root / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split("__")
        node = params
        for key in parents:
            node = node[key]
        node[leaf] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False))


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
    """The bundled German credit data under the bundled policy, on its own instance.

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
