"""Matplotlib without a display, and PNGs that are byte-identical for the same figure (DVC
tracks them as outputs)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from .. import forking

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


def draw_all(jobs: Sequence[Callable[[], object]]) -> None:
    """Run figure-drawing jobs, every other one in a forked process when the machine has a
    second core. Drawing is single-threaded Python (nine SHAP waterfalls: 2.3 s on one core),
    and each job writes its own file, so the files are the same bytes either way."""
    if len(jobs) < 2 or (os.cpu_count() or 1) < 2 or not hasattr(os, "fork"):
        _run_all(jobs)
        return
    other = forking.Forked(partial(_run_all, jobs[1::2]))
    try:
        _run_all(jobs[0::2])
    finally:
        other.result()


def _run_all(jobs: Sequence[Callable[[], object]]) -> None:
    for job in jobs:
        job()
