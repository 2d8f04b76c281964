"""The input check's validated rows, kept in the memory of the process that becomes the same
run's prepare stage.

A cold run validated the raw file twice: in the check that stops bad input before DVC removes
any output, then in the prepare stage, which writes the typed rows (11 s each on the full
census). Inside `governance run` the stage server (stage_server.py) runs the check in a child
it forks; when every rule passes, that child holds the rows and the record here and becomes
the run's prepare stage when DVC asks for it. The rows reach prepare through no file and no
environment variable, which anyone with a shell could write: only code running in that
process can hand them over. Prepare takes them only under the binding it computes itself (the
raw file's md5, the rules, the code); otherwise, as under a plain `dvc repro` or Dagster, it
validates the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Held:
    """The check's typed rows and the validation record it wrote them under."""

    frame: pd.DataFrame
    record: dict


# Module state on purpose: the held rows must not outlive this process, nor leave it.
_held: list[Held] = []


def hold(frame: pd.DataFrame, record: dict) -> None:
    """Keep rows that passed every rule for this process's prepare stage."""
    _held[:] = [Held(frame, record)]


def holding() -> bool:
    return bool(_held)


def take(binding: dict) -> Held | None:
    """The held rows if they were validated, and passed, under `binding`; None otherwise (the
    stage then validates the file itself). Taken or refused, they are released: once."""
    held = _held.pop() if _held else None
    if held is None or held.record.get("binding") != binding:
        return None
    return held if held.record.get("valid") is True else None
