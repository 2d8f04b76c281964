"""The registry, its ledger and sign-off: `governance show|list|history|approve|reject|
rollback|keys|verify` and `governance promote-production`.

Every command reads the ledger (the source of truth for versions and aliases), so what it
prints can never silently disagree with `aliases/*.json`. Exit codes (output.py): 0 done
(verify: ledger, registry files and alias files are intact); 1 refused: a sign-off, rollback or
promotion the rules do not allow (the reason is printed), or verify found tampering (the first
bad entry is named); 2 bad input: an unknown version, an alias with nothing behind it,
params.yaml invalid; 4 the registry is locked by another process, or the disk refused the write
(full, read-only): nothing was recorded; try again when it is fixed.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from ..core.decide.gate_catalog import PRODUCTION_STAGE
from ..core.files import read_json
from ..core.layout import Layout
from ..core.params import ParamsError, load_params
from ..core.record import audit, ledger, model_signature, registry
from ..core.trust import keyring, signoff
from ..core.trust.signatures import SignatureError, Signer
from .output import DONE, INPUT_ERROR, LEDGER_WRITE_FAILED, REFUSED, say
from .stage import stage

ALIASES = ("staging", "production")


class UsageError(ValueError):
    """The command names something the registry does not have."""


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register the registry, sign-off and production promotion commands."""
    show = _command(commands, "show", "a version (or alias): card, verdicts, hashes",
                    "Print a registered version as its ledger entry records it: aliases, who "
                    "signed the run, the evidence hash, each file's sha256 (and which were "
                    "tampered with), the model signature, the gate verdicts and the approval.")
    show.add_argument("version", help="version id, unique prefix, or staging/production")
    _command(commands, "list", "every registered version: model hash, aliases, approval",
             "One line per registered version, oldest first: model sha256, ledger entry, "
             "aliases and who approved it.")
    history = _command(commands, "history", "the ledger, oldest first",
                       "The ledger's entries, oldest first, each with whether it is signed; "
                       "needs no params.yaml, so an auditor can read a copied registry.")
    history.add_argument("--kind", action="append", help="only these entry kinds")
    history.add_argument("--last", type=int, default=50, help="how many entries (default 50)")
    for name, text in (("approve", "approve a version's evidence for production (signed)"),
                       ("reject", "reject a version, voiding earlier approvals (signed)")):
        sign = _command(commands, name, text,
                        f"{text[0].upper()}{text[1:]}: a ledger entry bound to the hash of "
                        "the version's evidence, signed with the reviewer's OpenSSH key and "
                        "checked against the committed allowed-signers file.")
        sign.add_argument("version", help="version id, unique prefix, or staging/production")
        add_key_argument(sign, "the reviewer's")
        sign.add_argument("--reason", required=True, help="why, kept in the ledger")
    rollback = _command(commands, "rollback", "move production back to the previous approved "
                                              "version (signed by a promoter)",
                        "Move an alias back to the previous version that passed its gates and "
                        "was approved, as a ledger entry signed by a promoter's key.")
    rollback.add_argument("--alias", default=signoff.PRODUCTION,
                          help=f"the alias to move back (default {signoff.PRODUCTION})")
    add_key_argument(rollback, "the promoter's")
    rollback.add_argument("--reason", required=True, help="why, kept in the ledger")
    keys = _command(commands, "keys", "demo keys and allowed signers for a try-out",
                    "Make demo OpenSSH keys for the principals params.yaml names and add them "
                    "to the allowed-signers file, for a local try-out of sign-off.")
    keys.add_argument("action", choices=["init"], help="init: make the demo keys")
    keys.add_argument("--into", default=keyring.DEMO_FOLDER,
                      help=f"where the demo keys go (default {keyring.DEMO_FOLDER}, git-ignored)")
    verify = _command(commands, "verify", "check the ledger, every registry file and alias; "
                                          "non-zero naming the first bad entry",
                      "Check every ledger entry's hash chain and signature, every registry "
                      "file's sha256 and every alias file against the ledger; exit 1 naming "
                      "the first bad entry. Needs no params.yaml.")
    verify.add_argument("--anchor", help="SEQ:HASH of a head printed earlier and kept elsewhere")
    promote = commands.add_parser(
        "promote-production", help="sign a promotion request with a promoter's key, then move "
                                   "production to the approved staging version",
        description="`dvc repro production/dvc.yaml` for a person at a terminal: record a "
                    "promotion request signed with the promoter's key (with --key), then run "
                    "the promote_production stage, which moves production only on a valid "
                    "approval of the staging version's evidence. Exit 0 moved, 1 refused (the "
                    "reason is named).")
    promote.add_argument("--key", type=Path,
                         help="the promoter's OpenSSH private key (or .pub with ssh-agent); "
                              "without it, an open signed request is used")
    promote.set_defaults(handler=_promote_production_command)


def _command(commands: argparse._SubParsersAction, name: str, text: str,
             description: str) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=text, description=description)
    parser.set_defaults(handler=_registry_command)
    return parser


def add_key_argument(parser: argparse.ArgumentParser, whose: str) -> None:
    parser.add_argument("--key", required=True, type=Path,
                        help=f"{whose} OpenSSH private key (or its .pub, with the key in "
                             "ssh-agent); its principal in the allowed-signers file is who acts")


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


def _show(root: Path, name: str, trust: signoff.Trust) -> int:
    version = resolve(root, name)
    entry = registry.registration(root, version)
    data = entry["data"]
    say(f"version {version}  aliases: {', '.join(_aliases_of(root, version)) or 'none'}")
    say(f"  registered: ledger #{entry['seq']} at {entry['at']}, "
          f"{signoff.run_signature(entry, trust)} (run {data.get('run_id')}, decision "
          f"{data.get('decision')}, dataset {data.get('dataset')})")
    say(f"  evidence hash: {signoff.evidence_hash(entry)}")
    bad = signoff.tampered_files(root, entry)
    say("  files (sha256 from the ledger):" + (f"  TAMPERED: {'; '.join(bad)}" if bad else ""))
    for file, digest in sorted(data["files"].items()):
        say(f"    {digest[:16]}  versions/{version}/{file}")
    for line in model_signature.consumer_view(root / "versions" / version, data).splitlines():
        say(line)
    _print_gates(root / "versions" / version / "decision.json")
    say(f"  approval: {signoff.approval_standing(root, version, trust).summary()}")
    card = root / "versions" / version / "model_card.md"
    if card.is_file():
        say(f"  card: {card}")
    return DONE


def _print_gates(decision: Path) -> None:
    """The verdicts as the version's decision record holds them (a file the evidence hash
    covers), not as a manifest no approval binds."""
    if not decision.is_file():
        return
    gates = read_json(decision).get("verdicts", [])
    if gates:
        say("  gates:")
    for gate in gates:
        value = "-" if gate.get("value") is None else f"{gate['value']:.4g}"
        say(f"    {gate['name']:<24} {gate['verdict']:<22} {value:>9}")


def _list(root: Path, trust: signoff.Trust) -> int:
    seen = []
    for entry in registry.versions(root):
        version = entry["data"]["version"]
        if version in seen:
            continue
        seen.append(version)
        standing = signoff.approval_standing(root, version, trust)
        say(f"{version}  model {entry['data']['model_sha256'][:12]}  "
             f"#{entry['seq']:<6} {entry['at']}  "
              f"{','.join(_aliases_of(root, version)) or '-':<19} "
              f"{'approved by ' + standing.approval['data']['by'] if standing.valid else '-'}")
    if not seen:
        say("no registered version yet")
    return DONE


def _summary(entry: dict) -> str:
    data = entry["data"]
    kind = entry["kind"]
    if kind == "alias":
        return (f"{data['alias']} -> {data['version']} ({data.get('move', 'move')}, from "
                f"{data['previous']}): {data['reason']}")
    if kind in ("approval", "rejection"):
        return f"{data['version']} by {data['by']}: {data['reason']}"
    if kind == "promotion_request":
        return f"{data['version']} requested by {data['by']}"
    if kind == "register":
        return f"{data['version']} model {data['model_sha256'][:12]} run {data.get('run_id')}"
    if kind == "policy":
        return f"policy {data['policy_hash'][:12]} changed {data['changed_keys'] or 'first'}"
    if kind == "decision":
        return f"{data['decision']} run {data['run_id']} {', '.join(data['refused_by'])}"
    if kind == "compliance_report":
        return f"{data['version']} {data['record']} ({data['trigger']})"
    if kind == "publication":
        return f"{data['version']} published as {data['model_uri']} at {data['tracking_uri']}"
    return f"{data.get('gate')} {data.get('outcome')} run {data.get('run_id')}"


def _history(root: Path, kinds: list[str] | None, last: int) -> int:
    chosen = ledger.entries(root, tuple(kinds or ()))
    for entry in chosen[-last:]:
        signed = "signed" if entry.get("sig") else "unsigned"
        say(f"#{entry['seq']:<6} {entry['at']} {entry['kind']:<9} {signed:<8} "
              f"{_summary(entry)}")
    say(f"({min(last, len(chosen))} of {len(chosen)} entries shown)")
    return DONE


def _sign(root: Path, kind: str, args: argparse.Namespace, trust: signoff.Trust) -> int:
    version = resolve(root, args.version)
    act = signoff.approve if kind == "approve" else signoff.reject
    entry = act(root, version, Signer(args.key), args.reason, trust)
    say(f"{entry['kind']} of {version} by {entry['data']['by']} (key "
          f"{entry['signer']['key']}) recorded as ledger #{entry['seq']} "
          f"(evidence {entry['data']['evidence_hash'][:16]}…)")
    return DONE


def _rollback(root: Path, args: argparse.Namespace, trust: signoff.Trust) -> int:
    entry = signoff.rollback(root, trust, Signer(args.key), args.reason, args.alias)
    say(f"{args.alias}: {entry['data']['previous']} -> {entry['data']['version']} "
          f"(ledger #{entry['seq']})")
    if entry["data"].get("same_model"):
        say(f"note: {registry.same_model_note(entry['data'])}")
    return DONE


def _project_trust(project: Path) -> signoff.Trust | None:
    """The project's trust when it has one (an auditor may verify a copied registry alone)."""
    try:
        return signoff.Trust.of(project, load_params(project).signoff)
    except (ParamsError, signoff.SignoffError):
        return None


def _verify(root: Path, anchor: str | None, trust: signoff.Trust | None) -> int:
    report = audit.verify(root, anchor, trust)
    for notice in report.notices:
        say(f"note: {notice}")
    if report.problems:
        say(f"TAMPERED: {report.problems[0]}")
        for problem in report.problems[1:]:
            say(f"  also: {problem}")
        return REFUSED
    head = report.head
    versions = {e["data"]["version"] for e in report.parsed if e["kind"] == "register"}
    say(f"ledger intact: {report.entries} entries, {len(versions)} versions verified")
    if head:
        say(f"head {head['seq']}:{head['hash']}  (keep it elsewhere; pass it as --anchor)")
    return DONE


def _registry_command(project: Path, args: argparse.Namespace) -> int:
    """Dispatch a registry command; every refusal is one paragraph with its exit code."""
    return _guarded(lambda: _dispatch(project, args))


def _guarded(action) -> int:
    try:
        return action()
    except (ParamsError, UsageError) as error:
        say(f"error: {error} (exit {INPUT_ERROR})")
        return INPUT_ERROR
    except (ledger.RegistryLocked, ledger.LedgerWriteFailed) as error:
        say(f"error: {error} (exit {LEDGER_WRITE_FAILED})")
        return LEDGER_WRITE_FAILED
    except (signoff.SignoffError, registry.RegistryError, ledger.LedgerError,
            SignatureError, keyring.KeyringError) as error:
        say(f"refused: {error} (exit {REFUSED})")
        return REFUSED
    except OSError as error:
        say(f"error: the registry could not be written or read ({error}); nothing was "
             f"recorded (exit {LEDGER_WRITE_FAILED})")
        return LEDGER_WRITE_FAILED


def request_promotion(project: Path, key: Path) -> int:
    """`promote-production --key`: the promoter's signed request the production asset acts on."""
    def act(root: Path, trust: signoff.Trust) -> int:
        version = resolve(root, "staging")
        entry = signoff.request_promotion(root, version, Signer(key), trust)
        say(f"promotion request for {version} by {entry['data']['by']} (key "
              f"{entry['signer']['key']}) recorded as ledger #{entry['seq']}")
        return DONE

    return _guarded(lambda: act(Layout(project).registry,
                                signoff.Trust.of(project, load_params(project).signoff)))


def _keys(project: Path, folder: str) -> int:
    made = keyring.init_demo(project, project / folder, load_params(project).signoff)
    for line in made:
        say(line)
    return DONE


def _dispatch(project: Path, args: argparse.Namespace) -> int:
    """verify and history need no params.yaml: an auditor checks a copied registry."""
    root, command = Layout(project).registry, args.command
    if command == "history":
        return _history(root, args.kind, args.last)
    if command == "verify":
        return _verify(root, args.anchor, _project_trust(project))
    if command == "keys":
        return _keys(project, args.into)
    trust = signoff.Trust.of(project, load_params(project).signoff)
    if command == "rollback":
        return _rollback(root, args, trust)
    if command == "show":
        return _show(root, args.version, trust)
    if command == "list":
        return _list(root, trust)
    return _sign(root, command, args, trust)



def _promote_production_command(project: Path, args: argparse.Namespace) -> int:
    if args.key is not None:
        code = request_promotion(project, args.key)
        if code != DONE:
            return code
    return promote_production(project)


def promote_production(root: Path) -> int:
    """The approval-gated stage for a person at a terminal: Dagster's log goes to a file."""
    layout = Layout(root)
    layout.logs.mkdir(parents=True, exist_ok=True)
    log = layout.logs / "promote-production.log"
    with log.open("a") as sink, contextlib.redirect_stderr(sink):
        code = stage(root, PRODUCTION_STAGE)
    print(f"(full log: {layout.relative(log)})")
    return code
