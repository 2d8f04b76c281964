"""Production batches: one file per batch in the batch folder, one Dagster partition per file.

A batch is named by its file stem (`95-003.csv` is partition `95-003`). The splitter turns a
dataset with a time column into batches per time value (census: survey years), or, without one,
into seeded random batches named `simulated-NNN` (German credit has no time axis: those batches
show the mechanism, not real production data, and their manifest says so).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from ..files import sha256_of_file, write_bytes_atomic, write_json_atomic
from ..params import DatasetSpec

if TYPE_CHECKING:  # pandas is imported where a frame is split: the definitions load fast
    import pandas as pd

SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")
PARTITION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class BatchError(ValueError):
    """A batch file cannot be used; the message names the file and the rule."""


def folder(root: Path, batch_folder: str, dataset: str) -> Path:
    return root / batch_folder / dataset


def _stem(path: Path) -> str | None:
    name = path.name
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return None


def list_batches(where: Path) -> dict[str, Path]:
    """Partition key -> file, for every batch file in the folder (hidden files skipped)."""
    if not where.is_dir():
        return {}
    found: dict[str, Path] = {}
    for path in sorted(where.iterdir()):
        key = _stem(path)
        if key is None or path.name.startswith(".") or not path.is_file():
            continue
        if not PARTITION_NAME.match(key):
            continue
        if key in found:
            raise BatchError(f"{where}: two files for batch {key!r}: {found[key].name} and "
                             f"{path.name}; keep one")
        found[key] = path
    return found


def batch_file(where: Path, key: str) -> Path:
    batches = list_batches(where)
    if key not in batches:
        raise BatchError(f"{where}: no batch file for partition {key!r} (expected "
                         f"{key}.csv, .csv.gz or .parquet)")
    return batches[key]


def content_key(path: Path) -> str:
    """Short content hash: a fixed or replaced file is a new run, the same file is not."""
    return sha256_of_file(path)[:16]


def split_into_batches(raw: pd.DataFrame, spec: DatasetSpec, out: Path, rows_per_batch: int,
                       seed: int, periods: list[str] | None = None,
                       with_labels: bool = True) -> dict:
    """Write batch CSVs of the raw rows; return the manifest (also written as batches.json).

    With a time column: rows of each time value (only `periods` when given), in file order,
    in chunks of `rows_per_batch`, named `<value>-NNN`. Without: a seeded shuffle of all rows,
    named `simulated-NNN`.
    """
    import numpy as np

    if rows_per_batch < 1:
        raise BatchError(f"rows per batch must be positive, got {rows_per_batch}")
    frame = raw if with_labels else raw.drop(columns=[spec.target], errors="ignore")
    groups = _time_groups(frame, spec, periods) if spec.time else \
        {"simulated": frame.iloc[np.random.default_rng(seed).permutation(len(frame))]}
    written = []
    for name, rows in groups.items():
        for number, start in enumerate(range(0, len(rows), rows_per_batch)):
            chunk = rows.iloc[start:start + rows_per_batch]
            path = out / f"{name}-{number:03d}.csv"
            write_bytes_atomic(path, chunk.to_csv(index=False).encode())
            written.append({"batch": path.name[:-4], "rows": len(chunk), "file": path.name})
    manifest = {"dataset_file": spec.path, "simulated": spec.time is None,
                "how": (f"rows of each value of {spec.time.column!r} in file order"
                        if spec.time else f"seeded ({seed}) random shuffle of every row: "
                        "SIMULATED batches, not production data; they include training rows"),
                "rows_per_batch": rows_per_batch, "labels_included": with_labels,
                "batches": written}
    write_json_atomic(out / "batches.json", manifest)
    return manifest


def _time_groups(frame: pd.DataFrame, spec: DatasetSpec, periods: list[str] | None
                 ) -> dict[str, pd.DataFrame]:
    column = spec.time.column
    if column not in frame.columns:
        raise BatchError(f"{spec.path}: time column {column!r} is missing")
    values = frame[column].astype(str).str.strip()
    wanted = periods or sorted(values.unique())
    unknown = sorted(set(wanted) - set(values))
    if unknown:
        raise BatchError(f"{spec.path}: column {column!r} has no rows for {unknown}; values "
                         f"present: {sorted(values.unique())}")
    return {value: frame[values == value] for value in wanted}
