"""The registry lock every writer takes: a file lock on a folder, an exclusively created object
on object storage (core/record/object_lock.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from filelock import FileLock, Timeout

from .. import object_lock, storage
from .entry import LOCK_FILE, OBJECT_LOCK_FILE, LedgerError, RegistryLocked

LOCK_TIMEOUT_ENV = "GOVERNANCE_LOCK_TIMEOUT"


@contextmanager
def registry_lock(root: storage.RegistryPath) -> Iterator[None]:
    """The one registry lock. filelock opens it with O_NOFOLLOW and without O_TRUNC, so a
    planted symlink is refused instead of followed (and its target is never truncated). An
    object store has neither flock nor symlinks: there it is a lock object (object_lock). A
    file:// root is a folder on disk that writers may also name by its path, so there the
    writer takes the folder's flock as well, and the two kinds of writer exclude each other."""
    if not storage.is_object_store(root):
        with _file_lock(root):
            yield
        return
    disk = storage.local_folder(root)
    with (_file_lock(disk) if disk is not None else nullcontext()), \
            _object_registry_lock(root):
        yield


@contextmanager
def _file_lock(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    path = root / LOCK_FILE
    if path.is_symlink():
        raise LedgerError(f"{path} is a symlink; the registry lock is never followed through "
                          "one. Remove it and run again.")
    timeout = float(os.environ.get(LOCK_TIMEOUT_ENV, "60"))
    lock = FileLock(path, timeout=timeout)
    try:
        with lock:
            yield
    except Timeout as error:
        raise RegistryLocked(f"registry {root} is locked by another process (waited "
                             f"{timeout:g} s for {path}); try again when it finishes") from error


@contextmanager
def _object_registry_lock(root: storage.RegistryPath) -> Iterator[None]:
    """object_lock's failures as the ledger's errors, which the CLI maps to exit codes."""
    timeout = float(os.environ.get(LOCK_TIMEOUT_ENV, "60"))
    path = root / OBJECT_LOCK_FILE
    try:
        with object_lock.object_lock(path, timeout):
            yield
    except object_lock.LockTimeout as error:
        raise RegistryLocked(f"registry {root} is locked by another process (waited "
                             f"{timeout:g} s for {path}: {error}); try again when it finishes"
                             ) from error
    except (object_lock.LockLost, object_lock.LockUnsupported) as error:
        raise LedgerError(str(error)) from error
