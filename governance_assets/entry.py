"""The `governance` command. Inside `governance run`, `governance stage NAME` (what DVC calls)
is handed to the warm stage server (stage_server.py), so a stage does not pay for its own
interpreter and imports; every other command, and a stage without a server, runs here."""

from __future__ import annotations

import os
import sys


def _command(argv: list[str]) -> str | None:
    """The subcommand, skipping the global `--root DIR` option."""
    words = iter(argv)
    for word in words:
        if word == "--root":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def main() -> int:
    argv = sys.argv[1:]
    address = os.environ.get("GOVERNANCE_STAGE_SERVER")
    if address and address != "0" and _command(argv) == "stage":
        from .stage_server import delegate

        code = delegate(address, argv)
        if code is not None:
            return code
    from .cli import main as run_command

    return run_command(argv)
