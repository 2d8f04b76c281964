"""The input check's validated rows, handed to the prepare stage of the same `governance run`.

A cold run validated the raw file twice: in the check that stops bad input before DVC removes
any output, then in the prepare stage, which writes the typed rows (11 s each on the full
census). When the check validates and every rule passes, it writes what prepare would write,
the rows' Parquet bytes and the validation record, to logs/.checked/, and the run passes their
sha256 to the stages in GOVERNANCE_CHECKED_VALIDATION. Prepare takes them only if both files
still have those hashes and the record's binding (the raw file's md5, the rules, the code) is
the one it computes itself; otherwise, as under a plain `dvc repro`, it validates the file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..files import write_bytes_atomic, write_json_atomic, write_parquet_atomic
from ..layout import Layout

ENV = "GOVERNANCE_CHECKED_VALIDATION"
ROWS, RECORD = "validated.parquet", "validation.json"


@dataclass(frozen=True)
class Handed:
    """What the check wrote: the rows' Parquet bytes, the validation record's bytes, and the
    record they hold."""

    rows: bytes
    record_bytes: bytes
    record: dict


def folder(layout: Layout) -> Path:
    return layout.logs / ".checked"


def hand_over(layout: Layout, frame: pd.DataFrame, record: dict) -> dict[str, str]:
    """Write the validated rows and their record; the environment that names them by hash."""
    rows = write_parquet_atomic(folder(layout) / ROWS, frame)
    written = write_json_atomic(folder(layout) / RECORD, record)
    return {ENV: f"{_sha256(rows.read_bytes())}:{_sha256(written.read_bytes())}"}


def take(layout: Layout, binding: dict, token: str | None) -> Handed | None:
    """The handed rows and record if they are the ones the token names and were validated
    under `binding`; None otherwise (the stage then validates the file itself). Taken files
    are removed, so they serve one stage once."""
    if not token:
        return None
    rows_sha256, _, record_sha256 = token.partition(":")
    try:
        rows, record_bytes = ((folder(layout) / name).read_bytes() for name in (ROWS, RECORD))
    except OSError:
        return None
    for name in (ROWS, RECORD):
        (folder(layout) / name).unlink(missing_ok=True)
    if (_sha256(rows), _sha256(record_bytes)) != (rows_sha256, record_sha256):
        return None
    record = json.loads(record_bytes)
    if record.get("binding") != binding or record.get("valid") is not True:
        return None
    return Handed(rows, record_bytes, record)


def write_taken(handed: Handed, rows_path: Path, record_path: Path) -> None:
    """Prepare's outputs, byte for byte what the check wrote."""
    write_bytes_atomic(rows_path, handed.rows)
    write_bytes_atomic(record_path, handed.record_bytes)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
