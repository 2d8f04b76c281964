"""`governance verify`: the whole ledger, every registered file, alias file, verdict file and
decision record, and (given the project's trust) that every production move stands on signed
grounds.

Problems are tampering (or damage) and make verify fail, the first one named; notices are
states a killed writer leaves that the next write completes (a version folder without its
ledger entry is never loaded or promoted; an alias file one move behind its ledger entry).
"""

from __future__ import annotations

from ..files import read_json, sha256_of_file
from ..trust.signoff import PRODUCTION, Trust, move_problem, tampered_files
from . import ledger
from .model_signature import signature_problem
from .storage import RegistryPath


def _check_versions(root: RegistryPath, registered: list[dict], report: ledger.ChainReport) -> None:
    known = {entry["data"]["version"] for entry in registered}
    for entry in registered:
        version = entry["data"]["version"]
        bad = tampered_files(root, entry)
        manifest = root / "versions" / version / "manifest.json"
        if not bad and (not manifest.is_file()
                        or read_json(manifest).get("files") != entry["data"]["files"]):
            bad = ["manifest.json differs from the ledger"]
        signature = signature_problem(root / "versions" / version,
                                      entry["data"].get("model_signature_sha256"))
        bad += [signature] if signature else []
        if bad:
            report.problems.append(f"registry version {version} (ledger #{entry['seq']}): "
                                   + "; ".join(bad))
    folder = root / "versions"
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if path.name not in known:
            report.notices.append(f"versions/{path.name} has no ledger entry: never loaded or "
                                  "promoted")


def _check_alias_files(root: RegistryPath, moves: list[dict], report: ledger.ChainReport) -> None:
    by_seq = {move["seq"]: move for move in moves}
    latest = {move["data"]["alias"]: move for move in moves}
    for path in sorted((root / "aliases").glob("*.json")):
        pointer = read_json(path)
        alias, seq = pointer.get("alias", path.stem), pointer.get("ledger_seq")
        if seq is None:
            if pointer.get("version") is not None:
                report.problems.append(f"aliases/{path.name} points at {pointer.get('version')} "
                                       "without naming the ledger entry it rests on")
            elif alias in latest:
                report.notices.append(f"aliases/{path.name} still empty although ledger "
                                      f"#{latest[alias]['seq']} moved it")
            continue
        move = by_seq.get(seq)
        if (move is None or move["hash"] != pointer.get("ledger_hash")
                or move["data"]["version"] != pointer.get("version")):
            report.problems.append(f"aliases/{path.name} points at {pointer.get('version')} "
                                   f"citing ledger #{seq}, which records no such move")
        elif latest[alias]["seq"] != seq:
            report.notices.append(f"aliases/{path.name} is one move behind ledger "
                                  f"#{latest[alias]['seq']} (rewritten on the next move)")


def _check_records(root: RegistryPath, entries: list[dict], report: ledger.ChainReport
                   ) -> None:
    """Verdict files, decision records and periodic compliance reports are the bytes their
    ledger entries name (the newest entry per file: a verdict re-judged under the same
    fingerprint rewrites it)."""
    newest: dict[str, tuple[dict, str]] = {}
    for entry in entries:
        data = entry["data"]
        if data.get("record_sha256") is None:
            continue
        where = (data["record"] if entry["kind"] in ("decision", "compliance_report")
                 else f"verdicts/{data['gate']}/{data['fingerprint']}.json")
        newest[where] = (entry, data["record_sha256"])
    for where, (entry, digest) in newest.items():
        path = root / where
        if path.is_file() and sha256_of_file(path) != digest:
            report.problems.append(f"{where} is not the file ledger #{entry['seq']} recorded "
                                   f"({entry['kind']} edited after it was written)")


def _check_production_moves(root: RegistryPath, moves: list[dict], trust: Trust | None,
                            report: ledger.ChainReport) -> None:
    production = [move for move in moves if move["data"]["alias"] == PRODUCTION]
    if production and trust is None:
        report.notices.append("production moves not checked against signatures: no "
                              "params.yaml / allowed-signers file beside this registry")
        return
    for move in production:
        problem = move_problem(root, move, trust)
        if problem:
            report.problems.append(f"production move ledger #{move['seq']} to "
                                   f"{move['data']['version']}: {problem}")


def verify(root: RegistryPath, anchor: str | None = None, trust: Trust | None = None
           ) -> ledger.ChainReport:
    """Chain first (nothing is trusted past a break), then files, records and aliases."""
    report = ledger.verify_chain(root, anchor)
    if report.problems:
        return report
    everything = report.parsed
    _check_versions(root, [e for e in everything if e["kind"] == "register"], report)
    moves = [e for e in everything if e["kind"] == "alias"]
    _check_alias_files(root, moves, report)
    _check_records(root, [e for e in everything
                          if e["kind"] in ("verdict", "decision", "compliance_report")],
                   report)
    _check_production_moves(root, moves, trust, report)
    return report
