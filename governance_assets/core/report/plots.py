"""Matplotlib without a display, and PNGs that are byte-identical for the same figure (DVC
tracks them as outputs)."""

from __future__ import annotations

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
