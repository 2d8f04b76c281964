"""Make evidently's HTML byte-reproducible: it names every widget with a random uuid4.

Each random id is replaced, consistently, by one derived from the order it first appears in, so
the same report gives the same bytes and DVC's lock does not move when nothing changed.
"""

from __future__ import annotations

import hashlib
import re

RANDOM_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|"
                       r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])")


def stable_ids(text: str) -> str:
    renamed: dict[str, str] = {}

    def replace(match: re.Match) -> str:
        found = match.group(0)
        if found not in renamed:
            digest = hashlib.sha256(f"id-{len(renamed)}".encode()).hexdigest()[:32]
            if "-" in found:
                digest = "-".join((digest[:8], digest[8:12], digest[12:16], digest[16:20],
                                   digest[20:32]))
            renamed[found] = digest
        return renamed[found]

    return RANDOM_ID.sub(replace, text)

