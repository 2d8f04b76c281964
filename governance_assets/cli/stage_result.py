"""The structured result a stage writes and `governance run` reads: how the run learns each
stage's outcome without reading DVC's console text.

A stage writes its result twice, atomically, to reports/runtime/stages/NAME.json (not a DVC
out): once when it starts (outcome "running") and once when it ends. `governance run` hands
each `dvc repro` a fresh token in GOVERNANCE_RUN_TOKEN; a stage copies it into its result, and
the run takes only results that carry its own token, so a result left by an earlier run, a
plain `dvc repro` or a `governance stage` typed by hand is never read as this run's.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from ..core.files import write_json_atomic
from ..core.layout import Layout
from .output import DONE, FAILURE, INPUT_ERROR, REFUSED

TOKEN_ENV = "GOVERNANCE_RUN_TOKEN"
RUNNING = "running"
OUTCOMES = {DONE: "done", REFUSED: "refused", INPUT_ERROR: "input_error", FAILURE: "failed"}


@dataclass(frozen=True)
class StageResult:
    stage: str
    token: str | None
    started: str
    outcome: str = RUNNING
    exit_code: int | None = None
    message: str = ""
    assets: int = 0
    seconds: float | None = None
    finished: str | None = None
    dagster_run_id: str | None = None
    gates: list[dict] = field(default_factory=list)

    @property
    def is_finished(self) -> bool:
        return self.exit_code is not None

    def line(self) -> str:
        """The stage's one progress line, the same whether the stage or the run prints it."""
        took = "" if self.seconds is None else f" in {self.seconds:.1f} s"
        return (f"stage {self.stage}: {self.assets} asset(s){took}, exit {self.exit_code}"
                + (f": {self.message}" if self.message else ""))


def new_token() -> str:
    return uuid.uuid4().hex


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def started(stage: str) -> StageResult:
    """A stage's result as it begins, bound to the token of the run that called it (if any)."""
    return StageResult(stage=stage, token=os.environ.get(TOKEN_ENV), started=now())


def finish(begun: StageResult, code: int, message: str, **details) -> StageResult:
    return StageResult(**{**asdict(begun), **details, "exit_code": code, "message": message,
                          "outcome": OUTCOMES.get(code, "failed"), "finished": now()})


def write(layout: Layout, result: StageResult) -> None:
    write_json_atomic(layout.stage_result(result.stage), asdict(result))


def read(layout: Layout, stage: str, token: str) -> StageResult | None:
    """This run's result of `stage`, or None: none written, half a name, or another run's."""
    path = layout.stage_result(stage)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("token") != token:
        return None
    try:
        return StageResult(**data)
    except TypeError:   # written by another version of this code
        return None
