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

from .entry import (
    ANCHOR_ENV,
    GENESIS,
    HEAD_FILE,
    KEY_ENV,
    LEDGER_FILE,
    LOCK_FILE,
    OBJECT_LOCK_FILE,
    USER_ENV,
    LedgerError,
    LedgerTampered,
    LedgerWriteFailed,
    RegistryLocked,
    canonical,
    crash_point,
    entry_hash,
    identity,
    now,
)
from .lock import LOCK_TIMEOUT_ENV, registry_lock
from .reading import VERIFY_CACHE_ENV, entries, head, last_entry
from .verification import ChainReport, verify_chain
from .writing import append, append_locked

__all__ = [
    "ANCHOR_ENV", "GENESIS", "HEAD_FILE", "KEY_ENV", "LEDGER_FILE", "LOCK_FILE",
    "LOCK_TIMEOUT_ENV", "OBJECT_LOCK_FILE", "USER_ENV", "VERIFY_CACHE_ENV", "ChainReport",
    "LedgerError", "LedgerTampered", "LedgerWriteFailed", "RegistryLocked", "append",
    "append_locked", "canonical", "crash_point", "entries", "entry_hash", "head", "identity",
    "last_entry", "now", "registry_lock", "verify_chain",
]
