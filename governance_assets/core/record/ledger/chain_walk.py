"""One step of the chain walk (a line's sequence, link and hash), and the SSH signatures checked
alongside it, in worker processes when the ledger is long."""

from __future__ import annotations

import hmac
import json
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor

from ...trust import signatures
from .entry import KEY_ENV, entry_hash


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


class SignatureChecks:
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


def check_line(number: int, raw: bytes, previous: str, key: bytes | None) -> tuple[dict, str]:
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
