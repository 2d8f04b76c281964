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


def _copy_verified(files: dict[str, Path], expected: dict[str, str], into: Path
                   ) -> dict[str, str]:
    """Copy, then hash the copies: what is stored is exactly what the gates judged, or nothing."""
    hashes = {}
    for name, path in files.items():
        shutil.copyfile(path, into / name)
        hashes[name] = sha256_of_file(into / name)
        if name in expected and hashes[name] != expected[name]:
            raise RegistryError(
                f"{path}: sha256 {hashes[name][:12]}… is not the {expected[name][:12]}… the gates "
                f"judged; it changed after evaluation, so it is not registered")
    return hashes


def register(root: Path, model: Path, evidence: dict[str, Path], metadata: dict,
             expected: dict[str, str] | None = None) -> dict:
    """Store model + evidence as a new version, or return the identical one already stored.

    `expected` maps stored file names to the sha256 their verdicts were bound to; any copy whose
    bytes differ is refused and nothing is stored.
    """
    files = {MODEL_FILE: model, **evidence}
    with _locked(root):
        incoming = Path(tempfile.mkdtemp(dir=root, prefix=".incoming-"))
        try:
            hashes = _copy_verified(files, expected or {}, incoming)
            version = _version_id(hashes)
            target = root / "versions" / version
            if target.exists():
                stored = read_json(target / "manifest.json")
                if stored["files"] != hashes:
                    raise RegistryError(f"version {version} exists with different content")
                return stored
            manifest = {"version": version, "created": _now(), "files": hashes,
                        "model_sha256": hashes[MODEL_FILE], "metadata": metadata}
            write_json_atomic(incoming / "manifest.json", manifest)
            target.parent.mkdir(parents=True, exist_ok=True)
            incoming.rename(target)
            return manifest
        finally:
            shutil.rmtree(incoming, ignore_errors=True)


def _alias_file(root: Path, alias: str) -> Path:
    return root / "aliases" / f"{alias}.json"


def init_registry(root: Path) -> None:
    """Create the production pointer the evaluate stage depends on (empty until promoted)."""
    pointer = _alias_file(root, "production")
    if not pointer.exists():
        write_json_atomic(pointer, {"alias": "production", "version": None})


def get_alias(root: Path, alias: str) -> str | None:
    path = _alias_file(root, alias)
    return read_json(path)["version"] if path.exists() else None


def alias_history(root: Path) -> list[dict]:
    path = root / "aliases" / "history.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def set_alias(root: Path, alias: str, version: str, reason: str) -> dict:
    """Point alias at version; each move is appended to the alias history."""
    if not (root / "versions" / version / "manifest.json").exists():
        raise RegistryError(f"cannot point {alias!r} at unknown version {version}")
    with _locked(root):
        previous = get_alias(root, alias)
        entry = {"alias": alias, "version": version, "previous": previous, "at": _now(),
                 "reason": reason}
        if previous != version:
            write_json_atomic(_alias_file(root, alias), {"alias": alias, "version": version})
        with (root / "aliases" / "history.jsonl").open("a") as history:
            history.write(json.dumps(entry) + "\n")
    return entry


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
