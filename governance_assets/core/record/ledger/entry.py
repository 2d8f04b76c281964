"""A ledger entry: its canonical form, its hash (HMAC-SHA256 under GOVERNANCE_LEDGER_KEY), who
wrote it and when; the ledger's file names and errors."""

from __future__ import annotations

import getpass
import hashlib
import hmac
import json
import os
import signal
import subprocess
from datetime import datetime, timezone
from functools import lru_cache

from .. import storage

LEDGER_FILE, HEAD_FILE, LOCK_FILE = "ledger.jsonl", "ledger.head", ".lock"


# The lock object on object storage: another name than filelock's `.lock`, which filelock
# leaves behind empty, so a folder used both as a path and as a file:// URL works.
OBJECT_LOCK_FILE = ".lock.json"


KEY_ENV, ANCHOR_ENV, USER_ENV = "GOVERNANCE_LEDGER_KEY", "GOVERNANCE_LEDGER_ANCHOR", \
    "GOVERNANCE_USER"


GENESIS = "0" * 64


class LedgerError(RuntimeError):
    """The ledger could not be written or read; the message names the entry."""


class RegistryLocked(LedgerError):
    """Another process holds the registry lock longer than the timeout."""


class LedgerWriteFailed(LedgerError):
    """The disk refused the entry (full, read-only, a size limit); nothing was committed."""


class LedgerTampered(LedgerError):
    """A reader found the chain broken (or rolled back) and acts on nothing in it."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def canonical(data: object) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)


def crash_point(name: str) -> None:
    """Fault injection for the kill -9 tests: die here when GOVERNANCE_CRASH_AT names this point."""
    if os.environ.get("GOVERNANCE_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


@lru_cache(maxsize=1)
def _git_user() -> str | None:
    try:
        found = subprocess.run(["git", "config", "user.name"], capture_output=True, text=True,
                               timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return found.stdout.strip() or None


def identity() -> dict:
    """Who acts: the GOVERNANCE_USER name (else the OS user), with OS and git user recorded."""
    os_user = getpass.getuser()
    return {"name": os.environ.get(USER_ENV) or os_user, "os_user": os_user,
            "git_user": _git_user()}


def ledger_key() -> bytes | None:
    key = os.environ.get(KEY_ENV)
    return key.encode() if key else None


def entry_hash(body: dict, key: bytes | None) -> str:
    """sha256 (or HMAC-SHA256 under the key) of the entry without its own hash."""
    text = canonical(body).encode()
    if body.get("alg") == "hmac-sha256":
        if key is None:
            raise LedgerError("entry is HMAC-signed but GOVERNANCE_LEDGER_KEY is not set")
        return hmac.new(key, text, hashlib.sha256).hexdigest()
    return hashlib.sha256(text).hexdigest()


def read_json_or_none(path: storage.RegistryPath) -> dict | None:
    data = storage.read_or_none(path)
    return json.loads(data) if data else None


def hash_at(data: bytes, seq: int, last: dict) -> str | None:
    """The hash of entry #seq of a verified ledger (the last one without splitting it)."""
    if seq == last["seq"]:
        return last["hash"]
    lines = data.split(b"\n")
    return json.loads(lines[seq])["hash"] if 0 <= seq < len(lines) - 1 else None


def committed_prefix(data: bytes) -> bytes:
    """The ledger up to its last newline: what a torn write left after it never counted."""
    return data[: data.rfind(b"\n") + 1]


def last_of(data: bytes) -> bytes | None:
    """The last line, found from the end (the ledger may hold 100 MB)."""
    end = len(data.rstrip(b"\n"))
    line = data[data.rfind(b"\n", 0, end) + 1:end]
    return line or None
