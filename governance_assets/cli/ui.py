"""`governance ui`: `dagster dev` on the project's instance, every process it started stopped
on Ctrl-C or SIGTERM (ui_server.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .output import ledger_errors_as_input_errors


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "ui", help="dagster dev on the project's instance; stops every process it started on "
                   "Ctrl-C or SIGTERM",
        description="Serve the Dagster UI (lineage, gates, runs of every DVC stage) on the "
                    "project's instance; no process it started is left behind when it stops.")
    parser.add_argument("--port", type=int, default=3000, help="port of the UI (default 3000)")
    parser.set_defaults(handler=_ui_command)


@ledger_errors_as_input_errors
def _ui_command(root: Path, args: argparse.Namespace) -> int:
    from ..ui_server import serve

    return serve(root, args.port)
