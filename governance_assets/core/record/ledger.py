"""The ledger: append-only JSON lines, each entry carrying the hash of the one before it.

Each entry is hashed over its canonical serialization (sorted keys, no spaces), which includes
the previous entry's hash, so editing, removing or reordering any entry breaks the chain at
that entry. What the chain alone cannot catch is an attacker who edits an entry and recomputes
every later hash; two anchors cover that:

- `GOVERNANCE_LEDGER_KEY` set: entries are HMAC-SHA256'd with it, so nobody without the key
  can produce a valid entry (re-hashing is caught);
- the head (sequence number + hash of the last entry) is printed by `governance verify`; pinned
  elsewhere (git, a ticket, an object store with retention) and passed back as `--anchor`, any
  rewrite of the entries up to it is caught.

Writers take the registry lock, so concurrent processes never interleave or lose an entry; a
line torn by a killed writer was never committed and is cut off by the next writer. Before
writing, a writer checks that the ledger it read still reaches the head file's entry, so it never
writes a new head over entries it did not see (a truncated file, or a stale read of an object).

On object storage (core/record/storage.py: any URL root) the file cannot be appended to: each entry
rewrites the whole `ledger.jsonl` object in one atomic put (the bytes read under the lock plus
the new line), and the lock is an object created exclusively (core/record/object_lock.py). Entries,
hashes, head and verification are byte-for-byte the same on every backend, so a registry copied
from a bucket to a disk verifies with the same command.
"""

from __future__ import annotations

import contextlib
import errno
import getpass
import hashlib
import hmac
import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

from filelock import FileLock, Timeout

from ..files import write_json_atomic
from ..trust import signatures
from . import object_lock, storage, witness

LEDGER_FILE, HEAD_FILE, LOCK_FILE = "ledger.jsonl", "ledger.head", ".lock"
# The lock object on object storage: another name than filelock's `.lock`, which filelock
# leaves behind empty, so a folder used both as a path and as a file:// URL works.
OBJECT_LOCK_FILE = ".lock.json"
KEY_ENV, ANCHOR_ENV, USER_ENV = "GOVERNANCE_LEDGER_KEY", "GOVERNANCE_LEDGER_ANCHOR", \
    "GOVERNANCE_USER"
LOCK_TIMEOUT_ENV = "GOVERNANCE_LOCK_TIMEOUT"
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


def _key() -> bytes | None:
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


def _cut_torn_tail(path: Path) -> None:
    """A line without its newline was being written when its writer died: never committed."""
    with path.open("rb+") as ledger:
        size = ledger.seek(0, os.SEEK_END)
        if size == 0:
            return
        ledger.seek(size - 1)
        if ledger.read(1) == b"\n":
            return
        ledger.seek(0)
        data = ledger.read()
        ledger.truncate(data.rfind(b"\n") + 1)


def _new_entry(previous: dict | None, kind: str, data: dict,
               signer: signatures.Signer | None) -> dict:
    """The next entry after `previous`, hashed (or HMAC'd under the key), then signed: the
    signature covers the hash, which covers everything else, the previous hash included."""
    key = _key()
    if key is None and previous is not None and previous.get("alg") == "hmac-sha256":
        raise LedgerError(f"the ledger is HMAC-signed: set {KEY_ENV} to write to it (an entry "
                          "written without the key would stop every reader that has it)")
    body = {"seq": previous["seq"] + 1 if previous else 0, "at": now(), "kind": kind,
            "actor": identity(), "data": data,
            "prev": previous["hash"] if previous else GENESIS,
            "alg": "hmac-sha256" if key else "sha256"}
    if signer is not None:
        body["signer"] = {"key": signer.fingerprint}
    digest = entry_hash(body, key)
    entry = {**body, "hash": digest}
    if signer is not None:
        try:
            entry["sig"] = signer.sign(digest.encode())
        except signatures.SignatureError as error:
            raise LedgerError(f"{kind} entry not written: {error}") from error
    return entry


def _read_json_or_none(path: storage.RegistryPath) -> dict | None:
    data = storage.read_or_none(path)
    return json.loads(data) if data else None


def _hash_at(data: bytes, seq: int, last: dict) -> str | None:
    """The hash of entry #seq of a verified ledger (the last one without splitting it)."""
    if seq == last["seq"]:
        return last["hash"]
    lines = data.split(b"\n")
    return json.loads(lines[seq])["hash"] if 0 <= seq < len(lines) - 1 else None


def _refuse_lost_tail(root: storage.RegistryPath, data: bytes, last: dict | None) -> None:
    """Never write after a ledger that does not contain its head file's entry.

    The head is written after every entry, so it names the last entry or (writers that died or
    failed in between: a full disk) an earlier one of the same verified chain, which this write
    then repairs. A head the ledger does not contain means entries were lost from its end or
    rewritten, or (object storage) this read saw an older object: a new entry and head written
    now would bury that, so the write is refused and `verify` names the damage.
    """
    recorded = _read_json_or_none(root / HEAD_FILE)
    if recorded is None:
        return
    seq, digest = recorded.get("seq", -1), recorded.get("hash")
    consistent = (last is not None and isinstance(seq, int) and seq <= last["seq"]
                  and _hash_at(data, seq, last) == digest)
    if not consistent:
        raise LedgerError(
            f"{root / LEDGER_FILE} ends at #{last['seq'] if last else -1} but {HEAD_FILE} "
            f"records #{seq} {str(digest)[:12]}…: the ledger lost or changed entries (or this "
            "read is older than the last write); nothing was written. `governance verify` "
            "names the damage")


def _after_commit(root: storage.RegistryPath, entry: dict) -> None:
    """Head file and witness: the entry is committed already, so failing here is a warning
    (the next writer repairs a lagging head), never a reported failure of the command."""
    try:
        write_json_atomic(root / HEAD_FILE, {"seq": entry["seq"], "hash": entry["hash"]})
        witness.record(root, entry["seq"], entry["hash"])
    except (OSError, subprocess.SubprocessError) as error:
        print(f"warning: ledger #{entry['seq']} is committed, but its head could not be "
              f"recorded ({error}); the next write records it", file=sys.stderr)


def _write_line(path: Path, line: bytes) -> None:
    """Append and fsync, unbuffered so a failed write (full or read-only disk, a size limit)
    surfaces here; what it left is cut back, never half kept."""
    with path.open("ab", buffering=0) as ledger:
        start = ledger.tell()
        try:
            crash_point("ledger:before-write")
            if os.environ.get("GOVERNANCE_CRASH_AT") == "ledger:torn-line":
                ledger.write(line[: len(line) // 2])
                crash_point("ledger:torn-line")
            if ledger.write(line) != len(line):
                raise OSError(errno.ENOSPC, "short write: the disk is full or a file size "
                                            "limit was reached")
            os.fsync(ledger.fileno())
        except OSError as error:
            with contextlib.suppress(OSError):
                ledger.truncate(start)
            reason = error.strerror or type(error).__name__
            raise LedgerWriteFailed(f"{path}: the entry could not be written ({reason}); "
                                    "nothing was committed") from error


def append_locked(root: storage.RegistryPath, kind: str, data: dict,
                  signer: signatures.Signer | None = None) -> dict:
    """Append one entry, signed by `signer` (default: the pipeline key, if one is set); the
    caller holds registry_lock. The chain it extends is verified first. Returns the entry."""
    signer = signer or signatures.pipeline_signer()
    if storage.is_object_store(root):
        return _append_object(root, kind, data, signer)
    path = root / LEDGER_FILE
    path.touch(exist_ok=True)
    _cut_torn_tail(path)
    committed = trusted_bytes(root) or b""
    last = _last_of(committed)
    previous = json.loads(last) if last else None
    _refuse_lost_tail(root, committed, previous)
    entry = _new_entry(previous, kind, data, signer)
    line = (canonical(entry) + "\n").encode()
    _write_line(path, line)
    crash_point("ledger:before-head")
    _after_commit(root, entry)
    _remember_own_write(root, committed, line, entry)
    return entry


def _committed(data: bytes) -> bytes:
    """The ledger up to its last newline: what a torn write left after it never counted."""
    return data[: data.rfind(b"\n") + 1]


def _append_object(root: storage.RegistryPath, kind: str, data: dict,
                   signer: signatures.Signer | None) -> dict:
    """Object storage cannot append: put the whole ledger again, the committed bytes read
    under the lock plus the new line, as one atomic object. O(ledger size) per entry."""
    path = root / LEDGER_FILE
    committed = trusted_bytes(root) or b""
    last = _last_of(committed)
    previous = json.loads(last) if last else None
    _refuse_lost_tail(root, committed, previous)
    entry = _new_entry(previous, kind, data, signer)
    crash_point("ledger:before-write")
    storage.put(path, committed + (canonical(entry) + "\n").encode())
    crash_point("ledger:before-head")
    _after_commit(root, entry)
    return entry


def _last_of(data: bytes) -> bytes | None:
    """The last line, found from the end (the ledger may hold 100 MB)."""
    end = len(data.rstrip(b"\n"))
    line = data[data.rfind(b"\n", 0, end) + 1:end]
    return line or None


def append(root: storage.RegistryPath, kind: str, data: dict,
           signer: signatures.Signer | None = None) -> dict:
    with registry_lock(root):
        return append_locked(root, kind, data, signer)


# path -> (file state, lines by kind, bytes covered, the last line covered)
_INDEX_CACHE: dict[str, tuple[object, dict[str, list[bytes]], int, bytes]] = {}
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
    cached = _INDEX_CACHE.get(name)
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
    _INDEX_CACHE.clear()
    _INDEX_CACHE[name] = (state, index, len(data), _last_of(data) or b"")
    return index


def _state(root: storage.RegistryPath) -> object | None:
    """What changes whenever the ledger file does (a local file's inode, size and mtime).
    An object's metadata is not that reliable (S3's mtime has one-second resolution, and a
    rewrite may keep the size): None, so its bytes are read and verified every time."""
    if storage.is_object_store(root):
        return None
    stat = (root / LEDGER_FILE).stat()
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns, _key() is not None)


def _by_kind(root: storage.RegistryPath) -> dict[str, list[bytes]] | None:
    """The verified ledger's lines grouped by kind, built once per state of the file: a
    command asks several questions of it. Any write changes size or mtime. None: no ledger."""
    path = root / LEDGER_FILE
    if not storage.is_object_store(root) and not path.is_file():
        return None
    state = _state(root)
    cached = _INDEX_CACHE.get(str(path))
    if state is not None and cached is not None and cached[0] == state:
        return cached[1]
    data = trusted_bytes(root)
    if data is None:
        return None
    return _indexed(str(path), state or hashlib.blake2b(data, digest_size=20).digest(), data)


def _ledger_bytes(root: storage.RegistryPath) -> bytes | None:
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
_VERIFIED: dict[str, tuple[object, _Verified, object]] = {}


def _cache_file(root: storage.RegistryPath) -> Path:
    """Where this user keeps the verified prefix: outside the registry, which an attacker who
    edits the ledger can write; whoever can write this user's cache already runs as them."""
    base = os.environ.get(VERIFY_CACHE_ENV) or os.environ.get("XDG_CACHE_HOME") or \
        str(Path.home() / ".cache")
    key = _key()
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
    key, problem = _key(), ""
    lines = data[offset:].split(b"\n")[:-1]
    checks = _SignatureChecks(len(lines))
    for raw in lines:
        entry, problem = _check_line(number, raw, previous, key)
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
    if seq > verified.seq or _hash_at(data, seq, last) != digest:
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
    before = _state(root) if local else None
    data = _ledger_bytes(root)
    if data is None:
        return None
    data = _committed(data)
    cached = _VERIFIED.get(name)
    if local and cached is not None and cached[0] == before == _state(root):
        return data
    start, hasher = _load_verified(root, data)
    verified = start if start and start.length == len(data) else \
        _checked_tail(root, data, start, hasher)
    _check_witness(root, data, verified)
    if verified != start:
        _save_verified(root, verified)
    if local and before == _state(root):
        _VERIFIED[name] = (before, verified, hasher)
    return data


def _remember_own_write(root: storage.RegistryPath, committed: bytes, line: bytes,
                        entry: dict) -> None:
    """The line this writer appended (under the lock) to the ledger it had just verified is
    verified too: the next read in this process skips re-hashing the whole file."""
    name = str(root / LEDGER_FILE)
    cached = _VERIFIED.get(name)
    if cached is None or cached[1].length != len(committed):
        return
    hasher = cached[2].copy()
    hasher.update(line)
    verified = _Verified(len(committed) + len(line), hasher.hexdigest(), entry["seq"],
                         entry["hash"])
    state = _state(root)
    if state[1] == verified.length:
        _VERIFIED[name] = (state, verified, hasher)
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
    last = _last_of(trusted_bytes(root) or b"")
    if not last:
        return None
    entry = json.loads(last)
    return {"seq": entry["seq"], "hash": entry["hash"]}


@dataclass
class ChainReport:
    """What verify_chain found: the first problem ends the walk (nothing after it is trusted)."""

    entries: int = 0
    head: dict | None = None
    problems: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    parsed: list[dict] = field(default_factory=list, repr=False)


def _signature_problem(item: tuple[int, str | None, object, object, object]) -> str:
    """Why a signed entry's signature does not stand ('' when it does)."""
    number, kind, digest, signer, sig = item
    where = f"ledger entry #{number} ({kind})"
    if not isinstance(signer, dict) or not isinstance(sig, str):
        return f"{where}: a signature without the key it names, or a key without signature"
    try:
        public = signatures.verify(str(digest).encode(), sig)
    except signatures.SignatureError as error:
        return f"{where}: its signature does not verify ({error})"
    if signatures.fingerprint(public) != signer.get("key"):
        return f"{where}: signed by {signatures.fingerprint(public)}, not the key it names"
    return ""


def _first_bad(items: list) -> str:
    return next((problem for problem in map(_signature_problem, items) if problem), "")


class _SignatureChecks:
    """Signatures checked while the chain is walked: batches go to worker processes as the
    walk reaches them, so on 2 cores the walk and the signature arithmetic (most of an
    auditor's verify of 100,000 entries) overlap. Few entries, one core, or a process with
    threads (forking beside threads can deadlock): checked here, in order."""

    BATCH = 2000

    def __init__(self, expected: int):
        workers = min(os.cpu_count() or 1, 8)
        parallel = expected >= PARALLEL_FROM and workers >= 2 and \
            threading.active_count() == 1
        self.pool = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("fork")) if parallel else None
        self.pending: list = []
        self.futures: list = []
        self.problem = ""

    def add(self, entry: dict) -> None:
        if "signer" not in entry and "sig" not in entry:
            return
        self.pending.append((entry["seq"], entry.get("kind"), entry.get("hash"),
                             entry.get("signer"), entry.get("sig")))
        if len(self.pending) >= self.BATCH:
            self._flush()

    def _flush(self) -> None:
        if self.pool is not None:
            self.futures.append(self.pool.submit(_first_bad, self.pending))
        elif not self.problem:
            self.problem = _first_bad(self.pending)
        self.pending = []

    def first_problem(self) -> str:
        """The first signature, in ledger order, that does not stand ('' when all do)."""
        self._flush()
        if self.pool is None:
            return self.problem
        with self.pool:
            found = [future.result() for future in self.futures]
        return next((problem for problem in found if problem), "")


PARALLEL_FROM = 4000


def _check_line(number: int, raw: bytes, previous: str, key: bytes | None) -> tuple[dict, str]:
    """The parsed entry, or the reason line `number` breaks the chain."""
    try:
        entry = json.loads(raw)
    except json.JSONDecodeError:
        return {}, f"ledger line {number + 1}: not valid JSON (edited or truncated)"
    if entry.get("seq") != number:
        return entry, (f"ledger line {number + 1}: sequence number {entry.get('seq')} where "
                       f"{number} belongs (an entry was removed, inserted or reordered)")
    if entry.get("prev") != previous:
        return entry, (f"ledger entry #{number}: its prev hash does not match entry "
                       f"#{number - 1} (an entry before it was removed, edited or reordered)")
    body = {k: v for k, v in entry.items() if k not in ("hash", "sig")}
    if body.get("alg") == "hmac-sha256" and key is None:
        return entry, ""
    if key is not None and body.get("alg") != "hmac-sha256":
        return entry, (f"ledger entry #{number}: not HMAC-signed although "
                       f"{KEY_ENV} is set (written or re-hashed without the key)")
    if not hmac.compare_digest(entry_hash(body, key), str(entry.get("hash"))):
        return entry, (f"ledger entry #{number} ({entry.get('kind')}): its hash does not match "
                       f"its content (the entry was edited)")
    return entry, ""


def verify_chain(root: storage.RegistryPath, anchor: str | None = None) -> ChainReport:
    """Walk the whole chain (no cache: this is the auditor's check); compare with the head
    file, the git witness and an external anchor 'SEQ:HASH'."""
    report, key = ChainReport(), _key()
    data = _ledger_bytes(root)
    if data is None:
        report.notices.append(f"no ledger yet at {root / LEDGER_FILE}")
        return report
    lines = data.split(b"\n")
    if lines[-1]:
        report.notices.append(f"ledger line {len(lines)} is incomplete: a writer died before "
                              "committing it (the next writer cuts it off)")
        lines[-1] = b""
    previous, hashes, unsigned, unauthenticated = GENESIS, [], 0, 0
    checks = _SignatureChecks(len(lines) - 1)
    for number, raw in enumerate(lines[:-1]):
        entry, problem = _check_line(number, raw, previous, key)
        if problem:
            report.problems.append(checks.first_problem() or problem)
            return report
        checks.add(entry)
        unsigned += entry.get("alg") == "hmac-sha256" and key is None
        unauthenticated += "sig" not in entry
        previous = entry["hash"]
        hashes.append(previous)
        report.parsed.append(entry)
    problem = checks.first_problem()
    if problem:
        report.problems.append(problem)
        return report
    report.entries = len(hashes)
    report.head = {"seq": len(hashes) - 1, "hash": previous} if hashes else None
    if unsigned:
        report.notices.append(f"{unsigned} HMAC-signed entries checked for linkage only: set "
                              f"{KEY_ENV} to check their signatures")
    if unauthenticated:
        report.notices.append(f"{unauthenticated} entries carry no SSH signature (unsigned "
                              "local runs): their authorship rests on who can write the folder")
    _check_head_file(root, hashes, report)
    _check_witness_report(root, hashes, report)
    anchor = anchor or os.environ.get(ANCHOR_ENV)
    if anchor:
        _check_anchor(anchor, hashes, report)
    return report


def _check_witness_report(root: storage.RegistryPath, hashes: list[str], report: ChainReport
                          ) -> None:
    found = witness.location(root)
    seen = witness.witnessed(root) if found else None
    if found is None:
        report.notices.append("no git repository around the registry: no witness of its head "
                              "outside the folder (README: threat model)")
    elif seen is None:
        report.notices.append(f"no witness ref {found[1]} yet (written by the next ledger "
                              "write)")
    elif seen[0] >= len(hashes) or hashes[seen[0]] != seen[1]:
        report.problems.append(f"the witness {found[1]} records #{seen[0]} {seen[1][:12]}…, "
                               f"which the ledger (ending at #{len(hashes) - 1}) does not "
                               "contain: an older copy of the registry was put back")


def _check_head_file(root: storage.RegistryPath, hashes: list[str], report: ChainReport
                     ) -> None:
    recorded = _read_json_or_none(root / HEAD_FILE)
    if recorded is None:
        if hashes:
            report.notices.append(f"{HEAD_FILE} missing")
        return
    seq = recorded.get("seq", -1)
    if seq >= len(hashes):
        report.problems.append(f"{HEAD_FILE} records entry #{seq} but the ledger ends at "
                               f"#{len(hashes) - 1}: entries were removed from its end")
    elif hashes[seq] != recorded.get("hash"):
        report.problems.append(f"ledger entry #{seq} differs from the hash {HEAD_FILE} recorded "
                               "for it (the ledger was rewritten)")
    elif seq < len(hashes) - 1:
        report.notices.append(f"{HEAD_FILE} lags at #{seq} (a writer stopped after committing "
                              "its entry; the next write updates it)")


def _check_anchor(anchor: str, hashes: list[str], report: ChainReport) -> None:
    seq_text, _, expected = anchor.partition(":")
    if not seq_text.isdigit() or not expected:
        report.problems.append(f"anchor {anchor!r} is not SEQ:HASH (as `governance verify` "
                               "prints it)")
        return
    seq = int(seq_text)
    if seq >= len(hashes):
        report.problems.append(f"the anchor pins entry #{seq} but the ledger ends at "
                               f"#{len(hashes) - 1}: entries were removed")
    elif hashes[seq] != expected:
        report.problems.append(f"ledger entry #{seq} is not the anchored {expected[:12]}…: the "
                               "ledger up to it was rewritten (re-hashed)")
