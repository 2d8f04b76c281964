"""Atomic writes and content hashes: a crash never leaves half a report behind.

A path may be a local one or a UPath on object storage (a registry root given as a URL,
core/record/storage.py): there a write is one whole-object put, which is atomic by itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .record import storage

if TYPE_CHECKING:
    import pandas as pd


def write_bytes_atomic(path: storage.RegistryPath, data: bytes) -> storage.RegistryPath:
    if storage.is_object_store(path):
        storage.put(path, data)
        return path
    storage.replace_file(path, data)
    return path


def write_text_atomic(path: storage.RegistryPath, text: str) -> storage.RegistryPath:
    return write_bytes_atomic(path, text.encode())


def write_json_atomic(path: storage.RegistryPath, data: Any) -> storage.RegistryPath:
    return write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def write_parquet_atomic(path: storage.RegistryPath, frame: pd.DataFrame
                         ) -> storage.RegistryPath:
    return write_bytes_atomic(path, frame.to_parquet(index=False))


def _object_bytes(path: storage.RegistryPath) -> bytes:
    """An object's bytes read fresh, never through a cached listing (its size may be old)."""
    data = storage.read_or_none(path)
    if data is None:
        raise FileNotFoundError(str(path))
    return data


def read_json(path: storage.RegistryPath) -> Any:
    if storage.is_object_store(path):
        return json.loads(_object_bytes(path))
    return json.loads(path.read_text())


def read_parquet(path: storage.RegistryPath) -> pd.DataFrame:
    """A Parquet file from disk or from object storage (pyarrow takes no UPath of a URL)."""
    import io

    import pandas as pd

    if storage.is_object_store(path):
        return pd.read_parquet(io.BytesIO(_object_bytes(path)))
    return pd.read_parquet(path)


def md5_of_file(path: Path) -> str:
    """The hash DVC 3 records for a file dependency in dvc.lock."""
    digest = hashlib.md5()
    with path.open("rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_of_file(path: storage.RegistryPath) -> str:
    if storage.is_object_store(path):
        return hashlib.sha256(_object_bytes(path)).hexdigest()
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(paths: Iterable[Path]) -> str:
    """One content hash for an asset made of several files: its Dagster data version."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        digest.update(sha256_of_file(path).encode())
    return digest.hexdigest()[:16]
