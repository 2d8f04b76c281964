"""Markdown a reviewer reads inside the Dagster UI: tables and inline PNG plots.

Pure text: the Dagster layer wraps these strings in `MetadataValue.md`, so a reviewer sees a
group's rate or a plot on the asset's page without opening a file path.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from pathlib import Path


def _cell(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table; None shows as `null` (undefined, never zero)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def image(path: Path, alt: str) -> str:
    """A PNG embedded as a data URI, so the UI shows it without access to the file system."""
    encoded = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f"![{alt}](data:image/png;base64,{encoded})"
