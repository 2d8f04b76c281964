"""Matplotlib without a display, and PNGs that are byte-identical for the same figure (DVC
tracks them as outputs)."""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

DPI = 100


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    pyplot().close(figure)
    return path


class PlotFailed(RuntimeError):
    """A figure drawn in the second process failed; carries that process's traceback."""


def draw_all(jobs: Sequence[Callable[[], object]]) -> None:
    """Run figure-drawing jobs, every other one in a forked process when the machine has a
    second core. Drawing is single-threaded Python (nine SHAP waterfalls: 2.3 s on one core),
    and each job writes its own file, so the files are the same bytes either way."""
    if len(jobs) < 2 or (os.cpu_count() or 1) < 2 or not hasattr(os, "fork"):
        for job in jobs:
            job()
        return
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(reading)
        _draw_and_exit(jobs[1::2], writing)
    os.close(writing)
    try:
        for job in jobs[0::2]:
            job()
    finally:
        with os.fdopen(reading, "rb") as report:
            failure = report.read().decode(errors="replace")
        status = os.waitpid(child, 0)[1]
    if failure or os.waitstatus_to_exitcode(status) != 0:
        raise PlotFailed(f"drawing figures in a second process failed:\n{failure}")


def _draw_and_exit(jobs: Sequence[Callable[[], object]], writing: int) -> None:
    """In the forked process: draw, report a failure's traceback on the pipe, and leave
    without running the parent's exit handlers or flushing its buffers."""
    code = 0
    try:
        for job in jobs:
            job()
    except BaseException:  # noqa: BLE001 (handed to the parent, which raises it)
        os.write(writing, traceback.format_exc().encode())
        code = 1
    finally:
        os._exit(code)
