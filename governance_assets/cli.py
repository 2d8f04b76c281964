"""The `governance` command: check inputs, run the governed graph through DVC, report the gates.

Exit codes (the same for `governance run` and for each `governance stage`):
  0  promoted: the candidate is the `staging` version, every blocking gate passed
  1  blocked: a gate refused the candidate (the decision record says which and why)
  2  config or data error: params.yaml or the dataset broke a rule (named in one paragraph);
     `governance run` stops before DVC touches any output
  3  any other failure (a crash, DVC itself); the full log says where

`governance ci` runs the same job and exits with the same code, and also writes the gates as
JUnit XML and a Markdown summary (to $GITHUB_STEP_SUMMARY too when it is set).

`governance promote-production` (= `dvc repro promote_production`) exits 0 when production moved,
1 when refused (no valid approval, named). The registry commands (show, list, history, approve,
reject, rollback, verify) are described in cli_registry.py.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from . import cli_registry, stage_server
from .core.decide.gate_catalog import PRODUCTION_STAGE, STAGES
from .core.files import write_json_atomic
from .core.layout import Layout
from .core.params import Params, ParamsError, load_params
from .core.record.ledger import LedgerError
from .core.report.printable import printable

PROMOTED, BLOCKED, INPUT_ERROR, FAILURE = 0, 1, 2, 3
MARK = "[governance] "
INPUT_ERRORS = ("ParamsError", "DataError", "IntegrityError", "UnsafeModelError")
# A ledger that fails verification on read, or a disk that refused an entry: the run stops
# and says which entry or file, as for bad input (nothing downstream acted on it).
LEDGER_ERRORS = ("LedgerTampered", "LedgerWriteFailed", "LedgerError")

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


def use_project_instance(root: Path) -> None:
    """Point Dagster at the project's instance, as dvc.yaml's stages do."""
    home = root / ".dagster"
    home.mkdir(exist_ok=True)
    os.environ.setdefault("DAGSTER_HOME", str(home))


def error_paragraph(message: str, code: int = INPUT_ERROR) -> str:
    """One readable paragraph: what broke, where, and that nothing was overwritten."""
    text = printable(" ".join(message.split()))
    return (f"error: {text}\nNothing downstream was run or overwritten; fix the input and run "
            f"again (exit {code}).")


def _validated_already(root: Path, params: Params) -> bool:
    """The last validation passed on these very bytes, under these rules and this code."""
    from .core.decide.verdicts import validation_inputs_hash
    from .core.files import md5_of_file, read_json

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
    from .core.data import raw_files, validation

    spec = params.active
    try:
        raw = raw_files.read_dataset(root, params.dataset, spec)
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
            if name in INPUT_ERRORS or name in LEDGER_ERRORS:
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


def run_tags(params: Params, stage_name: str) -> dict[str, str]:
    """What the UI's run list filters on: stage, what started it, dataset, policy."""
    from .core.decide.decisions import trigger_from_tags

    return {"governance/stage": stage_name, "governance/trigger": trigger_from_tags({}),
            "governance/dataset": params.dataset,
            "governance/policy_hash": params.policy_hash[:12]}


def stage(root: Path, name: str) -> int:
    """Materialize one group of the graph on the project's instance (what dvc.yaml calls)."""
    from dagster import DagsterInstance, materialize

    from .assets import GRAPH_ASSETS, PROMOTION_CHECKS
    from .checks import GATE_CHECKS, stage_selection
    from .core.record.registry import init_registry
    from .resources import GovernanceProject

    try:
        params = load_params(root)
    except ParamsError as error:
        print(MARK + error_paragraph(str(error)), flush=True)
        return INPUT_ERROR
    init_registry(Layout(root).registry, Layout(root).production_pointer)
    started = time.perf_counter()
    with DagsterInstance.get() as instance:
        result = materialize([*GRAPH_ASSETS, *GATE_CHECKS, *PROMOTION_CHECKS],
                             selection=stage_selection(name), instance=instance,
                             resources={"project": GovernanceProject(root=str(root))},
                             tags=run_tags(params, name), raise_on_error=False)
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


def _repro(root: Path, arguments: list[str], log: Path, codes: dict[str, int],
           env: dict[str, str], server: stage_server.StageServer | None) -> int:
    """Run `dvc repro`; everything goes to the log, one progress line per stage to the console.
    The stage server starts when DVC runs its first stage."""
    command = [_dvc_binary(root), "repro", *arguments]
    with log.open("a") as sink:
        sink.write(f"$ {' '.join(command)}\n")
        sink.flush()
        process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, env=env)
        for line in process.stdout:
            sink.write(line)
            if server and RUNNING.search(line):
                server.start()
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
    and why: its gates have no verdict, or (promote, which has no outs) the recorded decision
    was not made on the current standings of the gates, as in a fresh clone of a committed
    dvc.lock, or after a policy tightened and restored (DVC restores `document` from its run
    cache and calls promote up to date, while the latest decision is the strict one's)."""
    from .core.decide import decisions
    from .core.decide.verdicts import CURRENT, standings

    layout, params = Layout(root), load_params(root)
    items = standings(params, layout)
    for item in items:
        if item.state != CURRENT and item.gate.stage in STAGES:
            return item.gate.stage, ("verdicts missing for the current inputs: re-running it "
                                     "and every stage after it")
    record = decisions.latest_decision(layout)
    if record is None:
        return "promote", ("no decision recorded for this candidate (a fresh clone, or the "
                           "last run stopped before promote): running it")
    rows = [item.to_dict() for item in items]
    if not decisions.in_force(record, rows, params.policy_hash):
        return "promote", f"{_recorded_decision(record, rows, params)}: deciding again"
    return None


def run(root: Path, force: bool) -> int:
    """Check inputs, `dvc repro` the graph, report.

    DVC decides what to re-run from files; verdicts and decisions live in the registry. If DVC
    calls a stage up to date but its gates have no verdict for the current inputs (the verdict
    store was removed, or a run was killed after DVC recorded it) or promote has no decision
    for the candidate, that stage and everything after it run again, once, so the plain
    command recovers without --force.
    """
    from .core.record.registry import init_registry

    layout = Layout(root)
    with _one_run_at_a_time(layout):
        code = check(root, quiet=True)
        if code != PROMOTED:
            return code
        init_registry(layout.registry, layout.production_pointer)
        return _repro_and_report(root, force)


@contextmanager
def _one_run_at_a_time(layout: Layout) -> Iterator[None]:
    """Two runs in one checkout would race DVC's lock and the same outputs: the second waits.

    The lock file is opened without following a symlink, so a planted link cannot make the
    run truncate another file."""
    layout.logs.mkdir(parents=True, exist_ok=True)
    path = layout.logs / ".run.lock"
    handle = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(handle, 64, 0).decode(errors="replace").strip() or "unknown"
            print(f"another `governance run` is working in this checkout (pid {holder}); "
                  "waiting for it to finish", flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        os.ftruncate(handle, 0)
        os.pwrite(handle, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(handle)


def _repro_and_report(root: Path, force: bool) -> int:
    layout = Layout(root)
    log = _open_log(layout)
    print(f"dvc repro of {', '.join(STAGES)} (full log: {layout.relative(log)})", flush=True)
    codes: dict[str, int] = {}
    env = {**os.environ, "GOVERNANCE_STAGE": "1", "PYTHONWARNINGS": "ignore"}
    with stage_server.running(env, log) as server:
        env = server.env if server else env
        returned = _repro(root, ["--force"] if force else [], log, codes, env, server)
        unjudged = _unjudged_stage(root) if returned == 0 else None
        if unjudged:
            stage, why = unjudged
            print(f"  {stage:<9} {why}", flush=True)
            returned = _repro(root, ["--force", "--downstream", stage], log, codes, env,
                              server)
    return _conclude(root, returned, codes, log)


def _conclude(root: Path, returned: int, codes: dict[str, int], log: Path) -> int:
    layout = Layout(root)
    if INPUT_ERROR in codes.values():
        failed = next(name for name, c in codes.items() if c == INPUT_ERROR)
        print(f"\nstage {failed} stopped on a config or data error; see "
              f"{layout.relative(log)} (exit {INPUT_ERROR}).")
        return INPUT_ERROR
    outcome = report(root, stopped_at=_stopped_at(codes))
    if outcome == PROMOTED and returned != 0:
        print(f"\ndvc repro failed (exit {returned}) although no gate refused, so this run "
              f"exits {FAILURE}, not {outcome} as above; see {layout.relative(log)}.")
        return FAILURE
    if outcome == BLOCKED and returned != 0 and BLOCKED not in codes.values() and codes:
        print(f"\ndvc repro failed (exit {returned}), so this run exits {FAILURE}, not "
              f"{BLOCKED} as above; see {layout.relative(log)}.")
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
    from .core.record import registry

    entry = registry.alias_entry(layout.registry, "staging")
    if candidate is None or entry is None:
        return None
    registered = registry.registration(layout.registry, entry["data"]["version"])
    return entry if registered and registered["data"]["model_sha256"] == candidate else None


def _print_aliases(layout: Layout) -> None:
    """Where each alias points, from the ledger entry it rests on: never silently out of step
    with the verdict above it."""
    from .core.record import registry

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
    from .core.record import registry
    from .core.trust import signoff

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
    from .core.decide.verdicts import CURRENT, STALE

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


# --- gates in CI ----------------------------------------------------------------------------

DECISIONS = {PROMOTED: "PROMOTED", BLOCKED: "BLOCKED", INPUT_ERROR: "CONFIG OR DATA ERROR",
             FAILURE: "FAILED"}


def _is_commit(root: Path, ref: str) -> bool:
    found = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                           cwd=root, capture_output=True)
    return found.returncode == 0


def dvc_diffs(root: Path, against: str) -> dict[str, str]:
    """`dvc metrics diff` and `dvc params diff` against a git ref, as Markdown tables."""
    titles = {kind: f"dvc {kind} diff {against}" for kind in ("metrics", "params")}
    if not _is_commit(root, against):
        return {title: f"`{against}` is not a commit here; nothing to compare against"
                for title in titles.values()}
    diffs = {}
    for kind, title in titles.items():
        done = subprocess.run([_dvc_binary(root), kind, "diff", against, "--md"], cwd=root,
                              capture_output=True, text=True)
        if done.returncode != 0:
            diffs[title] = f"dvc {kind} diff failed: {done.stderr.strip()}"
        else:   # a table with only its header row and rule has no differences
            diffs[title] = done.stdout if len(done.stdout.strip().splitlines()) > 2 else ""
    return diffs


def ci(root: Path, against: str, output: Path) -> int:
    """The main job, then junit.xml and summary.md under output; the job's exit code."""
    from .core.decide.ci_report import junit_xml, summary_markdown
    from .core.files import write_bytes_atomic

    layout = Layout(root)
    code = run(root, force=False)
    decision = DECISIONS.get(code, f"exit {code}")
    rows = json.loads(layout.gates.read_text())["gates"] if layout.gates.is_file() else []
    junit, summary = output / "junit.xml", output / "summary.md"
    write_bytes_atomic(junit, junit_xml(rows, decision))
    text = summary_markdown(rows, decision, dvc_diffs(root, against))
    write_bytes_atomic(summary, text.encode())
    if step_summary := os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(step_summary, "a") as sink:
            sink.write(text)
    print(f"CI: {layout.relative(junit)} ({len(rows)} gate test cases), "
          f"{layout.relative(summary)}")
    refused = [row["name"] for row in rows if row["blocks_promotion"]]
    if code != PROMOTED:
        print(f"CI fails (exit {code}): {decision}"
              + (f", refused by {', '.join(refused)}" if refused else ""))
    return code


def _earlier_outputs(root: Path, stopped_at: str | None) -> set[str]:
    """The outs of the stages after the one the run stopped at: DVC leaves them in place, so
    they are an earlier run's, maybe of another dataset."""
    if stopped_at not in STAGES:
        return set()
    import yaml

    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    later = STAGES[STAGES.index(stopped_at) + 1:]
    outs = {str(out) for name in later for out in stages.get(name, {}).get("outs", [])}
    return {relative for _, relative in REPORTS
            if relative in outs or any(relative.startswith(f"{o}/") for o in outs)}


def _recorded_decision(record: dict | None, rows: list[dict], params: Params) -> str:
    """Why the decision record does not back a PROMOTED headline, in a clause."""
    from .core.decide import decisions

    if record is None:
        return "no decision is recorded (reports/decision.json)"
    changed = decisions.changed_since(record, rows, params.policy_hash)
    return (f"the decision in reports/decision.json ({record['decision']}) was made on other "
            f"standings ({', '.join(changed) or 'the gates'})")


def report(root: Path, stopped_at: str | None = None) -> int:
    """Print and write every gate's standing against the current inputs; 0 only if promoted."""
    from .core.decide import decisions
    from .core.decide.verdicts import IntegrityError, candidate_sha256, standings

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
    record = decisions.latest_decision(layout)
    if not (decisions.in_force(record, rows, params.policy_hash)
            and record["decision"] == decisions.PROMOTE):
        print(f"\nNOT PROMOTED: every gate passes, but {_recorded_decision(record, rows, params)};"
              f" run `governance run` to record the decision in force (exit {BLOCKED}).")
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
    ci_parser = commands.add_parser("ci", help="run, then write the gates as JUnit XML and a "
                                               "Markdown summary; exit non-zero if refused")
    ci_parser.add_argument("--against", default="main",
                           help="git ref for `dvc metrics diff` / `dvc params diff` (main)")
    ci_parser.add_argument("--output", type=Path, default=Path("reports/ci"),
                           help="folder for junit.xml and summary.md, under the root")
    ui_parser = commands.add_parser("ui", help="dagster dev on the project's instance; stops "
                                               "every process it started on Ctrl-C or SIGTERM")
    ui_parser.add_argument("--port", type=int, default=3000)
    stage_parser = commands.add_parser("stage", help="one DVC stage (what dvc.yaml calls)")
    stage_parser.add_argument("name", choices=(*STAGES, PRODUCTION_STAGE))
    # --- issue 10: production promotion and the registry commands ---
    promote_parser = commands.add_parser(
        "promote-production", help="sign a promotion request with a promoter's key, then move "
                                   "production to the approved staging version")
    promote_parser.add_argument("--key", type=Path,
                                help="the promoter's OpenSSH private key (or .pub with "
                                     "ssh-agent); without it, an open signed request is used")
    cli_registry.add_commands(commands)
    # --- production monitoring (issue 11): governance_assets/monitor_cli.py ---
    batches_parser = commands.add_parser("batches", help="split the dataset into batch files")
    batches_parser.add_argument("--rows", type=int, default=5000, help="rows per batch")
    batches_parser.add_argument("--period", action="append", help="time value(s) to keep")
    batches_parser.add_argument("--without-labels", action="store_true")
    commands.add_parser("monitor", help="score and monitor every new batch file")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    use_project_instance(root)
    if args.command == "promote-production":
        if args.key is not None:
            code = cli_registry.request_promotion(root, args.key)
            if code != cli_registry.DONE:
                return code
        return promote_production(root)
    if args.command in cli_registry.COMMANDS:
        return cli_registry.run(root, args)
    if args.command in ("batches", "monitor"):
        from . import monitor_cli

        if args.command == "batches":
            return monitor_cli.make_batches(root, args.rows, args.period,
                                            not args.without_labels)
        return monitor_cli.monitor(root)
    try:
        return _governed_command(root, args)
    except LedgerError as error:
        print(error_paragraph(str(error)))
        return INPUT_ERROR


def _governed_command(root: Path, args: argparse.Namespace) -> int:
    """run, check, ui, ci, stage and the report: every reader of the ledger verifies it, and
    a ledger that fails is one paragraph here, not a traceback."""
    if args.command == "run":
        return run(root, args.force)
    if args.command == "check":
        return check(root)
    if args.command == "ui":
        from .ui_server import serve

        return serve(root, args.port)
    if args.command == "ci":
        return ci(root, args.against, root / args.output)
    if args.command == "stage":
        return stage(root, args.name)
    try:
        return report(root)
    except ParamsError as error:
        print(error_paragraph(str(error)))
        return INPUT_ERROR


if __name__ == "__main__":
    sys.exit(main())
