"""`governance report`: every gate's standing against the current inputs, the report paths and
where the registry's aliases point; exit 0 only when the current candidate is promoted.
`governance compliance-report`: the production version's compliance report, regenerated and
entered in the ledger (what the weekly schedule runs).

`governance run` ends with the same report, told where the run stopped.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.decide.blocking import blocking_label
from ..core.decide.gate_catalog import GATES_BY_NAME, STAGES
from ..core.files import write_json_atomic
from ..core.layout import Layout
from ..core.params import Params, load_params
from ..core.report.printable import printable
from .output import (
    DONE,
    INPUT_ERROR,
    REFUSED,
    error_paragraph,
    ledger_errors_as_input_errors,
    say,
)

REPORTS = [
    ("decision record", "reports/decision.json"), ("gate verdicts", "reports/gates.json"),
    ("model card", "reports/model_card.md"), ("model card (JSON)", "reports/model_card.json"),
    ("EU AI Act checklist", "reports/compliance.html"), ("validation", "reports/validation.json"),
    ("splits", "reports/splits.json"), ("search trials", "reports/search.json"),
    ("model", "models/candidate.skops"), ("performance", "reports/performance.json"),
    ("latency (runtime)", "reports/runtime/latency.json"),
    ("fairness", "reports/fairness.json"), ("fairness chart", "reports/fairness_rates.png"),
    ("proxy screen", "reports/proxies.json"), ("explanations", "reports/explanation.json"),
    ("SHAP plot", "reports/shap_importance.png"), ("SHAP summary", "reports/shap_summary.png"),
    ("local explanations", "reports/explanations/"), ("drift (HTML)", "reports/drift.html"),
    ("drift", "reports/drift.json"), ("robustness", "reports/robustness.json"),
    ("reference decisions", "reports/reference_agreement.json"),
    ("staging promotion", "reports/staging.json"),
]


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "report", help="print every gate and report path; write gates.json",
        description="Judge nothing: read every gate's verdict against the current inputs "
                    "(a verdict for other inputs is STALE), write reports/gates.json, print the "
                    "gate table, the report paths and the registry's aliases. Exit 0 only when "
                    "the current candidate is the `staging` version under a decision in force; "
                    "1 otherwise.")
    parser.set_defaults(handler=_report_command)
    periodic = commands.add_parser(
        "compliance-report", help="regenerate production's compliance report; ledger entry",
        description="Regenerate the EU AI Act compliance report of the `production` version "
                    "from its registered card, with whether its files and approval still "
                    "stand, into registry/compliance_reports/<version>/<time>/, and enter it "
                    "in the ledger (kind compliance_report), as the weekly_compliance_report "
                    "schedule does. Exit 2 when there is no production version.")
    periodic.set_defaults(handler=_compliance_report_command)


@ledger_errors_as_input_errors
def _report_command(root: Path, _args: argparse.Namespace) -> int:
    return report(root)


@ledger_errors_as_input_errors
def _compliance_report_command(root: Path, _args: argparse.Namespace) -> int:
    from ..core.report import periodic_compliance

    try:
        entry = periodic_compliance.production_report(Layout(root), load_params(root), "cli",
                                                      None)
    except periodic_compliance.PeriodicComplianceError as error:
        print(error_paragraph(str(error)))
        return INPUT_ERROR
    data = entry["data"]
    say(f"compliance report of production {data['version']}: registry/{data['record']} "
        f"(ledger #{entry['seq']}); approval counts: {data['approval_counts']}; not met: "
        f"{', '.join(data['not_met']) or 'none'}")
    return DONE


def _blocking_label(row: dict) -> str:
    """The owner's label for a gate table row (core/decide/blocking.py)."""
    return blocking_label(GATES_BY_NAME[row["name"]], row["outcome"], row["blocks_promotion"])


def _print_reasons(rows: list[dict]) -> None:
    """A line per gate that did not pass; gates not judged for one shared reason (a run that
    stopped at train) share one line, so the gate that stopped it stays readable."""
    shared: dict[str, list[str]] = {}
    for row in rows:
        if row["verdict"] == "NOT EVALUATED":
            shared.setdefault(row["message"], []).append(row["name"])
        elif row["verdict"] != "PASS":
            print(printable(f"  {row['name']}: {row['message']}"))
    for reason, (first, *others) in shared.items():
        also = f" (the same for {', '.join(others)})" if others else ""
        print(printable(f"  {first}: {reason}{also}"))


def _print_table(rows: list[dict]) -> None:
    header = (f"{'gate':<22} {'asset':<26} {'value':>9} {'threshold':>11} "
              f"{'verdict':<22} blocking")
    print(header)
    print("-" * len(header))
    for row in rows:
        value = "-" if row["value"] is None else f"{row['value']:.4g}"
        threshold = "-" if row["threshold"] is None else f"{row['comparison']} {row['threshold']:g}"
        print(f"{row['name']:<22} {row['asset']:<26} {value:>9} {threshold:>11} "
              f"{row['verdict']:<22} {_blocking_label(row)}")


def _staged_version(layout: Layout, candidate: str | None) -> dict | None:
    """The ledger entry `staging` rests on, only if it holds the current candidate."""
    from ..core.record import registry

    entry = registry.alias_entry(layout.registry, "staging")
    if candidate is None or entry is None:
        return None
    registered = registry.registration(layout.registry, entry["data"]["version"])
    return entry if registered and registered["data"]["model_sha256"] == candidate else None


def _print_aliases(layout: Layout) -> None:
    """Where each alias points, from the ledger entry it rests on: never silently out of step
    with the verdict above it."""
    from ..core.record import registry

    print("\nRegistry (from the ledger):")
    for alias in ("staging", "production"):
        entry = registry.alias_entry(layout.registry, alias)
        where = ("nothing yet" if entry is None else
                 f"{entry['data']['version']} (ledger #{entry['seq']} at {entry['at']}, "
                 f"{entry['data'].get('move', 'move')}, run {entry['data'].get('run_id')}, "
                 f"{'signed' if entry.get('sig') else 'unsigned'}"
                 f"{', by ' + entry['data']['by'] if entry['data'].get('by') else ''})")
        print(printable(f"  {alias:<10} {where}"))


def _production_line(layout: Layout, staged: str) -> str:
    """Where production stands: it is approval-gated, so awaiting approval is not a failure."""
    from ..core.record import registry
    from ..core.trust import signoff

    current = registry.get_alias(layout.registry, signoff.PRODUCTION)
    if current == staged:
        return f"production: {current} (this candidate)"
    try:
        trust = signoff.Trust.of(layout.root, load_params(layout.root).signoff)
    except signoff.SignoffError as error:
        return f"production: {current or 'none'}; sign-off unavailable: {error}"
    standing = signoff.approval_standing(layout.registry, staged, trust)
    if standing.valid:
        return (f"production: {current or 'none'}; {staged} is approved "
                f"({printable(standing.approval['data']['by'])}): a promoter runs `governance "
                "promote-production --key KEY`")
    return printable(f"production: {current or 'none'}; {staged} is not approved: "
                     f"{standing.summary()}")


def _blocked_headline(items) -> str:
    """Say what kind of refusal it is: a verdict against, a stale one, or none at all."""
    from ..core.decide.verdicts import CURRENT, STALE

    judged = [i.gate.name for i in items if i.blocks and i.state == CURRENT]
    stale = [i.gate.name for i in items if i.blocks and i.state == STALE]
    missing = [i.gate.name for i in items if i.blocks and i.state not in (CURRENT, STALE)]
    if judged:
        return (f"BLOCKED: promotion refused by {', '.join(judged)} (exit {REFUSED}; the "
                "decision record says why: reports/decision.json).")
    if stale:
        return (f"BLOCKED: the verdicts of {', '.join(stale)} are STALE (they judged other "
                f"inputs); run `governance run` to judge the current ones (exit {REFUSED}).")
    return (f"NOT EVALUATED: no verdict for the current inputs of {', '.join(missing)}; run "
            f"`governance run` (exit {REFUSED}).")


def _earlier_outputs(root: Path, stopped_at: str | None) -> set[str]:
    """The outs of the stages after the one the run stopped at: DVC leaves them in place, so
    they are an earlier run's, maybe of another dataset."""
    if stopped_at not in STAGES:
        return set()
    from ..core import yaml_text

    stages = yaml_text.safe_load((root / "dvc.yaml").read_text())["stages"]
    later = STAGES[STAGES.index(stopped_at) + 1:]
    outs = {str(out) for name in later for out in stages.get(name, {}).get("outs", [])}
    return {relative for _, relative in REPORTS
            if relative in outs or any(relative.startswith(f"{o}/") for o in outs)}


def recorded_decision(record: dict | None, rows: list[dict], params: Params) -> str:
    """Why the decision record does not back a PROMOTED headline, in a clause."""
    from ..core.decide import decisions

    if record is None:
        return "no decision is recorded (reports/decision.json)"
    changed = decisions.changed_since(record, rows, params.policy_hash)
    return (f"the decision in reports/decision.json ({record['decision']}) was made on other "
            f"standings ({', '.join(changed) or 'the gates'})")


def report(root: Path, stopped_at: str | None = None) -> int:
    """Print and write every gate's standing against the current inputs; 0 only if promoted."""
    from ..core.decide import decisions
    from ..core.decide.verdicts import IntegrityError, candidate_sha256, standings

    layout = Layout(root)
    params = load_params(root)
    items = standings(params, layout)
    rows = [item.to_dict() for item in items]
    blocked = [item.gate.name for item in items if item.blocks]
    write_json_atomic(layout.gates, {"gates": rows, "promotable": not blocked})
    if stopped_at in ("prepare", "train"):
        record = decisions.decide(params, layout, items, None, decisions.trigger_from_tags({}),
                                  None)
        decisions.write_decision(layout, {**record, "candidate_sha256": None,
                                          "candidate_problem": f"stopped at {stopped_at}"})
    print("\nGates (value against the policy threshold in params.yaml):")
    _print_table(rows)
    _print_reasons(rows)
    print("\nReports:")
    earlier = _earlier_outputs(root, stopped_at)
    for label, relative in REPORTS:
        note = ("  (not produced)" if not (root / relative).exists() else
                f"  (STALE: from an earlier run; this one stopped at {stopped_at})"
                if relative in earlier else "")
        print(f"  {label:<23} {relative}{note}")
    _print_aliases(layout)
    if blocked:
        print("\n" + _blocked_headline(items))
        return REFUSED
    try:
        candidate = candidate_sha256(layout)
    except IntegrityError as error:
        print(f"\nBLOCKED: {error} (exit {REFUSED}).")
        return REFUSED
    staged = _staged_version(layout, candidate)
    if staged is None:
        print(f"\nNOT PROMOTED: every gate passed but `staging` does not hold this candidate "
              f"yet; run `governance run` (exit {REFUSED}).")
        return REFUSED
    record = decisions.latest_decision(layout)
    if not (decisions.in_force(record, rows, params.policy_hash)
            and record["decision"] == decisions.PROMOTE):
        print(f"\nNOT PROMOTED: every gate passes, but {recorded_decision(record, rows, params)};"
              f" run `governance run` to record the decision in force (exit {REFUSED}).")
        return REFUSED
    version = staged["data"]["version"]
    print(f"\nPROMOTED: registry version {version} is `staging` (registry/versions/{version}; "
          f"ledger #{staged['seq']}, run {staged['data'].get('run_id')}).")
    print(_production_line(layout, version))
    return DONE

