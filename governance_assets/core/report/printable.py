"""Text from data or from a person, made safe to print on one line of a human view.

A reason typed at `governance approve --reason`, or a column name from a CSV header, is kept
exactly as given in the ledger and the JSON records. Printed raw, its newline starts what looks
like another ledger line, its ANSI escapes clear the screen or recolour text, and a bidi
override reverses what the reader sees. `printable` shows each such character as a visible
escape (`\\n`, `\\x1b`, `\\u202e`) instead: nothing is hidden from the reader and nothing is
interpreted by the terminal. The human views call it where they print data (output boundary).
"""

from __future__ import annotations

import re
import unicodedata

# C0, DEL and C1 controls (ESC, CR, LF, TAB, CSI...), then Unicode's format characters (bidi
# overrides, zero-width joiners), line and paragraph separators and lone surrogates.
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
NOT_PLAIN_ASCII = re.compile(r"[^\x20-\x7e]")


def _visible(match: re.Match) -> str:
    character = match.group(0)
    if character in SHORT_ESCAPES:
        return SHORT_ESCAPES[character]
    if unicodedata.category(character) not in INVISIBLE_CATEGORIES:
        return character
    code = ord(character)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(value: object) -> str:
    """`value` as one line with every control and format character shown as its escape."""
    return NOT_PLAIN_ASCII.sub(_visible, str(value))
