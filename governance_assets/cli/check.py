"""`governance check`: params.yaml and the active dataset against every rule, running nothing."""

from __future__ import annotations

import argparse
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


def check(root: Path, quiet: bool = False) -> int:
    """params.yaml and the active dataset against every rule, without running the graph."""
    return _check(root, quiet)[0]


def check_before_run(root: Path) -> tuple[int, dict[str, str]]:
    """The check `governance run` makes before DVC: a file that already passed under the same
    rules and code is not read again; a file validated now is handed to the run's prepare stage
    (core/data/handover.py), with the environment that names it. It runs in a forked process,
    so the rows it read do not stay in the run's memory while DVC and the stages work."""
    from ..core.forking import run_forked

    code, handed_over = run_forked(partial(_check, root, quiet=True, hand_over=True))
    return code, handed_over


def _check(root: Path, quiet: bool, hand_over: bool = False) -> tuple[int, dict[str, str]]:
    try:
        params = load_params(root)
    except ParamsError as error:
        print(error_paragraph(str(error)))
        return INPUT_ERROR, {}
    if quiet and _validated_already(root, params):
        return DONE, {}
    problems, frame, record = _validate(root, params)
    if problems:
        print(error_paragraph("; ".join(problems[:5])
                              + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")))
        return INPUT_ERROR, {}
    if not quiet:
        print(f"params.yaml and {params.active.path} pass every rule (dataset {params.dataset}).")
    if hand_over and frame is not None:
        from ..core.data import handover

        return DONE, handover.hand_over(Layout(root), frame, record)
    return DONE, {}
