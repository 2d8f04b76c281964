"""Production batches: one file per batch in the batch folder, one Dagster partition per file.

A batch is named by its file stem (`95-003.csv` is partition `95-003`); a stem that cannot be a
partition key (`a,b;c d.csv`, a space, `...`) is mapped to a safe key (`a-b-c-d~<digest>`) that
the reports record beside the file's own name. Every other entry of the folder is listed with
the reason it is not monitored: hidden files, directories, other suffixes, and both files of a
stray pair (`x.csv` and `x.csv.gz` claim the same batch), which are refused without stopping
the other batches. The splitter turns a
dataset with a time column into batches per time value (census: survey years), or, without one,
into seeded random batches named `simulated-NNN` (German credit has no time axis: those batches
show the mechanism, not real production data, and their manifest says so).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..files import sha256_of_file, write_bytes_atomic, write_json_atomic
from ..params import DatasetSpec

if TYPE_CHECKING:  # pandas is imported where a frame is split: the definitions load fast
    import pandas as pd

SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")
MANIFEST = "batches.json"
# What a batch's own name may be as a partition key: it is also a folder name under reports/,
# data/monitoring/ and the decision log, so a leading letter or digit (never `.`, `_`, `-`).
PARTITION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
# A mapped key is `<slug>~<digest>`: `~` never occurs in a name kept as it is, so a mapped key
# cannot collide with one, and the digest of the whole file name separates mapped ones.
MAPPED_SEPARATOR = "~"
SLUG_CHARACTERS = 60
DIGEST_CHARACTERS = 12


class BatchError(ValueError):
    """A batch file cannot be used; the message names the file and the rule."""


@dataclass(frozen=True)
class BatchFile:
    """A file that is a batch, under the partition key it is monitored as."""

    key: str
    path: Path

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class Skipped:
    """A file of the folder that is not monitored, and why (one sentence)."""

    name: str
    why: str


@dataclass(frozen=True)
class BatchFolder:
    """Everything in the batch folder, each file in exactly one place: a batch, refused, or
    ignored."""

    where: Path
    batches: dict[str, BatchFile] = field(default_factory=dict)
    refused: list[Skipped] = field(default_factory=list)
    ignored: list[Skipped] = field(default_factory=list)


def folder(root: Path, batch_folder: str, dataset: str) -> Path:
    return root / batch_folder / dataset


def batch_suffix(name: str) -> str | None:
    """The batch suffix the name ends with, in any letter case (`.CSV` is a CSV file)."""
    lowered = name.lower()
    return next((s for s in sorted(SUFFIXES, key=len, reverse=True) if lowered.endswith(s)),
                None)


def partition_key(name: str) -> str:
    """The partition key of a batch file: its stem when that is a safe key, else a slug of the
    stem and a digest of the whole name (deterministic, never equal to another file's key)."""
    stem = name[: -len(batch_suffix(name) or "")] if batch_suffix(name) else name
    if PARTITION_NAME.match(stem) and "..." not in stem:
        return stem
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-_")[:SLUG_CHARACTERS] or "batch"
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()
    return f"{slug}{MAPPED_SEPARATOR}{digest[:DIGEST_CHARACTERS]}"


def _ignored_because(path: Path) -> str | None:
    """Why a folder entry is not a batch file at all; None when it is one."""
    if path.name.startswith("."):
        return "a hidden file"
    if path.is_dir():
        return "a directory: batches are files in the folder itself"
    if not path.is_file():
        return "not a regular file"
    if path.name == MANIFEST:
        return "the manifest `governance batches` writes"
    if batch_suffix(path.name) is None:
        return f"not a batch file: its suffix is none of {', '.join(SUFFIXES)} (any case)"
    return None


def scan(where: Path) -> BatchFolder:
    """Every entry of the batch folder, sorted by name: a batch under its partition key, a
    stray pair (two files for one key) refused, anything else ignored with its reason."""
    found = BatchFolder(where)
    if not where.is_dir():
        return found
    by_key: dict[str, list[Path]] = {}
    for path in sorted(where.iterdir()):
        why = _ignored_because(path)
        if why is not None:
            found.ignored.append(Skipped(path.name, why))
        else:
            by_key.setdefault(partition_key(path.name), []).append(path)
    for key, paths in by_key.items():
        if len(paths) == 1:
            found.batches[key] = BatchFile(key, paths[0])
            continue
        names = " and ".join(p.name for p in paths)
        for path in paths:
            found.refused.append(Skipped(path.name, (
                f"rule one_file_per_batch: {names} are {len(paths)} files "
                f"for batch {key!r}; keep one (neither is monitored until then; the other "
                "batches are)")))
    return found


def batch_file(where: Path, key: str) -> Path:
    """The file of one partition; a key without exactly one file is a BatchError."""
    found = scan(where)
    if key in found.batches:
        return found.batches[key].path
    refusal = next((f"{where / s.name}: {s.why}" for s in found.refused
                    if partition_key(s.name) == key), None)
    raise BatchError(refusal or f"{where}: no batch file for partition {key!r} (expected "
                                f"{key}.csv, .csv.gz or .parquet)")


def content_key(path: Path) -> str:
    """Short content hash: a fixed or replaced file is a new run, the same file is not."""
    return sha256_of_file(path)[:16]


@dataclass(frozen=True)
class Triage:
    """What a monitoring run does with each batch of the folder, by its content."""

    pending: dict[str, str]
    """key -> content: new or changed content, to score and monitor now."""
    unchanged: dict[str, dict]
    """key -> its status: this very content was already monitored or refused under this key."""
    duplicates: dict[str, str]
    """key -> the batch whose identical content was monitored or refused (or is pending
    before it in this run): not scored, so the decision log never counts the rows twice."""


def triage(found: dict[str, BatchFile], contents: dict[str, str],
           recorded: dict[str, dict]) -> Triage:
    """Sort the batches by content: same bytes as a batch already judged (its status records
    the content) or pending earlier in key order is a duplicate of it."""
    judged = {status["content"]: key for key, status in sorted(recorded.items())
              if status.get("status") in ("monitored", "refused")}
    pending: dict[str, str] = {}
    unchanged: dict[str, dict] = {}
    duplicates: dict[str, str] = {}
    for key in sorted(found):
        content = contents[key]
        if recorded.get(key, {}).get("content") == content:
            unchanged[key] = recorded[key]
        elif content in judged:
            duplicates[key] = judged[content]
        else:
            pending[key] = content
            judged[content] = key
    return Triage(pending, unchanged, duplicates)


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
