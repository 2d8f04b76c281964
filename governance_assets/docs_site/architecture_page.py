"""The generated block of docs/architecture.md: the asset graph as Mermaid, from Definitions.

The page's prose is written by hand; only the text between BEGIN and END is generated, so the
test can hold the drawing to the definitions Dagster loads (keys, deps, groups, checks).
"""

from __future__ import annotations

import re

from dagster import AssetKey

from ..core.decide.gate_catalog import GATES_BY_NAME, STAGE_GROUPS
from ..core.report.markdown import rendered_table
from ..definitions import defs
from .page_text import code, link

PAGE = "architecture.md"
BEGIN = "<!-- BEGIN GENERATED: asset graph (python -m governance_assets.docs_site) -->"
END = "<!-- END GENERATED: asset graph -->"


def _node_id(key: AssetKey) -> str:
    return re.sub(r"\W", "_", key.to_user_string())


def _checks_by_asset() -> dict[AssetKey, list[str]]:
    graph = defs.resolve_asset_graph()
    return {key: sorted(check.name for check in graph.get(key).check_keys)
            for key in graph.toposorted_asset_keys}


def mermaid() -> str:
    """Groups as subgraphs in the order of the DVC stages (then the others, as the graph
    reaches them), then every dependency."""
    graph = defs.resolve_asset_graph()
    keys = graph.toposorted_asset_keys
    checks = _checks_by_asset()
    groups: dict[str, list[AssetKey]] = {group: [] for group in STAGE_GROUPS.values()}
    for key in keys:
        groups.setdefault(graph.get(key).group_name, []).append(key)
    lines = ["flowchart LR"]
    for group, members in groups.items():
        if not members:
            continue
        lines.append(f"  subgraph {group}")
        for key in members:
            count = len(checks[key])
            label = key.to_user_string() + (f"<br/>{count} check{'s' * (count != 1)}"
                                             if count else "")
            lines.append(f'    {_node_id(key)}["{label}"]')
        lines.append("  end")
    lines += [f"  {_node_id(parent)} --> {_node_id(key)}" for key in keys
              for parent in sorted(graph.get(key).parent_keys)]
    return "```mermaid\n" + "\n".join(lines) + "\n```"


def _check_text(asset: AssetKey, name: str) -> str:
    """A gate of the catalogue links to its reference; other checks are named."""
    gate = GATES_BY_NAME.get(name)
    if gate is not None and gate.asset == asset.to_user_string():
        return link(name, "reference/gates.md", name)
    return code(name)


def checks_table() -> str:
    graph = defs.resolve_asset_graph()
    rows = [(code(key.to_user_string()), code(graph.get(key).group_name),
             ", ".join(_check_text(key, name) for name in names))
            for key, names in _checks_by_asset().items()]
    return rendered_table(("Asset", "Group", "Checks"), rows)


def block() -> str:
    return "\n\n".join((BEGIN, mermaid(), checks_table(), END))


def with_block(text: str) -> str:
    """The page with its generated block replaced (the prose around it kept)."""
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + block() + text[end:]
