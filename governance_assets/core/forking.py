"""Work run in a forked copy of this process, its result or traceback sent back on a pipe as
JSON (never pickle: no code of the project can unpickle, tests/test_model_files.py).

Used where a second process pays: figures drawn on the other core while this one draws its
share (report/plots.draw_all), and the input check of `governance run`, whose few hundred MB
of typed rows at 300,000 rows then go back to the machine instead of staying in the run's
process while DVC and every stage run.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any


class ChildFailed(RuntimeError):
    """The forked process raised; carries its traceback."""


class Forked:
    """`function()` running in a forked process from construction; `result()` waits for it."""

    def __init__(self, function: Callable[[], Any]) -> None:
        self._reading, writing = os.pipe()
        sys.stdout.flush()   # or what this process had buffered would be written twice
        sys.stderr.flush()
        self._pid = os.fork()
        if self._pid == 0:
            os.close(self._reading)
            _run_and_exit(function, writing)
        os.close(writing)

    def result(self) -> Any:
        """The function's return value as JSON gives it back (a tuple comes back a list);
        ChildFailed with its traceback if it raised or died."""
        with os.fdopen(self._reading, "rb") as pipe:
            sent = pipe.read()
        code = os.waitstatus_to_exitcode(os.waitpid(self._pid, 0)[1])
        if not sent:
            raise ChildFailed(f"the forked process ended with exit code {code}, sending nothing")
        message = json.loads(sent)
        if "failure" in message:
            raise ChildFailed(f"the forked process failed:\n{message['failure']}")
        return message["value"]


def run_forked(function: Callable[[], Any]) -> Any:
    """`function()` in a forked process; its return value here (it must be JSON)."""
    return Forked(function).result()


def _run_and_exit(function: Callable[[], Any], writing: int) -> None:
    """In the forked process: run, send {"value": result} or {"failure": traceback}, and leave
    without the parent's exit handlers or buffered output."""
    code = 0
    try:
        sent = json.dumps({"value": function()}).encode()
    except BaseException:  # noqa: BLE001 (sent to the parent, which raises it)
        sent, code = json.dumps({"failure": traceback.format_exc()}).encode(), 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        with os.fdopen(writing, "wb") as pipe:
            pipe.write(sent)
    finally:
        os._exit(code)
