"""`governance log QUESTION`: the decision log's audit questions, answered by SQL over its parts.

The questions and their SQL are core/monitor/log_queries.py; DuckDB scans the Parquet parts
where they are (the registry's folder or bucket), out of core, and only the answer is printed.
`--sql` prints the question's SQL instead, the text a distributed engine runs over the same
Parquet once the view `decision_log` is defined there. Exit codes: 0 answered, 2 params
refused, an unknown attribute, a missing parameter or no log yet.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.layout import Layout
from ..core.monitor import log_queries
from ..core.params import ParamsError, load_params
from .output import DONE, INPUT_ERROR, say

FORMATS = ("table", "csv", "json")


def add_parser(commands: argparse._SubParsersAction) -> None:
    listed = "; ".join(f"{name}: {q.about}" for name, q in log_queries.QUESTIONS.items())
    parser = commands.add_parser(
        "log", help="audit questions over the decision log (SQL over its Parquet parts)",
        description=f"Answer an audit question over every logged decision (EU AI Act Art. 12), "
                    f"with SQL over the log's Parquet parts (DuckDB, out of core; local or "
                    f"object storage). Questions: {listed}. Exit 0 answered, 2 refused (params, "
                    "an unknown attribute, a missing parameter, no log).")
    parser.add_argument("question", choices=sorted(log_queries.QUESTIONS))
    parser.add_argument("--version", help="registry version (by-group-month)")
    parser.add_argument("--attribute", help="sensitive attribute (by-group-month)")
    parser.add_argument("--input", help="sha256 of the inputs as logged (subject)")
    parser.add_argument("--format", choices=FORMATS, default="table")
    parser.add_argument("--sql", action="store_true",
                        help="print the question's SQL (over the view decision_log) and stop")
    parser.set_defaults(handler=_log_command)


def _log_command(root: Path, args: argparse.Namespace) -> int:
    return answer(root, args.question, args.version, args.attribute, args.input, args.format,
                  args.sql)


def answer(root: Path, question: str, version: str | None, attribute: str | None,
           input_sha256: str | None, output_format: str, sql_only: bool) -> int:
    """Print the question's answer (or its SQL)."""
    if sql_only:
        say(log_queries.question_sql(question, attribute or "<attribute>"))
        return DONE
    try:
        params = load_params(root)
        frame = log_queries.ask(Layout(root).registry, question, version=version,
                                attribute=attribute, input_sha256=input_sha256,
                                sensitive=tuple(params.active.sensitive_features))
    except (ParamsError, log_queries.LogQueryError) as error:
        say(f"error: {error}")
        return INPUT_ERROR
    # csv and json quote and escape what they carry themselves, so they print as they are
    if output_format == "csv":
        print(frame.to_csv(index=False), end="")
    elif output_format == "json":
        print(frame.to_json(orient="records", date_format="iso", indent=2))
    else:
        say(f"{question}: {log_queries.QUESTIONS[question].about}")
        say(frame.to_string(index=False) if len(frame) else "(no rows)")
        say(f"{len(frame)} row(s)")
    return DONE
