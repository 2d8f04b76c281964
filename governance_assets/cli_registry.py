"""`governance show|list|history|approve|reject|rollback|verify`: the registry and its ledger.

Every command reads the ledger (the source of truth for versions and aliases), so what it
prints can never silently disagree with `aliases/*.json`. Exit codes:
  0  done (verify: ledger, registry files and alias files are intact)
  1  refused: a sign-off, rollback or promotion the rules do not allow (the reason is printed),
     or verify found tampering (the first bad entry is named)
  2  bad input: an unknown version, an alias with nothing behind it, params.yaml invalid
  4  the registry is locked by another process (try again)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .core import audit, ledger, registry, signoff
from .core.files import read_json
from .core.layout import Layout
from .core.params import ParamsError, load_params

DONE, REFUSED, BAD_INPUT, LOCKED = 0, 1, 2, 4
ALIASES = ("staging", "production")


class UsageError(ValueError):
    """The command names something the registry does not have."""


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register the registry commands on the `governance` parser."""
    show = commands.add_parser("show", help="a version (or alias): card, verdicts, hashes")
    show.add_argument("version", help="version id, unique prefix, or staging/production")
    commands.add_parser("list", help="every registered version: model hash, aliases, approval")
    history = commands.add_parser("history", help="the ledger, oldest first")
    history.add_argument("--kind", action="append", help="only these entry kinds")
    history.add_argument("--last", type=int, default=50, help="how many entries (default 50)")
    for name, text in (("approve", "approve a version's evidence for production"),
                       ("reject", "reject a version (voids earlier approvals)")):
        sign = commands.add_parser(name, help=text)
        sign.add_argument("version")
        sign.add_argument("--by", required=True, help="the reviewer's name (a role in params)")
        sign.add_argument("--reason", required=True)
    rollback = commands.add_parser("rollback", help="move production back to the previous "
                                                    "approved version")
    rollback.add_argument("--alias", default=signoff.PRODUCTION)
    rollback.add_argument("--by", help="who rolls back (default: GOVERNANCE_USER or OS user)")
    rollback.add_argument("--reason", required=True)
    verify = commands.add_parser("verify", help="check the ledger, every registry file and "
                                                "alias; non-zero naming the first bad entry")
    verify.add_argument("--anchor", help="SEQ:HASH of a head printed earlier and kept elsewhere")


def resolve(root: Path, name: str) -> str:
    """A version id from an alias, an id or a unique prefix of one."""
    if name in ALIASES:
        version = registry.get_alias(root, name)
        if version is None:
            raise UsageError(f"alias {name!r} points at nothing yet (no ledger entry moved it)")
        return version
    known = [e["data"]["version"] for e in registry.versions(root)]
    matches = sorted({v for v in known if v.startswith(name)})
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UsageError(f"unknown version {name!r}: `governance list` shows the "
                         f"{len(set(known))} registered version(s)")
    raise UsageError(f"{name!r} is a prefix of {len(matches)} versions: {', '.join(matches)}")


def _aliases_of(root: Path, version: str) -> list[str]:
    return [a for a in ALIASES if registry.get_alias(root, a) == version]


def _show(root: Path, name: str, spec) -> int:
    version = resolve(root, name)
    entry = registry.registration(root, version)
    data = entry["data"]
    print(f"version {version}  aliases: {', '.join(_aliases_of(root, version)) or 'none'}")
    print(f"  registered: ledger #{entry['seq']} at {entry['at']} by {entry['actor']['name']} "
          f"(run {data.get('run_id')}, decision {data.get('decision')}, dataset "
          f"{data.get('dataset')})")
    print(f"  evidence hash: {signoff.evidence_hash(entry)}")
    bad = signoff.tampered_files(root, entry)
    print("  files (sha256 from the ledger):" + (f"  TAMPERED: {'; '.join(bad)}" if bad else ""))
    for file, digest in sorted(data["files"].items()):
        print(f"    {digest[:16]}  versions/{version}/{file}")
    _print_gates(root / "versions" / version / "decision.json")
    print(f"  approval: {signoff.approval_standing(root, version, spec).summary()}")
    card = root / "versions" / version / "model_card.md"
    if card.is_file():
        print(f"  card: {card}")
    return DONE


def _print_gates(decision: Path) -> None:
    """The verdicts as the version's decision record holds them (a file the evidence hash
    covers), not as a manifest no approval binds."""
    if not decision.is_file():
        return
    gates = read_json(decision).get("verdicts", [])
    if gates:
        print("  gates:")
    for gate in gates:
        value = "-" if gate.get("value") is None else f"{gate['value']:.4g}"
        print(f"    {gate['name']:<24} {gate['verdict']:<22} {value:>9}")


def _list(root: Path, spec) -> int:
    seen = []
    for entry in registry.versions(root):
        version = entry["data"]["version"]
        if version in seen:
            continue
        seen.append(version)
        standing = signoff.approval_standing(root, version, spec)
        print(f"{version}  model {entry['data']['model_sha256'][:12]}  "
              f"#{entry['seq']:<6} {entry['at']}  "
              f"{','.join(_aliases_of(root, version)) or '-':<19} "
              f"{'approved by ' + standing.approval['data']['by'] if standing.valid else '-'}")
    if not seen:
        print("no registered version yet")
    return DONE


def _summary(entry: dict) -> str:
    data = entry["data"]
    kind = entry["kind"]
    if kind == "alias":
        return (f"{data['alias']} -> {data['version']} ({data.get('move', 'move')}, from "
                f"{data['previous']}): {data['reason']}")
    if kind in ("approval", "rejection"):
        return f"{data['version']} by {data['by']}: {data['reason']}"
    if kind == "register":
        return f"{data['version']} model {data['model_sha256'][:12]} run {data.get('run_id')}"
    if kind == "policy":
        return f"policy {data['policy_hash'][:12]} changed {data['changed_keys'] or 'first'}"
    if kind == "decision":
        return f"{data['decision']} run {data['run_id']} {', '.join(data['refused_by'])}"
    return f"{data.get('gate')} {data.get('outcome')} run {data.get('run_id')}"


def _history(root: Path, kinds: list[str] | None, last: int) -> int:
    chosen = ledger.entries(root, tuple(kinds or ()))
    for entry in chosen[-last:]:
        print(f"#{entry['seq']:<6} {entry['at']} {entry['kind']:<9} "
              f"{entry['actor']['name']:<12} {_summary(entry)}")
    print(f"({min(last, len(chosen))} of {len(chosen)} entries shown)")
    return DONE


def _sign(root: Path, kind: str, args: argparse.Namespace, spec) -> int:
    version = resolve(root, args.version)
    act = signoff.approve if kind == "approve" else signoff.reject
    entry = act(root, version, args.by, args.reason, spec)
    print(f"{entry['kind']} of {version} by {args.by} recorded as ledger #{entry['seq']} "
          f"(evidence {entry['data']['evidence_hash'][:16]}…)")
    return DONE


def _rollback(root: Path, args: argparse.Namespace) -> int:
    entry = signoff.rollback(root, args.alias, args.by, args.reason)
    print(f"{args.alias}: {entry['data']['previous']} -> {entry['data']['version']} "
          f"(ledger #{entry['seq']})")
    if entry["data"].get("same_model"):
        print(f"note: {registry.same_model_note(entry['data'])}")
    return DONE


def _verify(root: Path, anchor: str | None) -> int:
    report = audit.verify(root, anchor)
    for notice in report.notices:
        print(f"note: {notice}")
    if report.problems:
        print(f"TAMPERED: {report.problems[0]}")
        for problem in report.problems[1:]:
            print(f"  also: {problem}")
        return REFUSED
    head = report.head
    versions = {e["data"]["version"] for e in report.parsed if e["kind"] == "register"}
    print(f"ledger intact: {report.entries} entries, {len(versions)} versions verified")
    if head:
        print(f"head {head['seq']}:{head['hash']}  (keep it elsewhere; pass it as --anchor)")
    return DONE


def run(root: Path, args: argparse.Namespace) -> int:
    """Dispatch a registry command; every refusal is one paragraph with its exit code."""
    try:
        return _dispatch(root, args)
    except (ParamsError, UsageError) as error:
        print(f"error: {error} (exit {BAD_INPUT})")
        return BAD_INPUT
    except ledger.RegistryLocked as error:
        print(f"error: {error} (exit {LOCKED})")
        return LOCKED
    except (signoff.SignoffError, registry.RegistryError, ledger.LedgerError) as error:
        print(f"refused: {error} (exit {REFUSED})")
        return REFUSED


def _dispatch(project: Path, args: argparse.Namespace) -> int:
    """verify, history and rollback need no params.yaml: an auditor checks a copied registry."""
    root, command = Layout(project).registry, args.command
    if command == "history":
        return _history(root, args.kind, args.last)
    if command == "rollback":
        return _rollback(root, args)
    if command == "verify":
        return _verify(root, args.anchor)
    spec = load_params(project).signoff
    if command == "show":
        return _show(root, args.version, spec)
    if command == "list":
        return _list(root, spec)
    return _sign(root, command, args, spec)


COMMANDS = ("show", "list", "history", "approve", "reject", "rollback", "verify")
