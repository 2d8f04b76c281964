"""Where the registry lives: a local folder or any fsspec URL, and what each one can do.

The root is `GOVERNANCE_REGISTRY` if set, else `registry.root` in params.yaml, else the
project's `registry/` folder. Every path under it is a `UPath`, so the registry code reads and
writes S3, GCS, Azure or memory:// through the same path API as a folder on disk.

Two families of storage, told apart by how the root is written:

- a plain path (the default): a `pathlib.Path` (UPath 0.3 returns a `PosixUPath`, a subclass).
  POSIX semantics: append with O_APPEND, rename a folder, replace a file, lock with flock.
- a URL, any protocol, `file://` included: object-store semantics, the lowest common
  denominator of S3 and its kin. No append, no rename of a folder, no symlinks, no advisory
  locks; what remains is "put a whole object" (atomic: readers see the old bytes or the new
  ones) and, on some stores, "create an object only if it does not exist". `file://` is served
  through fsspec's local filesystem with these same semantics, which is how the tests run the
  object-store code on disk with several processes.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import yaml
from upath import UPath

from .. import yaml_text

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

REGISTRY_ENV = "GOVERNANCE_REGISTRY"
DEFAULT_ROOT = "registry"
# Protocols on which create_exclusive makes an object, content included, only if it does not
# exist, in one step: local disk (a hard link), memory (one process), S3 (a PUT with
# If-None-Match: *, which s3fs sends; AWS S3 and recent S3-compatible servers honour it).
# Elsewhere two writers could both believe they hold the lock, so a second writer is refused
# unless one writer is declared.
EXCLUSIVE_CREATE = frozenset({"file", "local", "memory", "s3", "s3a"})
SINGLE_WRITER_ENV = "GOVERNANCE_REGISTRY_SINGLE_WRITER"

# A registry root or any path under it: a pathlib.Path for a local folder, a UPath for a URL.
RegistryPath: TypeAlias = Path | UPath


class StorageError(RuntimeError):
    """The registry's storage cannot do what was asked; the message says what and where."""


def is_url(location: str) -> bool:
    return "://" in location


def configured_location(project: Path) -> str:
    """The registry root as configured: environment first (a deployment points CI or a cluster
    at a bucket without editing params), then params.yaml, then the local default.

    params.yaml is read for this one key only: the full check (core/params/) reports any
    other problem in it where it always has, and the registry must be reachable for `verify`
    even when the rest of params.yaml is broken.
    """
    from_env = os.environ.get(REGISTRY_ENV, "").strip()
    if from_env:
        return from_env
    source = project / "params.yaml"
    try:
        params = yaml_text.safe_load(source.read_text()) if source.is_file() else None
    except (OSError, yaml.YAMLError):
        params = None
    block = params.get("registry") if isinstance(params, dict) else None
    root = block.get("root") if isinstance(block, dict) else None
    return str(root) if isinstance(root, str) and root.strip() else DEFAULT_ROOT


def resolve_root(project: Path, location: str | None = None) -> RegistryPath:
    """A URL as a UPath, a plain path relative to the project (absolute stays absolute)."""
    location = location or configured_location(project)
    if is_url(location):
        # No listings cache: s3fs would otherwise answer exists() and a file's size from a
        # listing taken before another writer's put, and a registry check must see the store.
        return UPath(location, use_listings_cache=False)
    path = Path(location)
    return path if path.is_absolute() else project / path


def is_object_store(path: RegistryPath) -> bool:
    """Everything that is not a plain local path gets object-store semantics."""
    return not isinstance(path, Path)


def _fs_and_path(path: RegistryPath) -> tuple[AbstractFileSystem, str]:
    return path.fs, path.path  # type: ignore[union-attr]


def _is_local_fs(fs: AbstractFileSystem) -> bool:
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)
    return bool({"file", "local"} & set(protocols))


def local_folder(path: RegistryPath) -> Path | None:
    """The folder on disk behind a file:// URL (None for any other store)."""
    if isinstance(path, Path):
        return path
    fs, key = _fs_and_path(path)
    return Path(key) if _is_local_fs(fs) else None


def protocol(path: RegistryPath) -> str:
    return "file" if isinstance(path, Path) else (path.protocol or "file")  # type: ignore[union-attr]


def read_or_none(path: RegistryPath) -> bytes | None:
    """The object's bytes, or None when it does not exist. Read fresh: s3fs caches listings,
    and a registry decision must never rest on a cached view of another writer's object."""
    if isinstance(path, Path):
        try:
            return path.read_bytes() if path.is_file() else None
        except FileNotFoundError:
            return None
    fs, key = _fs_and_path(path)
    fs.invalidate_cache(key)
    try:
        return fs.cat_file(key)
    except FileNotFoundError:
        return None


def put(path: RegistryPath, data: bytes) -> None:
    """Replace a whole object atomically: readers see the old bytes or the new, never part.

    An object store's PUT is atomic by itself. fsspec's local filesystem writes in place
    (truncate, then write), so there the bytes go through replace_file (a rename on one disk).
    """
    fs, key = _fs_and_path(path)
    if not _is_local_fs(fs):
        fs.pipe_file(key, data)
        fs.invalidate_cache(key)
        return
    replace_file(Path(key), data)


def replace_file(path: Path, data: bytes) -> None:
    """A file on disk replaced whole: a temporary file beside it, fsynced, renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def create_exclusive(path: RegistryPath, data: bytes) -> bool:
    """Create the object with its content only if it does not exist; False if it does.

    The content must appear with the object: a waiter reading a lock that exists but is still
    empty could not tell a live writer from a dead one. On disk the bytes go to a temporary
    file that is then hard-linked to the name (link fails if the name exists; O_EXCL alone
    would show an empty file first); elsewhere fsspec's `pipe_file(mode="create")`, which
    memory:// commits whole and s3fs sends as one PUT with If-None-Match: *.
    """
    if not data:
        raise ValueError("an exclusive create needs content")
    fs, key = _fs_and_path(path)
    try:
        if _is_local_fs(fs):
            _link_exclusive(fs, key, data)
        else:
            fs.pipe_file(key, data, mode="create")
    except FileExistsError:
        return False
    finally:
        fs.invalidate_cache(key)
    return True


def _link_exclusive(fs: AbstractFileSystem, key: str, data: bytes) -> None:
    parent = fs._parent(key)
    fs.makedirs(parent, exist_ok=True)
    temp = f"{parent}/.{key.rsplit('/', 1)[-1]}.{uuid.uuid4().hex}.tmp"
    with open(temp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    try:
        os.link(temp, key)
    finally:
        os.unlink(temp)


def exclusive_create_supported(path: RegistryPath) -> bool:
    return protocol(path) in EXCLUSIVE_CREATE


def single_writer_declared() -> bool:
    return os.environ.get(SINGLE_WRITER_ENV, "").strip() in ("1", "true", "yes")


def delete(path: RegistryPath) -> None:
    """Remove one object; a missing one is not an error (another writer may have removed it)."""
    if isinstance(path, Path):
        path.unlink(missing_ok=True)
        return
    fs, key = _fs_and_path(path)
    with contextlib.suppress(FileNotFoundError):
        fs.rm_file(key)
    fs.invalidate_cache(key)


def delete_tree(path: RegistryPath) -> None:
    """Remove a folder (a prefix, on an object store) and everything under it, if present."""
    fs, key = _fs_and_path(path) if not isinstance(path, Path) else (None, str(path))
    if fs is None:
        import shutil

        shutil.rmtree(path, ignore_errors=True)
        return
    fs.invalidate_cache(key)
    if fs.exists(key):
        fs.rm(key, recursive=True)
    fs.invalidate_cache(key)


def describe(path: RegistryPath) -> str:
    """How a path is named in messages: a URL keeps its protocol."""
    return str(path)
