"""What every `governance` command prints and exits with, named once (the codes and the text
`governance --help` and the CLI reference give for them)."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

from ..core.layout import Layout
from ..core.params import ParamsError
from ..core.record.ledger import LedgerError
from ..core.report.printable import printable

DONE, REFUSED, INPUT_ERROR, FAILURE, LEDGER_WRITE_FAILED = 0, 1, 2, 3, 4
EXIT_CODES = """Exit codes, the same for every command: 0 done (`run`: promoted), 1 refused (a
gate, a sign-off rule or an ERROR drift level; named), 2 config or data error (one paragraph;
`run` stops before DVC touches any output), 3 any other failure (the full log says where), 4 the
ledger write failed (registry locked or disk refused; nothing recorded)."""
# A stage's own progress line carries this prefix, so a reader of DVC's log finds it.
MARK = "[governance] "

Handler = TypeVar("Handler", bound=Callable[..., int])


def say(line: str) -> None:
    """Print one line of a human view: text typed by people or read from data shows its
    control characters as escapes, so no newline or ANSI escape in it can draw a line that
    looks like another (ledger entry, gate or stage line)."""
    print(printable(line))


def error_paragraph(message: str, code: int = INPUT_ERROR) -> str:
    """One readable paragraph: what broke, where, and that nothing was overwritten."""
    text = printable(" ".join(message.split()))
    return (f"error: {text}\nNothing downstream was run or overwritten; fix the input and run "
            f"again (exit {code}).")


def ledger_errors_as_input_errors(handler: Handler) -> Handler:
    """Every reader of the ledger verifies it: a ledger that fails (or params.yaml that does
    not load) is one paragraph and exit 2, not a traceback."""
    @functools.wraps(handler)
    def guarded(*args, **kwargs) -> int:
        try:
            return handler(*args, **kwargs)
        except (LedgerError, ParamsError) as error:
            print(error_paragraph(str(error)))
            return INPUT_ERROR

    return guarded  # type: ignore[return-value]


def open_log(layout: Layout, command: str, latest: str) -> Path:
    """A new full log `logs/<command>-<UTC time>.log` for one command's run, with `latest`
    pointing at it: the console shows one line per step, the log everything."""
    layout.logs.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = layout.logs / f"{command}-{stamp}.log"
    path.touch()   # the path printed exists even when nothing was run
    link = layout.logs / latest
    link.unlink(missing_ok=True)
    link.symlink_to(path.name)
    return path


@contextmanager
def output_to(log: Path) -> Iterator[None]:
    """Everything the block writes to stdout and stderr, Dagster's DEBUG events and library
    warnings included, appended to the log instead of the console: the in-process form of what
    `governance run` does with DVC's output (its stages run in DVC's subprocesses). Both the
    file descriptors (native code, loggers bound to them) and Python's sys.stdout / sys.stderr
    (a caller that replaced them) are redirected."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with log.open("a", buffering=1) as sink, redirect_stdout(sink), redirect_stderr(sink):
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            yield
    finally:
        for target, saved_fd in enumerate(saved, start=1):
            os.dup2(saved_fd, target)
            os.close(saved_fd)
