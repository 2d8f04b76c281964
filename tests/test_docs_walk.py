"""A newcomer's walk through the written docs: README -> docs/gates.md -> reference/gates.md#<gate>
reaches every gate of the catalogue, and the README stays a short front page."""

from __future__ import annotations

import re
from pathlib import Path

from governance_assets.core.decide.gate_catalog import GATES

REPO = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def links(page: Path) -> set[str]:
    """Every Markdown link target on a page, as written."""
    return set(LINK.findall(page.read_text(encoding="utf-8")))


def test_the_readme_is_short_and_leads_to_the_gates_page() -> None:
    """Kills: the README growing back into a manual, or losing its way to the gates page."""
    readme = REPO / "README.md"
    assert len(readme.read_text(encoding="utf-8").splitlines()) <= 250
    assert "docs/gates.md" in links(readme)


def test_the_gates_page_links_every_gate_to_its_reference_entry() -> None:
    """Kills: a gate added to the catalogue without a row on docs/gates.md, or a row whose link
    points at another gate's anchor."""
    targets = links(REPO / "docs" / "gates.md")
    missing = [gate.name for gate in GATES if f"reference/gates.md#{gate.name}" not in targets]
    assert not missing, f"docs/gates.md does not link these gates to their reference: {missing}"
