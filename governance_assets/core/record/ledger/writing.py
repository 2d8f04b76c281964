"""The write path: under the registry lock, cut a torn tail, refuse to write over entries not
seen, append one entry (one atomic put on object storage) and move the head file."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

from ...files import write_json_atomic
from ...trust import signatures
from .. import storage, witness
from .entry import (
    GENESIS,
    HEAD_FILE,
    KEY_ENV,
    LEDGER_FILE,
    LedgerError,
    LedgerWriteFailed,
    canonical,
    crash_point,
    entry_hash,
    hash_at,
    identity,
    last_of,
    ledger_key,
    now,
    read_json_or_none,
)
from .lock import registry_lock
from .reading import remember_own_write, trusted_bytes


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
    key = ledger_key()
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


def _refuse_lost_tail(root: storage.RegistryPath, data: bytes, last: dict | None) -> None:
    """Never write after a ledger that does not contain its head file's entry.

    The head is written after every entry, so it names the last entry or (writers that died or
    failed in between: a full disk) an earlier one of the same verified chain, which this write
    then repairs. A head the ledger does not contain means entries were lost from its end or
    rewritten, or (object storage) this read saw an older object: a new entry and head written
    now would bury that, so the write is refused and `verify` names the damage.
    """
    recorded = read_json_or_none(root / HEAD_FILE)
    if recorded is None:
        return
    seq, digest = recorded.get("seq", -1), recorded.get("hash")
    consistent = (last is not None and isinstance(seq, int) and seq <= last["seq"]
                  and hash_at(data, seq, last) == digest)
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
    last = last_of(committed)
    previous = json.loads(last) if last else None
    _refuse_lost_tail(root, committed, previous)
    entry = _new_entry(previous, kind, data, signer)
    line = (canonical(entry) + "\n").encode()
    _write_line(path, line)
    crash_point("ledger:before-head")
    _after_commit(root, entry)
    remember_own_write(root, committed, line, entry)
    return entry


def _append_object(root: storage.RegistryPath, kind: str, data: dict,
                   signer: signatures.Signer | None) -> dict:
    """Object storage cannot append: put the whole ledger again, the committed bytes read
    under the lock plus the new line, as one atomic object. O(ledger size) per entry."""
    path = root / LEDGER_FILE
    committed = trusted_bytes(root) or b""
    last = last_of(committed)
    previous = json.loads(last) if last else None
    _refuse_lost_tail(root, committed, previous)
    entry = _new_entry(previous, kind, data, signer)
    crash_point("ledger:before-write")
    storage.put(path, committed + (canonical(entry) + "\n").encode())
    crash_point("ledger:before-head")
    _after_commit(root, entry)
    return entry


def append(root: storage.RegistryPath, kind: str, data: dict,
           signer: signatures.Signer | None = None) -> dict:
    with registry_lock(root):
        return append_locked(root, kind, data, signer)
