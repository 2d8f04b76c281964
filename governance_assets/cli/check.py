"""`governance check`: params.yaml and the active dataset against every rule, running nothing."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.layout import Layout
from ..core.params import Params, ParamsError, load_params
from .output import DONE, INPUT_ERROR, error_paragraph, ledger_errors_as_input_errors


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
    from ..core.decide.verdicts import validation_inputs_hash
    from ..core.files import md5_of_file, read_json

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
    from ..core.data import raw_files, validation

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
        return DONE
    problems = _data_problems(root, params)
    if problems:
        print(error_paragraph("; ".join(problems[:5])
                              + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")))
        return INPUT_ERROR
    if not quiet:
        print(f"params.yaml and {params.active.path} pass every rule (dataset {params.dataset}).")
    return DONE
