"""Which files each asset of the governed graph writes: the datasets its lineage names.

Dagster knows the graph's edges between assets; it does not know the files an asset leaves on
disk, which is what a lineage backend (Marquez, DataHub) tracks and what dvc.yaml declares.
The paths come from Layout, so they move with it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..layout import Layout

TABULAR_SUFFIXES = (".parquet", ".csv", ".csv.gz")


def _reports(*names: str) -> Callable[[Layout], list[Path]]:
    return lambda layout: [layout.report(name) for name in names]


def _splits(layout: Layout) -> list[Path]:
    """Every frame dataset_splits wrote (train, validation, golden test, drift periods)."""
    frames = sorted(layout.splits_dir.glob("*.parquet")) if layout.splits_dir.exists() else []
    return [*frames, layout.report("splits.json")]


FILES_OF_ASSET: dict[str, Callable[[Layout], list[Path]]] = {
    "validated_dataset": lambda layout: [layout.validated, layout.report("validation.json")],
    "dataset_splits": _splits,
    "model_search": _reports("search.json"),
    "candidate_model": lambda layout: [layout.model, layout.model_meta],
    "performance_report": _reports("performance.json"),
    "proxy_report": _reports("proxies.json"),
    "fairness_report": _reports("fairness.json"),
    "explanation_report": _reports("explanation.json"),
    "drift_report": _reports("drift.json", "drift.html"),
    "robustness_report": _reports("robustness.json"),
    "reference_agreement_report": _reports("reference_agreement.json"),
    "model_card": _reports("model_card.json", "model_card.md"),
    "compliance_report": _reports("compliance.json", "compliance.md", "compliance.html"),
    "promotion_decision": _reports("decision.json"),
    "staging_model": _reports("staging.json"),
}


def files_of(asset: str, layout: Layout, raw_path: str) -> list[Path]:
    """The files `asset` writes that exist now (a refused validation leaves no frame, a
    blocked candidate no staging record). raw_dataset's file is the one params.yaml selects."""
    if asset == "raw_dataset":
        candidates = [layout.root / raw_path]
    else:
        candidates = FILES_OF_ASSET.get(asset, lambda _: [])(layout)
    return [path for path in candidates if path.is_file()]


def is_tabular(path: Path) -> bool:
    return path.name.endswith(TABULAR_SUFFIXES)
