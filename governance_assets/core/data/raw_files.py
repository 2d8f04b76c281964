"""Reading a raw file (CSV, gzip CSV or Parquet) as text columns, refusing one that is too
large or malformed with a `DataError` that names the file, the params key and where it broke."""

from __future__ import annotations

import contextlib
import csv
import gzip
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from ..params import DatasetSpec

PARQUET_SUFFIXES = (".parquet", ".pq")


class DataError(ValueError):
    """The raw file cannot be read as a table; the message names the file and where it broke."""


def read_dataset(root: Path, name: str, spec: DatasetSpec) -> pd.DataFrame:
    """The dataset's raw file, read with its params block's delimiter and size limit."""
    return read_raw(root / spec.path, spec.delimiter, spec.max_file_mb, f"datasets.{name}")


def read_raw(path: Path, delimiter: str = ",", max_file_mb: float | None = None,
             params_key: str = "datasets.<name>") -> pd.DataFrame:
    """Every cell as text, so type rules can name the offending value instead of guessing.

    CSV (optionally gzipped) or Parquet, by suffix. An empty file is an empty frame (the
    validation report says so); a file that is not a readable table, is larger than
    `max_file_mb`, repeats a column name or uses another delimiter raises DataError, naming
    the params key that changes it.
    """
    path = _readable(path, max_file_mb, params_key)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return _read_parquet(path)
    with _csv_errors(path):
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, sep=delimiter)
        except pd.errors.EmptyDataError:
            return pd.DataFrame()
    _check_header(path, len(frame.columns), delimiter, params_key)
    frame.attrs["format"] = "csv"
    return frame


def read_raw_chunks(path: Path, chunk_rows: int, delimiter: str = ",",
                    params_key: str = "datasets.<name>") -> Iterator[pd.DataFrame]:
    """The file as read_raw reads it, `chunk_rows` rows at a time: a batch of millions of rows
    is never whole in memory. Each chunk keeps its rows' positions in the file as its index,
    so a rule's message names the right line; an empty file yields one empty frame."""
    path = _readable(path, None, params_key)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        yield from _parquet_chunks(path, chunk_rows)
        return
    with _csv_errors(path):
        try:
            reader = pd.read_csv(path, dtype=str, keep_default_na=False, sep=delimiter,
                                 chunksize=chunk_rows)
        except pd.errors.EmptyDataError:
            yield pd.DataFrame()
            return
        with reader:
            for number, chunk in enumerate(reader):
                if number == 0:
                    _check_header(path, len(chunk.columns), delimiter, params_key)
                chunk.attrs["format"] = "csv"
                yield chunk


def _readable(path: Path, max_file_mb: float | None, params_key: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    _check_size(path, max_file_mb, params_key)
    return path


@contextlib.contextmanager
def _csv_errors(path: Path) -> Iterator[None]:
    """pandas' parser errors as a DataError that says how to fix the file."""
    try:
        yield
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: not a readable CSV table: {exc}. Every line must have the "
                        "header's number of comma-separated fields; quote fields that "
                        "contain commas.") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text at {_byte_position(path, exc.start)}: "
                        f"{exc.reason} (byte {exc.object[exc.start:exc.start + 1]!r}). Save the "
                        "file as UTF-8 CSV, or give a .parquet file.") from exc


def _check_size(path: Path, max_file_mb: float | None, params_key: str) -> None:
    """Refuse before reading: a table in memory takes several times its file size."""
    size_mb = path.stat().st_size / 2**20
    if max_file_mb is not None and size_mb > max_file_mb:
        raise DataError(f"{path}: {size_mb:,.0f} MB is above {params_key}.max_file_mb "
                        f"({max_file_mb:g}); reading it takes several times that in memory. "
                        "Raise the limit if the machine has the memory, or give a sample.")


def _header(path: Path, delimiter: str) -> list[str]:
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
        return next(csv.reader(handle, delimiter=delimiter), [])


def _check_header(path: Path, columns: int, delimiter: str, params_key: str) -> None:
    """pandas renames a repeated column to 'name.1' and reads a ';' file as one column;
    both would surface later as 'required column missing', far from the cause."""
    header = _header(path, delimiter)
    repeated = {name: [i + 1 for i, n in enumerate(header) if n == name]
                for name in header if header.count(name) > 1}
    if repeated:
        name, places = next(iter(repeated.items()))
        raise DataError(f"{path}: column {name!r} appears {len(places)} times in the header "
                        f"(columns {', '.join(map(str, places))}); give each column its own "
                        "name")
    if columns == 1 and header:
        for other in (";", "\t", "|", ","):
            if other != delimiter and other in header[0]:
                raise DataError(f"{path}: the header reads as one column: the file looks "
                                f"separated by {other!r}, not {delimiter!r}; set "
                                f"{params_key}.delimiter: {other!r}")


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a damaged file
        raise DataError(f"{path}: not a readable Parquet file: {exc}") from exc
    return _as_text(frame).reset_index(drop=True)


def _parquet_chunks(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    import pyarrow.parquet as pq

    try:
        batches = pq.ParquetFile(path).iter_batches(batch_size=chunk_rows)
        start = 0
        for batch in batches:
            chunk = _as_text(batch.to_pandas())
            chunk.index = pd.RangeIndex(start, start + len(chunk))
            start += len(chunk)
            yield chunk
    except Exception as exc:  # as _read_parquet
        raise DataError(f"{path}: not a readable Parquet file: {exc}") from exc
    if start == 0:
        yield pd.DataFrame()


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every Parquet cell as text, missing ones empty, as a CSV cell reads."""
    text = frame.astype(object).where(frame.notna(), "").astype(str)
    text.attrs["format"] = "parquet"
    return text


def _byte_position(path: Path, offset: int) -> str:
    """Line and column of a byte offset, so the message points at the bad character."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rb") as handle:
        head = handle.read(offset)
    line = head.count(b"\n") + 1
    column = offset - (head.rfind(b"\n") + 1) + 1
    return f"line {line}, column {column}"
