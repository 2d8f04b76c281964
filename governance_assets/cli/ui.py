"""`governance ui`: `dg dev` on the project's instance, every process it started stopped
on Ctrl-C or SIGTERM (ui_server.py); a port already in use is refused before anything starts."""

from __future__ import annotations

import argparse
from pathlib import Path

from .output import INPUT_ERROR, ledger_errors_as_input_errors


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "ui", help="dg dev on the project's instance; stops every process it started on "
                   "Ctrl-C or SIGTERM",
        description="Serve the Dagster UI (lineage, gates, runs of every DVC stage) on the "
                    "project's instance; no process it started is left behind when it stops. "
                    "Exit 2 if the port is already in use.")
    parser.add_argument("--port", type=int, default=3000, help="port of the UI (default 3000)")
    parser.set_defaults(handler=_ui_command)


@ledger_errors_as_input_errors
def _ui_command(root: Path, args: argparse.Namespace) -> int:
    from ..ui_server import HOST, port_in_use, serve

    if port_in_use(args.port):
        print(f"error: port {args.port} is already in use on {HOST} (another UI or program "
              f"listens there); choose another: `make ui UI_PORT={args.port + 1}` or "
              f"`governance ui --port {args.port + 1}` (exit {INPUT_ERROR}).", flush=True)
        return INPUT_ERROR
    return serve(root, args.port)
