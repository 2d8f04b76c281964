"""The `governance` command: check inputs, run the governed graph through DVC, report the gates.

Exit codes (the same for `governance run` and for each `governance stage`):
  0  promoted: the candidate is the `staging` version, every blocking gate passed
  1  blocked: a gate refused the candidate (the decision record says which and why)
  2  config or data error: params.yaml or the dataset broke a rule (named in one paragraph);
     `governance run` stops before DVC touches any output
  3  any other failure (a crash, DVC itself); the full log says where

`governance promote-production` (= `dvc repro promote_production`) exits 0 when production moved,
1 when refused (no valid approval, named). The registry commands (show, list, history, approve,
reject, rollback, verify) are described in cli_registry.py.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from . import cli_registry
from .core.files import write_json_atomic
from .core.gate_catalog import PRODUCTION_STAGE, STAGE_GROUPS, STAGES
from .core.layout import Layout
from .core.params import Params, ParamsError, load_params

PROMOTED, BLOCKED, INPUT_ERROR, FAILURE = 0, 1, 2, 3
MARK = "[governance] "
INPUT_ERRORS = ("ParamsError", "DataError", "IntegrityError")

REPORTS = [
    ("decision record", "reports/decision.json"), ("gate verdicts", "reports/gates.json"),
    ("model card", "reports/model_card.md"), ("model card (JSON)", "reports/model_card.json"),
    ("EU AI Act checklist", "reports/compliance.html"), ("validation", "reports/validation.json"),
    ("splits", "reports/splits.json"), ("search trials", "reports/search.json"),
    ("model", "models/candidate.joblib"), ("performance", "reports/performance.json"),
    ("latency (runtime)", "reports/runtime/latency.json"),
    ("fairness", "reports/fairness.json"), ("fairness chart", "reports/fairness_rates.png"),
    ("proxy screen", "reports/proxies.json"), ("explanations", "reports/explanation.json"),
    ("SHAP plot", "reports/shap_importance.png"), ("SHAP summary", "reports/shap_summary.png"),
    ("local explanations", "reports/explanations/"), ("drift (HTML)", "reports/drift.html"),
    ("drift", "reports/drift.json"), ("robustness", "reports/robustness.json"),
    ("reference decisions", "reports/reference_agreement.json"),
    ("staging promotion", "reports/staging.json"),
]


def use_project_instance(root: Path) -> None:
    """Point Dagster at the project's instance, as dvc.yaml's stages do."""
    home = root / ".dagster"
    home.mkdir(exist_ok=True)
    os.environ.setdefault("DAGSTER_HOME", str(home))


def error_paragraph(message: str, code: int = INPUT_ERROR) -> str:
    """One readable paragraph: what broke, where, and that nothing was overwritten."""
    text = " ".join(message.split())
    return (f"error: {text}\nNothing downstream was run or overwritten; fix the input and run "
            f"again (exit {code}).")


def _validated_already(root: Path, params: Params) -> bool:
    """The last validation passed on these very bytes, under these rules and this code."""
    from .core.files import md5_of_file, read_json
    from .core.verdicts import validation_inputs_hash

    path = Layout(root).report("validation.json")
    if not path.is_file():
        return False
    last = read_json(path)
    binding = last.get("binding", {})
    return (last.get("valid") is True
            and binding.get("data_version") == md5_of_file(root / params.active.path)
            and binding.get("validation_inputs") == validation_inputs_hash(params))


def _data_problems(root: Path, params: Params) -> list[str]:
    """The validation rules the raw file breaks: the same validate() the prepare stage runs."""
    from .core import validation

    spec = params.active
    try:
        raw = validation.read_raw(root / spec.path)
    except (UnicodeDecodeError, ValueError) as error:
        return [f"{spec.path}: cannot be read as a table: {error}"]
    _, report = validation.validate(raw, spec, params.policy, spec.path)
    return [] if report.valid else [f.message for f in report.findings
                                     if not f.passed and f.gate != "outliers"]


def check(root: Path, quiet: bool = False) -> int:
    """params.yaml and the active dataset against every rule, without running the graph.

    Before a run (quiet) a file that already passed under the same rules and code is not read
    again; `governance check` itself always validates.
    """
    try:
        params = load_params(root)
    except ParamsError as error:
        print(error_paragraph(str(error)))
        return INPUT_ERROR
    if quiet and _validated_already(root, params):
        return PROMOTED
    problems = _data_problems(root, params)
    if problems:
        print(error_paragraph("; ".join(problems[:5])
                              + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")))
        return INPUT_ERROR
    if not quiet:
        print(f"params.yaml and {params.active.path} pass every rule (dataset {params.dataset}).")
    return PROMOTED


# --- one DVC stage --------------------------------------------------------------------------

def _stage_outcome(result) -> tuple[int, str]:
    """Exit code and one line for a finished Dagster run of a stage."""
    if result.success:
        return PROMOTED, ""
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            cause = error.cause or error
            name = cause.cls_name or ""
            message = (cause.message or "").strip().splitlines()[0] if cause.message else name
            if name in INPUT_ERRORS:
                return INPUT_ERROR, message
            if name == "DagsterAssetCheckFailedError":
                break
            if name == "Failure" or "refused" in message or "blocking" in message.lower():
                return BLOCKED, message
    failed = [e for e in result.get_asset_check_evaluations()
              if not e.passed and e.severity.value == "ERROR"]
    if failed:
        return BLOCKED, "; ".join(f"{e.check_name}: {e.description}" for e in failed)
    return FAILURE, "the run failed; see the log"


def stage(root: Path, name: str) -> int:
    """Materialize one group of the graph on the project's instance (what dvc.yaml calls)."""
    from dagster import DagsterInstance, materialize

    from .assets import GRAPH_ASSETS, PROMOTION_CHECKS
    from .checks import GATE_CHECKS
    from .core.registry import init_registry
    from .resources import GovernanceProject

    try:
        load_params(root)
    except ParamsError as error:
        print(MARK + error_paragraph(str(error)), flush=True)
        return INPUT_ERROR
    init_registry(Layout(root).registry)
    started = time.perf_counter()
    with DagsterInstance.get() as instance:
        result = materialize([*GRAPH_ASSETS, *GATE_CHECKS, *PROMOTION_CHECKS],
                             selection=f"group:{STAGE_GROUPS[name]}", instance=instance,
                             resources={"project": GovernanceProject(root=str(root))},
                             tags={"governance/stage": name}, raise_on_error=False)
    code, message = _stage_outcome(result)
    built = len(result.get_asset_materialization_events())
    seconds = time.perf_counter() - started
    print(f"{MARK}stage {name}: {built} asset(s) in {seconds:.1f} s, exit {code}"
          + (f": {message}" if message else ""), flush=True)
    return code


def promote_production(root: Path) -> int:
    """The approval-gated stage for a person at a terminal: Dagster's log goes to a file."""
    import contextlib

    layout = Layout(root)
    layout.logs.mkdir(parents=True, exist_ok=True)
    log = layout.logs / "promote-production.log"
    with log.open("a") as sink, contextlib.redirect_stderr(sink):
        code = stage(root, PRODUCTION_STAGE)
    print(f"(full log: {layout.relative(log)})")
    return code


# --- the whole graph through DVC ------------------------------------------------------------

def _dvc_binary(root: Path) -> str:
    isolated = root / ".venv-dvc" / "bin" / "dvc"
    found = str(isolated) if isolated.exists() else shutil.which("dvc")
    if not found:
        print(error_paragraph("dvc not found: run `make setup` (DVC lives in .venv-dvc)",
                              FAILURE))
        sys.exit(FAILURE)
    return found


def _open_log(layout: Layout) -> Path:
    layout.logs.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = layout.logs / f"run-{stamp}.log"
    latest = layout.logs / "latest.log"
    latest.unlink(missing_ok=True)
    latest.symlink_to(path.name)
    return path


SKIPPED = re.compile(r"Stage '(\w+)' didn't change, skipping")
CACHED = re.compile(r"Stage '(\w+)' is cached - skipping run")
RUNNING = re.compile(r"Running stage '(\w+)'")
STAGE_LINE = re.compile(r"stage (\w+): .*exit (\d)")


def _repro(root: Path, arguments: list[str], log: Path, codes: dict[str, int]) -> int:
    """Run `dvc repro`; everything goes to the log, one progress line per stage to the console."""
    command = [_dvc_binary(root), "repro", *arguments]
    env = {**os.environ, "GOVERNANCE_STAGE": "1", "PYTHONWARNINGS": "ignore"}
    with log.open("a") as sink:
        sink.write(f"$ {' '.join(command)}\n")
        sink.flush()
        process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, env=env)
        for line in process.stdout:
            sink.write(line)
            _progress(line, codes)
        return process.wait()


def _progress(line: str, codes: dict[str, int]) -> None:
    if found := SKIPPED.search(line):
        print(f"  {found.group(1):<9} unchanged, skipped", flush=True)
    elif found := CACHED.search(line):
        print(f"  {found.group(1):<9} restored from DVC's run cache", flush=True)
    elif found := RUNNING.search(line):
        print(f"  {found.group(1):<9} running ...", flush=True)
    elif line.startswith(MARK):
        text = line[len(MARK):].rstrip()
        if found := STAGE_LINE.search(text):
            codes[found.group(1)] = int(found.group(2))
        print(f"  {text}", flush=True)


def _unjudged_stage(root: Path) -> tuple[str, str] | None:
    """The first stage DVC calls up to date whose judgement is missing for the current inputs,
    and why: its gates have no verdict, or (promote, which has no outs) no decision is
    recorded for the candidate, as in a fresh clone of a committed dvc.lock."""
    from .core.verdicts import CURRENT, standings

    layout = Layout(root)
    for item in standings(load_params(root), layout):
        if item.state != CURRENT and item.gate.stage in STAGES:
            return item.gate.stage, ("verdicts missing for the current inputs: re-running it "
                                     "and every stage after it")
    if not _decided(layout):
        return "promote", ("no decision recorded for this candidate (a fresh clone, or the "
                           "last run stopped before promote): running it")
    return None


def run(root: Path, force: bool) -> int:
    """Check inputs, `dvc repro` the graph, report.

    DVC decides what to re-run from files; verdicts and decisions live in the registry. If DVC
    calls a stage up to date but its gates have no verdict for the current inputs (the verdict
    store was removed, or a run was killed after DVC recorded it) or promote has no decision
    for the candidate, that stage and everything after it run again, once, so the plain
    command recovers without --force.
    """
    from .core.registry import init_registry

    layout = Layout(root)
    code = check(root, quiet=True)
    if code != PROMOTED:
        return code
    init_registry(layout.registry)
    log = _open_log(layout)
    print(f"dvc repro of {', '.join(STAGES)} (full log: {layout.relative(log)})", flush=True)
    codes: dict[str, int] = {}
    returned = _repro(root, ["--force"] if force else [], log, codes)
    unjudged = _unjudged_stage(root) if returned == 0 else None
    if unjudged:
        stage, why = unjudged
        print(f"  {stage:<9} {why}", flush=True)
        returned = _repro(root, ["--force", "--downstream", stage], log, codes)
    return _conclude(root, returned, codes, log)


def _decided(layout: Layout) -> bool:
    """The promote stage has no outs: DVC calls it up to date from its deps alone, also in a
    fresh clone whose registry has never seen the candidate. Its decision record tells."""
    path, meta = layout.report("decision.json"), layout.model_meta
    if not (path.is_file() and meta.is_file()):
        return False
    return (json.loads(path.read_text()).get("candidate_sha256")
            == json.loads(meta.read_text()).get("sha256"))


def _conclude(root: Path, returned: int, codes: dict[str, int], log: Path) -> int:
    layout = Layout(root)
    if INPUT_ERROR in codes.values():
        failed = next(name for name, c in codes.items() if c == INPUT_ERROR)
        print(f"\nstage {failed} stopped on a config or data error; see "
              f"{layout.relative(log)} (exit {INPUT_ERROR}).")
        return INPUT_ERROR
    outcome = report(root, stopped_at=_stopped_at(codes))
    if outcome == PROMOTED and returned != 0:
        print(f"\ndvc repro failed (exit {returned}) although no gate refused; see "
              f"{layout.relative(log)}.")
        return FAILURE
    if outcome == BLOCKED and returned != 0 and BLOCKED not in codes.values() and codes:
        print(f"\ndvc repro failed (exit {returned}); see {layout.relative(log)}.")
        return FAILURE
    print(f"\nFull log: {layout.relative(log)}")
    return outcome


def _stopped_at(codes: dict[str, int]) -> str | None:
    for name in STAGES:
        if codes.get(name, 0) != 0:
            return name
    return None


# --- the gate table -------------------------------------------------------------------------

def _blocking_label(row: dict) -> str:
    """'warn (policy)': a blocking gate whose insufficient evidence the policy handles as warn."""
    if not row["blocking"]:
        return "warn"
    if row["outcome"] == "insufficient_evidence" and not row["blocks_promotion"]:
        return "warn (policy)"
    return "yes"


def _print_reasons(rows: list[dict]) -> None:
    """A line per gate that did not pass; gates not judged for one shared reason (a run that
    stopped at train) share one line, so the gate that stopped it stays readable."""
    shared: dict[str, list[str]] = {}
    for row in rows:
        if row["verdict"] == "NOT EVALUATED":
            shared.setdefault(row["message"], []).append(row["name"])
        elif row["verdict"] != "PASS":
            print(f"  {row['name']}: {row['message']}")
    for reason, (first, *others) in shared.items():
        also = f" (the same for {', '.join(others)})" if others else ""
        print(f"  {first}: {reason}{also}")


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
    from .core import registry

    entry = registry.alias_entry(layout.registry, "staging")
    if candidate is None or entry is None:
        return None
    registered = registry.registration(layout.registry, entry["data"]["version"])
    return entry if registered and registered["data"]["model_sha256"] == candidate else None


def _print_aliases(layout: Layout) -> None:
    """Where each alias points, from the ledger entry it rests on: never silently out of step
    with the verdict above it."""
    from .core import registry

    print("\nRegistry (from the ledger):")
    for alias in ("staging", "production"):
        entry = registry.alias_entry(layout.registry, alias)
        where = ("nothing yet" if entry is None else
                 f"{entry['data']['version']} (ledger #{entry['seq']} at {entry['at']}, "
                 f"{entry['data'].get('move', 'move')}, run {entry['data'].get('run_id')}, by "
                 f"{entry['actor']['name']})")
        print(f"  {alias:<10} {where}")


def _production_line(layout: Layout, staged: str) -> str:
    """Where production stands: it is approval-gated, so awaiting approval is not a failure."""
    from .core import registry, signoff

    current = registry.get_alias(layout.registry, signoff.PRODUCTION)
    if current == staged:
        return f"production: {current} (this candidate)"
    standing = signoff.approval_standing(layout.registry, staged,
                                         load_params(layout.root).signoff)
    if standing.valid:
        return (f"production: {current or 'none'}; {staged} is approved "
                f"({standing.approval['data']['by']}): run `governance promote-production`")
    return (f"production: {current or 'none'}; {staged} is awaiting approval: `governance "
            f"approve {staged} --by NAME --reason ...`")


def _blocked_headline(items) -> str:
    """Say what kind of refusal it is: a verdict against, a stale one, or none at all."""
    from .core.verdicts import CURRENT, STALE

    judged = [i.gate.name for i in items if i.blocks and i.state == CURRENT]
    stale = [i.gate.name for i in items if i.blocks and i.state == STALE]
    missing = [i.gate.name for i in items if i.blocks and i.state not in (CURRENT, STALE)]
    if judged:
        return (f"BLOCKED: promotion refused by {', '.join(judged)} (exit {BLOCKED}; the "
                "decision record says why: reports/decision.json).")
    if stale:
        return (f"BLOCKED: the verdicts of {', '.join(stale)} are STALE (they judged other "
                f"inputs); run `governance run` to judge the current ones (exit {BLOCKED}).")
    return (f"NOT EVALUATED: no verdict for the current inputs of {', '.join(missing)}; run "
            f"`governance run` (exit {BLOCKED}).")


def report(root: Path, stopped_at: str | None = None) -> int:
    """Print and write every gate's standing against the current inputs; 0 only if promoted."""
    from .core import decisions
    from .core.verdicts import IntegrityError, candidate_sha256, standings

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
    for label, relative in REPORTS:
        missing = "" if (root / relative).exists() else "  (not produced)"
        print(f"  {label:<23} {relative}{missing}")
    _print_aliases(layout)
    if blocked:
        print("\n" + _blocked_headline(items))
        return BLOCKED
    try:
        candidate = candidate_sha256(layout)
    except IntegrityError as error:
        print(f"\nBLOCKED: {error} (exit {BLOCKED}).")
        return BLOCKED
    staged = _staged_version(layout, candidate)
    if staged is None:
        print(f"\nNOT PROMOTED: every gate passed but `staging` does not hold this candidate "
              f"yet; run `governance run` (exit {BLOCKED}).")
        return BLOCKED
    version = staged["data"]["version"]
    print(f"\nPROMOTED: registry version {version} is `staging` (registry/versions/{version}; "
          f"ledger #{staged['seq']}, run {staged['data'].get('run_id')}).")
    print(_production_line(layout, version))
    return PROMOTED


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="governance", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="project root")
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="check inputs, dvc repro the graph, report")
    run_parser.add_argument("--force", action="store_true", help="re-run every stage")
    commands.add_parser("check", help="validate params.yaml and the dataset; run nothing")
    commands.add_parser("report", help="print every gate and report path; write gates.json")
    stage_parser = commands.add_parser("stage", help="one DVC stage (what dvc.yaml calls)")
    stage_parser.add_argument("name", choices=(*STAGES, PRODUCTION_STAGE))
    # --- issue 10: production promotion and the registry commands ---
    commands.add_parser("promote-production", help="move production to the approved staging "
                                                   "version (refused without an approval)")
    cli_registry.add_commands(commands)
    args = parser.parse_args(argv)
    root = args.root.resolve()
    use_project_instance(root)
    if args.command == "promote-production":
        return promote_production(root)
    if args.command in cli_registry.COMMANDS:
        return cli_registry.run(root, args)
    # --- end issue 10 ---
    if args.command == "run":
        return run(root, args.force)
    if args.command == "check":
        return check(root)
    if args.command == "stage":
        return stage(root, args.name)
    try:
        return report(root)
    except ParamsError as error:
        print(error_paragraph(str(error)))
        return INPUT_ERROR


if __name__ == "__main__":
    sys.exit(main())
