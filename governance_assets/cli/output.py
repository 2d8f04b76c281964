"""What every `governance` command prints and exits with, named once (the codes and the text
`governance --help` and the CLI reference give for them)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

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
