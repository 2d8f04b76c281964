"""The registry lock on object storage: an object created only if it does not exist.

An object store has no advisory locks (flock) and a lock holder killed with -9 does not release
anything, so the lock is an object `.lock.json` holding a unique token and the time it was taken:

- taking it is one exclusive create, content included (storage.create_exclusive: a hard link
  on disk, a PUT with If-None-Match on S3); a writer that finds it waits, polling, up to the
  lock timeout;
- a lock older than the stale timeout was left by a writer that died: it is removed, after
  reading it again to make sure it is still the same token, and taken anew. The age comes from
  the time written in the lock, so the machines' clocks must agree to well within the stale
  timeout, and no registry write may take that long (the longest is copying a model in);
- releasing it removes it only if it still holds this writer's token. A writer that finds its
  token gone held the lock past the stale timeout while another took it over: it says so
  instead of pretending the write was exclusive (the ledger's head check catches the rest).

Where the filesystem has no exclusive create (see storage.EXCLUSIVE_CREATE), two writers could
both believe they hold the lock: the registry refuses to write there unless the deployment
declares a single writer (GOVERNANCE_REGISTRY_SINGLE_WRITER=1), which docs/scale-out.md documents.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from . import storage

STALE_ENV = "GOVERNANCE_LOCK_STALE_SECONDS"
DEFAULT_STALE_SECONDS = 600.0
POLL_SECONDS = 0.05


class LockTimeout(RuntimeError):
    """Another writer held the lock for longer than the timeout (and it is not stale)."""


class LockLost(RuntimeError):
    """This writer's lock was taken over as stale while it held it."""


class LockUnsupported(RuntimeError):
    """The filesystem cannot create an object exclusively, and no single writer is declared."""


def stale_seconds() -> float:
    return float(os.environ.get(STALE_ENV, DEFAULT_STALE_SECONDS))


def _token() -> dict:
    return {"token": uuid.uuid4().hex, "host": socket.gethostname(), "pid": os.getpid(),
            "taken_at": time.time()}


def _read(path: storage.RegistryPath) -> dict | None:
    """The lock's content; a lock that is not this code's JSON has no token and no time."""
    data = storage.read_or_none(path)
    if data is None:
        return None
    try:
        found = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        found = None
    return found if isinstance(found, dict) else {"token": None, "taken_at": None}


def _age(held: dict, first_seen: dict[str, float]) -> float:
    """Seconds the lock has been held: from its own time, or (a lock without one, written by
    something else) from when this waiter first saw it, so it is never stale at first sight."""
    if isinstance(held.get("taken_at"), (int, float)):
        return time.time() - float(held["taken_at"])
    seen = first_seen.setdefault(repr(held), time.monotonic())
    return time.monotonic() - seen


def _remove_if_stale(path: storage.RegistryPath, stale_after: float,
                     first_seen: dict[str, float]) -> bool:
    """Remove a lock left by a dead writer; True if one was removed."""
    held = _read(path)
    if held is None:
        return False
    if _age(held, first_seen) < stale_after:
        return False
    again = _read(path)  # the same lock still? (another waiter may have taken it over)
    if again is None or again.get("token") != held.get("token"):
        return False
    storage.delete(path)
    return True


def _take(path: storage.RegistryPath, mine: dict) -> bool:
    data = json.dumps(mine).encode()
    if storage.exclusive_create_supported(path):
        return storage.create_exclusive(path, data)
    if not storage.single_writer_declared():
        raise LockUnsupported(
            f"{storage.describe(path)}: the {storage.protocol(path)}:// filesystem cannot "
            "create an object only if it does not exist, so two writers could both take the "
            f"registry lock. Use one writer and set {storage.SINGLE_WRITER_ENV}=1, or a store "
            f"with exclusive create ({', '.join(sorted(storage.EXCLUSIVE_CREATE))})")
    if storage.read_or_none(path) is not None:
        return False
    storage.put(path, data)
    return (_read(path) or {}).get("token") == mine["token"]


@contextmanager
def object_lock(path: storage.RegistryPath, timeout: float) -> Iterator[None]:
    """Hold the lock object for the block; LockTimeout after `timeout` seconds of waiting."""
    mine, stale_after, first_seen = _token(), stale_seconds(), {}
    deadline = time.monotonic() + timeout
    while not _take(path, mine):
        if _remove_if_stale(path, stale_after, first_seen):
            continue
        if time.monotonic() >= deadline:
            holder = _read(path) or {}
            since = holder.get("taken_at")
            raise LockTimeout(f"held by {holder.get('host')} pid {holder.get('pid')}" + (
                f" since {time.ctime(float(since))}" if isinstance(since, (int, float)) else ""))
        time.sleep(POLL_SECONDS)
    failed = False
    try:
        yield
    except BaseException:
        failed = True
        raise
    finally:
        still_mine = (_read(path) or {}).get("token") == mine["token"]
        if still_mine:
            storage.delete(path)
        elif not failed:
            raise LockLost(f"{storage.describe(path)} was taken over as stale while this writer "
                           f"held it (longer than {STALE_ENV}={stale_after:g} s); run "
                           "`governance verify`")
