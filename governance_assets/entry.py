"""The `governance` command. Inside `governance run`, `governance stage NAME` (what DVC calls)
is handed to the warm stage server (stage_server.py), so a stage does not pay for its own
interpreter and imports; every other command, and a stage without a server, runs here.
`governance run` starts that server first, so it imports while the command does.

A reader that stops reading (`governance show staging | head`) closes the pipe under the
command: every command then ends quietly with the shell's code for a command ended by SIGPIPE,
instead of a BrokenPipeError traceback."""

from __future__ import annotations

import os
import select
import signal
import sys

CLOSED_PIPE_EXIT = 128 + signal.SIGPIPE


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
    try:
        try:
            return _dispatch(sys.argv[1:])
        finally:   # flushed here, where a closed pipe can be told apart, not at exit
            sys.stdout.flush()
    except BrokenPipeError:
        if not _stdout_reader_gone():
            raise
        return _end_quietly()


def _dispatch(argv: list[str]) -> int:
    address = os.environ.get("GOVERNANCE_STAGE_SERVER")
    if address and address != "0" and _command(argv) == "stage":
        from .stage_client import delegate

        code = delegate(address, argv)
        if code is not None:
            return code
    if _command(argv) == "run":
        from .stage_server import start_with_the_command

        start_with_the_command()
    from .cli import main as run_command

    return run_command(argv)


def _stdout_reader_gone() -> bool:
    """Whether stdout is a pipe nobody reads any more (poll reports POLLERR on its write end),
    as opposed to a broken socket or child pipe, which stays an error."""
    poller = select.poll()
    poller.register(sys.stdout.fileno(), 0)
    return any(events & select.POLLERR for _, events in poller.poll(0))


def _end_quietly() -> int:
    """Nobody reads what is left: stdout goes to /dev/null, so the interpreter's last flush of
    the unwritten rest does not raise again at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return CLOSED_PIPE_EXIT
