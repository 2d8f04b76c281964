"""A content-addressed model registry: immutable versions, aliases moved atomically under a lock.

A version is the model file plus its evidence, named by the hash of all of them, and never
rewritten. A model whose sha256 no longer matches its manifest is refused, never loaded.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from .files import read_json, sha256_of_file, write_json_atomic

MODEL_FILE = "model.joblib"


class RegistryError(RuntimeError):
    """The registry refused an operation; the message says which version and why."""


def _version_id(hashes: dict[str, str]) -> str:
    digest = hashlib.sha256(json.dumps(hashes, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def register(root: Path, model: Path, evidence: dict[str, Path], metadata: dict) -> dict:
    """Store model + evidence as a new version, or return the identical one already stored."""
    files = {MODEL_FILE: model, **evidence}
    hashes = {name: sha256_of_file(path) for name, path in files.items()}
    version = _version_id(hashes)
    target = root / "versions" / version
    with _locked(root):
        if target.exists():
            manifest = read_json(target / "manifest.json")
            if manifest["files"] != hashes:
                raise RegistryError(f"version {version} exists with different content")
            return manifest
        manifest = {"version": version, "created": _now(), "files": hashes,
                    "model_sha256": hashes[MODEL_FILE], "metadata": metadata}
        staging = Path(tempfile.mkdtemp(dir=root, prefix=".incoming-"))
        for name, path in files.items():
            shutil.copyfile(path, staging / name)
        write_json_atomic(staging / "manifest.json", manifest)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(target)
    return manifest


def _aliases_file(root: Path) -> Path:
    return root / "aliases.json"


def _read_aliases(root: Path) -> dict:
    path = _aliases_file(root)
    return read_json(path) if path.exists() else {"aliases": {}, "history": []}


def get_alias(root: Path, alias: str) -> str | None:
    return _read_aliases(root)["aliases"].get(alias)


def set_alias(root: Path, alias: str, version: str, reason: str) -> dict:
    """Point alias at version; the previous target is kept in the alias history."""
    if not (root / "versions" / version / "manifest.json").exists():
        raise RegistryError(f"cannot point {alias!r} at unknown version {version}")
    with _locked(root):
        state = _read_aliases(root)
        previous = state["aliases"].get(alias)
        state["aliases"][alias] = version
        state["history"].append({"alias": alias, "version": version, "previous": previous,
                                 "at": _now(), "reason": reason})
        write_json_atomic(_aliases_file(root), state)
    return state


def manifest(root: Path, version: str) -> dict:
    path = root / "versions" / version / "manifest.json"
    if not path.exists():
        raise RegistryError(f"unknown registry version {version}")
    return read_json(path)


def verified_model_path(root: Path, version: str) -> Path:
    """The model file of a version, only if its bytes still match the recorded sha256."""
    expected = manifest(root, version)["model_sha256"]
    path = root / "versions" / version / MODEL_FILE
    actual = sha256_of_file(path)
    if actual != expected:
        raise RegistryError(f"version {version}: {MODEL_FILE} sha256 {actual[:12]} does not "
                            f"match the registry's {expected[:12]}; refusing to load it")
    return path


def load_model(root: Path, version: str):
    import joblib

    return joblib.load(verified_model_path(root, version))
