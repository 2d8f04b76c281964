"""Markdown a reviewer reads inside the Dagster UI: tables and inline PNG plots.

Pure text: the Dagster layer wraps these strings in `MetadataValue.md`, so a reviewer sees a
group's rate or a plot on the asset's page without opening a file path.

Data (a column name, a category, a gate's message) enters Markdown only through `text`, `cell`
or `code`: Markdown passes raw HTML through, so a column named `<script>` would otherwise be
a script in every viewer that renders the card, and a `|` or a newline would forge a table row.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from .printable import printable

# Every character that opens Markdown markup data could abuse: `<` raw HTML (and `>` with it,
# as the table rule asks), `&` an entity, `[` a link or image (a lone `]` opens nothing), a
# backtick a code span, `|` a table cell, `*` emphasis, `\` an escape of the character after it.
ESCAPED = str.maketrans({c: "\\" + c for c in "\\`<>[|&*"})
# `_` opens emphasis only where it is not between two letters or digits (CommonMark's intraword
# rule): `__unseen__` would render as a bold `unseen`, `four_fifths_rule` renders as written.
EMPHASIS_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
LONGEST_BACKTICKS = re.compile(r"`+")


def text(value: object) -> str:
    """Data as inline Markdown that renders as exactly its own characters, on one line:
    controls shown as escapes (core.printable), markup characters backslash-escaped."""
    return EMPHASIS_UNDERSCORE.sub(r"\\_", printable(value).translate(ESCAPED))


def code(value: object) -> str:
    """Data as an inline code span (no HTML or escape is read inside one); the fence is one
    backtick longer than any run of backticks in the value, so the value cannot close it."""
    shown = printable(value)
    fence = "`" * (1 + max((len(run) for run in LONGEST_BACKTICKS.findall(shown)), default=0))
    pad = " " if shown.startswith("`") or shown.endswith("`") else ""
    return f"{fence}{pad}{shown}{pad}{fence}"


def cell(value: object) -> str:
    """A table cell: None shows as `null` (undefined, never zero), floats to 4 digits,
    anything else as `text`, so a `|`, newline or tag in data stays inside its cell."""
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:.4g}"
    return text(value)


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table; every header and cell goes through `cell`."""
    return rendered_table([cell(h) for h in header], ([cell(v) for v in row] for row in rows))


def rendered_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A table of cells already rendered as Markdown: only for text from the code (the docs
    site's links and code spans), never from data, which goes through `table`."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def image(path: Path, alt: str) -> str:
    """A PNG embedded as a data URI, so the UI shows it without access to the file system."""
    encoded = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f"![{alt}](data:image/png;base64,{encoded})"
