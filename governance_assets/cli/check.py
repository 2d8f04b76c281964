"""`governance check`: params.yaml and the active dataset against every rule, running nothing."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.layout import Layout
from ..core.params import Params, ParamsError, load_params
from .output import DONE, INPUT_ERROR, error_paragraph, ledger_errors_as_input_errors

if TYPE_CHECKING:
    import pandas as pd


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "check", help="validate params.yaml and the dataset; run nothing",
        description="Load params.yaml and validate the active dataset with the same rules the "
                    "prepare stage applies. Exit 0 when both pass; exit 2 with one paragraph "
                    "naming the file, column, value and line (or the params key) otherwise.")
    parser.set_defaults(handler=_check_command)


@ledger_errors_as_input_errors
def _check_command(root: Path, _args: argparse.Namespace) -> int:
    return check(root)


def _validated_already(root: Path, params: Params) -> bool:
    """The last validation passed on these very bytes, under these rules and this code."""
    from ..core.decide.verdicts import validation_binding
    from ..core.files import read_json

    path = Layout(root).report("validation.json")
    if not path.is_file():
        return False
    last = read_json(path)
    return (last.get("valid") is True
            and last.get("binding") == validation_binding(params, Layout(root)))


def _validate(root: Path, params: Params) -> tuple[list[str], pd.DataFrame | None, dict | None]:
    """The validation rules the raw file breaks (the same validate() the prepare stage runs),
    and when it breaks none, the typed rows and the record prepare would write."""
    from ..core.data import raw_files, validation
    from ..core.decide.verdicts import validation_binding

    spec = params.active
    try:
        raw = raw_files.read_dataset(root, params.dataset, spec)
    except (UnicodeDecodeError, ValueError) as error:
        return [f"{spec.path}: cannot be read as a table: {error}"], None, None
    frame, report = validation.validate(raw, spec, params.policy, spec.path)
    if not report.valid:
        return ([f.message for f in report.findings if not f.passed and f.gate != "outliers"],
                None, None)
    return [], frame, report.to_record(validation_binding(params, Layout(root)))


def check(root: Path) -> int:
    """params.yaml and the active dataset against every rule, without running the graph."""
    try:
        params = load_params(root)
    except ParamsError as error:
        print(error_paragraph(str(error)))
        return INPUT_ERROR
    code = validate_and_report(root, params)
    if code == DONE:
        print(f"params.yaml and {params.active.path} pass every rule (dataset {params.dataset}).")
    return code


def check_before_run(root: Path, in_server: Callable[[Path], int | None] | None) -> int:
    """The check `governance run` makes before DVC. A file that already passed under the same
    rules and code is not read again. Otherwise the stage server's child validates it and keeps
    the rows for the run's prepare stage (`in_server`, StageServer.check; core/data/handover.py);
    without a server, a forked process validates it, so the rows it read do not stay in the
    run's memory while DVC and the stages work."""
    from ..core.forking import run_forked

    try:
        params = load_params(root)
    except ParamsError as error:
        print(error_paragraph(str(error)))
        return INPUT_ERROR
    if _validated_already(root, params):
        return DONE
    if in_server is not None:
        code = in_server(root)
        if code is not None:
            return code
    return run_forked(partial(validate_and_report, root, params))


def validate_and_hold(root: Path) -> int:
    """The stage server's check child (stage_server.py): validate, and keep rows that pass in
    this process, which becomes the run's prepare stage."""
    try:
        params = load_params(root)
    except ParamsError as error:
        print(error_paragraph(str(error)))
        return INPUT_ERROR
    return validate_and_report(root, params, hold=True)


def validate_and_report(root: Path, params: Params, hold: bool = False) -> int:
    """Validate the active dataset; print the rules it breaks. With `hold`, rows that pass
    stay in this process for its prepare stage (the stage server's check child)."""
    problems, frame, record = _validate(root, params)
    if problems:
        print(error_paragraph("; ".join(problems[:5])
                              + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")))
        return INPUT_ERROR
    if hold and frame is not None:
        from ..core.data import handover

        handover.hold(frame, record)
    return DONE
