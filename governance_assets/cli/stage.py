"""`governance stage NAME`: one DVC stage, the slice of the asset graph dvc.yaml calls it for.

The stage materializes its slice on the project's instance, prints one line, and writes what it
judged and how it ended as a structured result (stage_result.py) that `governance run` reads.
The warm stage server (stage_server.py) runs `command` in its forked children; this module
imports nothing of the rest of the CLI, so the server does not depend on the CLI's entry point.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

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
)
from .project import add_root_argument, project_root

INPUT_ERRORS = ("ParamsError", "DataError", "IntegrityError", "UnsafeModelError")
# A ledger that fails verification on read, or a disk that refused an entry: the run stops
# and says which entry or file, as for bad input (nothing downstream acted on it).
LEDGER_ERRORS = ("LedgerTampered", "LedgerWriteFailed", "LedgerError")


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "stage", help="one DVC stage (what dvc.yaml calls)",
        description="Materialize one stage's slice of the asset graph on the project's Dagster "
                    "instance and write its result to reports/runtime/stages/NAME.json. Exit 0 "
                    "done, 1 a blocking gate refused, 2 config or data error, 3 other failure.")
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
    """Exit code and one line for a Dagster run of a stage that did not succeed."""
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            cause = error.cause or error
            name = cause.cls_name or ""
            message = _without_class(cause.message, name)
            if name in INPUT_ERRORS or name in LEDGER_ERRORS:
                return INPUT_ERROR, message
            if name == "DagsterAssetCheckFailedError":
                break
            if name == "Failure" or "refused" in message or "blocking" in message.lower():
                return REFUSED, message
    failed = [e for e in result.get_asset_check_evaluations()
              if not e.passed and e.severity.value == "ERROR"]
    if failed:
        return REFUSED, "; ".join(f"{e.check_name}: {e.description}" for e in failed)
    return FAILURE, "the run failed; see the log"


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
    finished = _materialize(root, name, params, begun)
    stage_result.write(layout, finished)
    print(MARK + finished.line(), flush=True)
    return finished.exit_code


def _materialize(root: Path, name: str, params: Params,
                 begun: stage_result.StageResult) -> stage_result.StageResult:
    from dagster import DagsterInstance, materialize

    from ..assets import GRAPH_ASSETS, PROMOTION_CHECKS
    from ..checks import GATE_CHECKS, stage_selection
    from ..core.record.registry import init_registry
    from ..resources import GovernanceProject

    init_registry(Layout(root).registry, Layout(root).production_pointer)
    clock = time.perf_counter()
    with DagsterInstance.get() as instance:
        result = materialize([*GRAPH_ASSETS, *GATE_CHECKS, *PROMOTION_CHECKS],
                             selection=stage_selection(name), instance=instance,
                             resources={"project": GovernanceProject(root=str(root))},
                             tags=run_tags(params, name), raise_on_error=False)
    code, message = (DONE, "") if result.success else _failure_outcome(result)
    return stage_result.finish(
        begun, code, message, assets=len(result.get_asset_materialization_events()),
        seconds=round(time.perf_counter() - clock, 1), dagster_run_id=result.run_id,
        gates=_gates_judged(result))
