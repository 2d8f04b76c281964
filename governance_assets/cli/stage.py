"""`governance stage NAME`: one DVC stage, the slice of the asset graph dvc.yaml calls it for.

The stage materializes its slice on the project's instance (the stage's own job, so the UI's
runs list names it), prints one line, and writes what it judged and how it ended as a structured
result (stage_result.py) that `governance run` reads. Inside `governance run`, DVC's and
Dagster's whole output goes to the run's log and the run prints the gate table. Run by a plain
`dvc repro` (or by hand), the stage keeps the console as quiet itself: Dagster's log goes to
logs/stage-NAME-STAMP.log, and the stage DVC ends at (promote, or one a gate refused) prints the
gate table and decision as `governance run` does, with a hint that `governance run` is the main
command.
The warm stage server (stage_server.py) runs `command` in its forked children, with its own
parser: the stage does not go through the CLI's entry point.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.decide.gate_catalog import PRODUCTION_STAGE, STAGES
from ..core.layout import Layout
from ..core.params import Params, ParamsError, load_params
from . import stage_result
from .output import (
    DONE,
    FAILURE,
    INPUT_ERROR,
    MARK,
    REFUSED,
    error_paragraph,
    ledger_errors_as_input_errors,
    open_log,
    output_to,
)
from .project import add_root_argument, project_root

if TYPE_CHECKING:
    from dagster import JobDefinition

INPUT_ERRORS = ("ParamsError", "DataError", "IntegrityError", "UnsafeModelError")
# A ledger that fails verification on read, or a disk that refused an entry: the run stops
# and says which entry or file, as for bad input (nothing downstream acted on it).
LEDGER_ERRORS = ("LedgerTampered", "LedgerWriteFailed", "LedgerError")
# Set by `governance run` for the stages of its `dvc repro`: it logs their whole output itself.
UNDER_RUN_ENV = "GOVERNANCE_STAGE"
MAIN_COMMAND_HINT = ("`governance run` (make run) is the main command: it checks params.yaml and "
                     "the data before DVC touches an output, then runs this `dvc repro` with one "
                     "line per stage and the gate table.")


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "stage", help="one DVC stage (what dvc.yaml calls)",
        description="Materialize one stage's slice of the asset graph on the project's Dagster "
                    "instance (the stage's own job) and write its result to "
                    "reports/runtime/stages/NAME.json. Outside `governance run` (a plain `dvc "
                    "repro`), Dagster's log goes to logs/stage-NAME-STAMP.log and the stage DVC "
                    "ends at prints the gate table and decision. Exit 0 done, 1 a blocking gate "
                    "refused, 2 config or data error, 3 other failure.")
    parser.add_argument("name", choices=(*STAGES, PRODUCTION_STAGE), help="the stage to run")
    parser.set_defaults(handler=_stage_command)


@ledger_errors_as_input_errors
def _stage_command(root: Path, args: argparse.Namespace) -> int:
    return stage(root, args.name)


def command(argv: list[str]) -> int:
    """`governance [--root DIR] stage NAME` as the stage server's child runs it."""
    parser = argparse.ArgumentParser(prog="governance")
    add_root_argument(parser)
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(project_root(args), args)


def _failure_outcome(result) -> tuple[int, str]:
    """Exit code and one line for a Dagster run of a stage that did not succeed; an error of
    no known kind is named by its first step failure's message, since the console may not show
    Dagster's log (a plain `dvc repro` sends it to the stage's log file)."""
    first_error = None
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            cause = error.cause or error
            name = cause.cls_name or ""
            message = _without_class(cause.message, name)
            first_error = first_error or message
            if name in INPUT_ERRORS or name in LEDGER_ERRORS:
                return INPUT_ERROR, message
            if name == "DagsterAssetCheckFailedError":
                break
            if name == "Failure" or "refused" in message or "blocking" in message.lower():
                return REFUSED, message
    failed = [e for e in result.get_asset_check_evaluations()
              if not e.passed and e.severity.value == "ERROR"]
    if failed:
        return REFUSED, "; ".join(_check_line(e) for e in failed)
    return FAILURE, (f"{first_error}; see the log" if first_error
                     else "the run failed; see the log")


def _check_line(evaluation) -> str:
    """A failed gate on the console: its verdict's own words (the description is Markdown for
    the UI, with escapes and paragraphs a terminal would show as written)."""
    verdict = evaluation.metadata.get("verdict")
    if verdict is None:
        return f"{evaluation.check_name}: {evaluation.description}"
    return (f"{evaluation.check_name}: {verdict.data['outcome'].upper()} - "
            f"{verdict.data['message']}")


def _without_class(message: str | None, name: str) -> str:
    """The error's own first line: Dagster prefixes it with the exception's dotted class
    (`governance_assets.core.record.ledger.entry.LedgerTampered: ...`), which says nothing a
    reader can act on."""
    first = (message or "").strip().splitlines()[0] if message else name
    prefix, _, rest = first.partition(": ")
    return rest if rest and prefix.rpartition(".")[2] == name else first


def _gates_judged(result) -> list[dict]:
    """Each check this stage evaluated: its name, asset, outcome (pass, fail, insufficient
    evidence...), whether it passed and its severity (ERROR: it stopped the run)."""
    return [{"gate": e.check_name, "asset": e.asset_key.to_user_string(),
             "outcome": getattr(e.metadata.get("outcome"), "value", None), "passed": e.passed,
             "severity": e.severity.value} for e in result.get_asset_check_evaluations()]


def run_tags(params: Params, stage_name: str) -> dict[str, str]:
    """What the UI's run list filters on: stage, what started it, dataset, policy."""
    from ..core.decide.decisions import trigger_from_tags

    return {"governance/stage": stage_name, "governance/trigger": trigger_from_tags({}),
            "governance/dataset": params.dataset,
            "governance/policy_hash": params.policy_hash[:12]}


def stage(root: Path, name: str) -> int:
    """Materialize one group of the graph on the project's instance (what dvc.yaml calls)."""
    layout = Layout(root)
    begun = stage_result.started(name)
    stage_result.write(layout, begun)
    try:
        params = load_params(root)
    except ParamsError as error:
        print(MARK + error_paragraph(str(error)), flush=True)
        stage_result.write(layout, stage_result.finish(begun, INPUT_ERROR, str(error)))
        return INPUT_ERROR
    if os.environ.get(UNDER_RUN_ENV):
        finished = _materialize(root, name, params, begun)
        stage_result.write(layout, finished)
        print(MARK + finished.line(), flush=True)
        return finished.exit_code
    log = open_log(layout, f"stage-{name}", "latest.log")
    with output_to(log):
        finished = _materialize(root, name, params, begun)
    stage_result.write(layout, finished)
    print(f"{MARK}{finished.line()} (log: {layout.relative(log)})", flush=True)
    _conclude_without_run(root, name, finished.exit_code)
    return finished.exit_code


def _conclude_without_run(root: Path, name: str, code: int) -> None:
    """No `governance run` concludes a plain `dvc repro`: the stage it ends at (promote, or a
    stage a gate refused, where DVC stops) prints the gate table and decision as the run does;
    that stage, or any that failed, names the main command."""
    last = name == "promote" or code == REFUSED
    if last and name in STAGES:
        from .report import report

        report(root, stopped_at=None if name == "promote" else name)
    if last or code != DONE:
        print(f"\n{MAIN_COMMAND_HINT}", flush=True)


def stage_job(root: Path, name: str) -> JobDefinition:
    """The stage's named job (definitions.STAGE_JOBS), resolved on the graph with the project
    at root, so its run carries the stage's name in the UI and runs in this process."""
    from dagster import Definitions

    from ..assets import GRAPH_ASSETS, PROMOTION_CHECKS
    from ..checks import GATE_CHECKS
    from ..definitions import STAGE_JOBS
    from ..resources import GovernanceProject

    return Definitions(assets=GRAPH_ASSETS, asset_checks=[*GATE_CHECKS, *PROMOTION_CHECKS],
                       jobs=[STAGE_JOBS[name]],
                       resources={"project": GovernanceProject(root=str(root))},
                       ).resolve_job_def(name)


def _materialize(root: Path, name: str, params: Params,
                 begun: stage_result.StageResult) -> stage_result.StageResult:
    from dagster import DagsterInstance

    from .. import lineage
    from ..core.record.registry import init_registry

    init_registry(Layout(root).registry, Layout(root).production_pointer)
    clock = time.perf_counter()
    with DagsterInstance.get() as instance:
        result = stage_job(root, name).execute_in_process(
            instance=instance, tags=run_tags(params, name), raise_on_error=False)
        seconds = round(time.perf_counter() - clock, 1)
        if lineage.configured():
            lineage.emit_run(instance, result.run_id, root)
    code, message = (DONE, "") if result.success else _failure_outcome(result)
    return stage_result.finish(
        begun, code, message, assets=len(result.get_asset_materialization_events()),
        seconds=seconds, dagster_run_id=result.run_id,
        gates=_gates_judged(result))
