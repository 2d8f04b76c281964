"""Reading the ledger: only verified bytes are acted on. Verification resumes after the prefix
verified before (this process, or this user's cache outside the registry), and lines are
indexed by kind once per state of the file."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ...files import write_json_atomic
from .. import storage, witness
from .chain_walk import SignatureChecks, check_line
from .entry import (
    GENESIS,
    LEDGER_FILE,
    LedgerTampered,
    committed_prefix,
    hash_at,
    last_of,
    ledger_key,
)

# path -> (file state, lines by kind, bytes covered, the last line covered)
INDEX_CACHE: dict[str, tuple[object, dict[str, list[bytes]], int, bytes]] = {}


# Canonical keys are sorted, so an entry's top-level "kind" comes after "data" and is its
# line's last `"kind":"` (greedy `.*`; the keys after it, prev/seq/sig/signer, hold hashes and
# base64 only); a quote inside a string value is escaped, so text cannot forge one. Reading
# the kind this way spares parsing 100,000 entries to find a few.
KIND_LINE = re.compile(rb'^.*"kind":"([a-z_]+)".*$', re.MULTILINE)


VERIFY_CACHE_ENV = "GOVERNANCE_VERIFY_CACHE"


def _indexed(name: str, state: object, data: bytes) -> dict[str, list[bytes]]:
    """Lines grouped by kind for verified `data`, rebuilt only when `state` differs from the
    cached one, and then only for the lines after those it already holds: when the line the
    index ended with is still where it was, the chain before it is the same (each line holds
    the hash of everything before it), so an appended ledger costs its new lines only."""
    cached = INDEX_CACHE.get(name)
    if cached is not None and cached[0] == state:
        return cached[1]
    index: dict[str, list[bytes]] = {}
    start = 0
    if cached is not None:
        _, known, covered, last = cached
        if covered <= len(data) and data[covered - len(last) - 1:covered - 1] == last:
            index, start = {kind: list(lines) for kind, lines in known.items()}, covered
    for found in KIND_LINE.finditer(data, start):
        index.setdefault(found.group(1).decode(), []).append(found.group(0))
    INDEX_CACHE.clear()
    INDEX_CACHE[name] = (state, index, len(data), last_of(data) or b"")
    return index


def file_state(root: storage.RegistryPath) -> object | None:
    """What changes whenever the ledger file does (a local file's inode, size and mtime).
    An object's metadata is not that reliable (S3's mtime has one-second resolution, and a
    rewrite may keep the size): None, so its bytes are read and verified every time."""
    if storage.is_object_store(root):
        return None
    stat = (root / LEDGER_FILE).stat()
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns, ledger_key() is not None)


def _by_kind(root: storage.RegistryPath) -> dict[str, list[bytes]] | None:
    """The verified ledger's lines grouped by kind, built once per state of the file: a
    command asks several questions of it. Any write changes size or mtime. None: no ledger."""
    path = root / LEDGER_FILE
    if not storage.is_object_store(root) and not path.is_file():
        return None
    state = file_state(root)
    cached = INDEX_CACHE.get(str(path))
    if state is not None and cached is not None and cached[0] == state:
        return cached[1]
    data = trusted_bytes(root)
    if data is None:
        return None
    return _indexed(str(path), state or hashlib.blake2b(data, digest_size=20).digest(), data)


def ledger_bytes(root: storage.RegistryPath) -> bytes | None:
    path = root / LEDGER_FILE
    if storage.is_object_store(root):
        return storage.read_or_none(path)
    return path.read_bytes() if path.is_file() else None


@dataclass(frozen=True)
class _Verified:
    """A verified prefix of the ledger: its length, its sha256 and its last entry."""

    length: int
    digest: str
    seq: int
    hash: str


# path -> (file state, verified prefix, sha256 object over exactly that prefix)
VERIFIED: dict[str, tuple[object, _Verified, object]] = {}


def _cache_file(root: storage.RegistryPath) -> Path:
    """Where this user keeps the verified prefix: outside the registry, which an attacker who
    edits the ledger can write; whoever can write this user's cache already runs as them."""
    base = os.environ.get(VERIFY_CACHE_ENV) or os.environ.get("XDG_CACHE_HOME") or \
        str(Path.home() / ".cache")
    key = ledger_key()
    name = hashlib.sha256((storage.describe(root) + "|" + (
        hashlib.sha256(key).hexdigest() if key else "")).encode()).hexdigest()[:24]
    return Path(base) / "governance" / f"verified-{name}.json"


def _load_verified(root: storage.RegistryPath, data: bytes):
    """The cached verified prefix and a sha256 object over it, if the ledger still starts with
    exactly those bytes; else (None, a fresh sha256)."""
    path = _cache_file(root)
    try:
        cached = _Verified(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None, hashlib.sha256()
    if cached.length > len(data):
        return None, hashlib.sha256()
    hasher = hashlib.sha256(data[:cached.length])
    if hasher.hexdigest() != cached.digest:
        return None, hashlib.sha256()
    return cached, hasher


def _save_verified(root: storage.RegistryPath, verified: _Verified) -> None:
    with contextlib.suppress(OSError):
        write_json_atomic(_cache_file(root), verified.__dict__)


def _checked_tail(root: storage.RegistryPath, data: bytes, start: _Verified | None,
                  hasher) -> _Verified:
    """Verify the entries after `start` (all without it; `hasher` holds the sha256 of the
    prefix and takes the tail); raise LedgerTampered at the first bad one. Returns the
    verified state of the whole of `data`."""
    offset = start.length if start else 0
    number = start.seq + 1 if start else 0
    previous = start.hash if start else GENESIS
    key, problem = ledger_key(), ""
    lines = data[offset:].split(b"\n")[:-1]
    checks = SignatureChecks(len(lines))
    for raw in lines:
        entry, problem = check_line(number, raw, previous, key)
        if problem:
            break
        checks.add(entry)
        previous, number = entry["hash"], number + 1
    problem = checks.first_problem() or problem
    if problem:
        raise LedgerTampered(f"{storage.describe(root / LEDGER_FILE)}: {problem}. Nothing "
                             "in it is acted on; `governance verify` names every problem")
    hasher.update(data[offset:])
    return _Verified(len(data), hasher.hexdigest(), number - 1, previous)


def _check_witness(root: storage.RegistryPath, data: bytes, verified: _Verified) -> None:
    """The ledger must still contain the head the git ref witnessed (core/record/witness.py)."""
    seen = witness.witnessed(root)
    if seen is None:
        return
    seq, digest = seen
    last = {"seq": verified.seq, "hash": verified.hash}
    if seq > verified.seq or hash_at(data, seq, last) != digest:
        top, ref = witness.location(root)
        raise LedgerTampered(
            f"{storage.describe(root / LEDGER_FILE)} ends at #{verified.seq}, but the witness "
            f"{ref} records #{seq} {digest[:12]}… that it does not contain: an older copy of "
            "the registry was put back, or the registry was deleted or rewritten. Nothing in "
            "it is acted on. Only if you are starting a new registry on purpose: `git -C "
            f"{top} update-ref -d {ref}`")


def trusted_bytes(root: storage.RegistryPath) -> bytes | None:
    """The committed ledger, verified before anyone acts on it: chain links, hashes (HMACs
    under the key), signatures, and the witnessed head. Verification resumes after the
    prefix verified before (this process, or this user's cache), so a reader pays for new
    entries only. None: no ledger yet."""
    name = str(root / LEDGER_FILE)
    local = not storage.is_object_store(root)
    if local and not (root / LEDGER_FILE).is_file():
        return None
    before = file_state(root) if local else None
    data = ledger_bytes(root)
    if data is None:
        return None
    data = committed_prefix(data)
    cached = VERIFIED.get(name)
    if local and cached is not None and cached[0] == before == file_state(root):
        return data
    start, hasher = _load_verified(root, data)
    verified = start if start and start.length == len(data) else \
        _checked_tail(root, data, start, hasher)
    _check_witness(root, data, verified)
    if verified != start:
        _save_verified(root, verified)
    if local and before == file_state(root):
        VERIFIED[name] = (before, verified, hasher)
    return data


def remember_own_write(root: storage.RegistryPath, committed: bytes, line: bytes,
                        entry: dict) -> None:
    """The line this writer appended (under the lock) to the ledger it had just verified is
    verified too: the next read in this process skips re-hashing the whole file."""
    name = str(root / LEDGER_FILE)
    cached = VERIFIED.get(name)
    if cached is None or cached[1].length != len(committed):
        return
    hasher = cached[2].copy()
    hasher.update(line)
    verified = _Verified(len(committed) + len(line), hasher.hexdigest(), entry["seq"],
                         entry["hash"])
    state = file_state(root)
    if state[1] == verified.length:
        VERIFIED[name] = (state, verified, hasher)
        _save_verified(root, verified)


def _parsed(lines: list[bytes]) -> list[dict]:
    return [json.loads(line) for line in lines]


def entries(root: storage.RegistryPath, kinds: tuple[str, ...] = ()) -> list[dict]:
    """Every committed entry of these kinds (all without kinds), oldest first, verified."""
    if not kinds:
        data = trusted_bytes(root)
        return _parsed([line for line in data.split(b"\n") if line]) if data else []
    index = _by_kind(root)
    if index is None:
        return []
    chosen = _parsed([line for kind in kinds for line in index.get(kind, [])])
    return sorted(chosen, key=lambda entry: entry["seq"]) if len(kinds) > 1 else chosen


def last_entry(root: storage.RegistryPath, kind: str, **match: object) -> dict | None:
    """The newest entry of a kind whose data has the given values (searched from the end)."""
    index = _by_kind(root)
    for line in reversed(index.get(kind, []) if index else []):
        entry = json.loads(line)
        if all(entry["data"].get(k) == v for k, v in match.items()):
            return entry
    return None


def head(root: storage.RegistryPath) -> dict | None:
    last = last_of(trusted_bytes(root) or b"")
    if not last:
        return None
    entry = json.loads(last)
    return {"seq": entry["seq"], "hash": entry["hash"]}
