"""How every report-producing asset finishes: JSON report, flat DVC metrics, data version."""


from pathlib import Path
from typing import TYPE_CHECKING

from dagster import DataVersion, MaterializeResult, MetadataValue

from ..core.files import fingerprint, write_json_atomic
from ..core.layout import Layout

if TYPE_CHECKING:
    import pandas as pd


def read_split(layout: Layout, name: str) -> "pd.DataFrame":
    import pandas as pd

    path = layout.split(name)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: materialize dataset_splits first")
    return pd.read_parquet(path)


def publish(layout: Layout, name: str, report: dict, metrics: dict,
            extra_files: tuple[Path, ...] = ()) -> MaterializeResult:
    """Write reports/<name>.json and reports/metrics/<name>.json; version the asset by content."""
    report_path = write_json_atomic(layout.report(f"{name}.json"), report)
    write_json_atomic(layout.metrics(name), metrics)
    files = {"report": report_path, **{p.name: p for p in extra_files}}
    return MaterializeResult(
        data_version=DataVersion(fingerprint(files.values())),
        metadata={**{k: v for k, v in metrics.items() if isinstance(v, int | float | str)},
                  **{k: MetadataValue.path(layout.relative(p)) for k, p in files.items()}},
    )
