"""How every report-producing asset finishes: JSON report bound to its inputs, flat DVC metrics.

Reports are deterministic (same inputs, same bytes), so DVC's lock file does not change when a
stage re-runs on the same inputs; figures that depend on the machine go to reports/runtime/.
"""

from pathlib import Path
from typing import TYPE_CHECKING

from dagster import DataVersion, MaterializeResult, MetadataValue

from ..core.files import fingerprint, read_json, write_json_atomic
from ..core.layout import Layout
from ..core.verdicts import candidate_sha256, code_version

if TYPE_CHECKING:
    import pandas as pd

CODE_VERSION = code_version()


def read_split(layout: Layout, name: str) -> "pd.DataFrame":
    import pandas as pd

    path = layout.split(name)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: materialize dataset_splits first")
    return pd.read_parquet(path)


def data_binding(layout: Layout) -> dict:
    """The raw data version the splits were made from, carried into every later report."""
    return {"data_version": read_json(layout.report("splits.json"))["binding"]["data_version"]}


def load_candidate(layout: Layout) -> tuple[object, dict]:
    """The candidate, loaded only if its bytes are the ones recorded at training."""
    import joblib

    sha256 = candidate_sha256(layout)
    return joblib.load(layout.model), {**data_binding(layout), "candidate_sha256": sha256}


def operating_threshold(layout: Layout) -> float:
    """The candidate's decision threshold, as recorded beside it at training (tuned on
    validation by the search, or model.decision_threshold)."""
    return float(read_json(layout.model_meta)["decision_threshold"])


def publish(layout: Layout, name: str, report: dict, metrics: dict,
            extra_files: tuple[Path, ...] = (), extra_metadata: dict | None = None
            ) -> MaterializeResult:
    """Write reports/<name>.json and reports/metrics/<name>.json; version the asset by content."""
    report_path = write_json_atomic(layout.report(f"{name}.json"), report)
    write_json_atomic(layout.metrics(name), metrics)
    files = {"report": report_path, **{p.name: p for p in extra_files}}
    return MaterializeResult(
        data_version=DataVersion(fingerprint(files.values())),
        metadata={**{k: v for k, v in metrics.items() if isinstance(v, int | float | str)},
                  **{k: MetadataValue.path(layout.relative(p)) for k, p in files.items()},
                  **(extra_metadata or {})},
    )
