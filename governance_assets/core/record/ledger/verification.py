"""The auditor's walk (`governance verify`): the whole chain without any cache, compared with
the head file, the git witness and an external anchor."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .. import storage, witness
from .chain_walk import SignatureChecks, check_line
from .entry import (
    ANCHOR_ENV,
    GENESIS,
    HEAD_FILE,
    KEY_ENV,
    LEDGER_FILE,
    ledger_key,
    read_json_or_none,
)
from .reading import ledger_bytes


@dataclass
class ChainReport:
    """What verify_chain found: the first problem ends the walk (nothing after it is trusted)."""

    entries: int = 0
    head: dict | None = None
    problems: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    parsed: list[dict] = field(default_factory=list, repr=False)


def verify_chain(root: storage.RegistryPath, anchor: str | None = None) -> ChainReport:
    """Walk the whole chain (no cache: this is the auditor's check); compare with the head
    file, the git witness and an external anchor 'SEQ:HASH'."""
    report, key = ChainReport(), ledger_key()
    data = ledger_bytes(root)
    if data is None:
        report.notices.append(f"no ledger yet at {root / LEDGER_FILE}")
        return report
    lines = data.split(b"\n")
    if lines[-1]:
        report.notices.append(f"ledger line {len(lines)} is incomplete: a writer died before "
                              "committing it (the next writer cuts it off)")
        lines[-1] = b""
    previous, hashes, unsigned, unauthenticated = GENESIS, [], 0, 0
    checks = SignatureChecks(len(lines) - 1)
    for number, raw in enumerate(lines[:-1]):
        entry, problem = check_line(number, raw, previous, key)
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
                              "outside the folder (docs/registry.md: threat model)")
    elif seen is None:
        report.notices.append(f"no witness ref {found[1]} yet (written by the next ledger "
                              "write)")
    elif seen[0] >= len(hashes) or hashes[seen[0]] != seen[1]:
        report.problems.append(f"the witness {found[1]} records #{seen[0]} {seen[1][:12]}…, "
                               f"which the ledger (ending at #{len(hashes) - 1}) does not "
                               "contain: an older copy of the registry was put back")


def _check_head_file(root: storage.RegistryPath, hashes: list[str], report: ChainReport
                     ) -> None:
    recorded = read_json_or_none(root / HEAD_FILE)
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
