"""docs/reference/gates.md from the gate catalogue: one section per gate, anchored by its name.

Each row of a gate's table is one entry of FIELDS, so a new GateSpec field is one line here.
What a failure does is worded by core/decide/blocking.py, the same words Dagster shows on the
check; the functions that compute and judge a gate are named as the file and function a reader
opens.
"""

from __future__ import annotations

from collections.abc import Callable

from ..core.decide.blocking import what_a_failure_does
from ..core.decide.gate_catalog import GATES, GateSpec
from ..core.params import ACTIVE_DATASET
from ..core.report.markdown import rendered_table
from .page_text import anchor_id, code, link, one_line, page

PAGE = "reference/gates.md"
ACTIVE_KEY = "datasets.<name>"


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def params_link(key: str) -> str:
    """A params key as a link to its row on the params page (the active dataset's block too)."""
    shown = ACTIVE_KEY if key == ACTIVE_DATASET else key
    return link(code(shown), "params.md", shown)


def _keys(gate: GateSpec) -> str:
    return ", ".join(params_link(key) for key in gate.keys)


def function_source(dotted: str) -> str:
    """`governance_assets.core.x.y.f` as the file and function a reader opens."""
    module, _, function = dotted.rpartition(".")
    return f"{code(function)} in {code(module.replace('.', '/') + '.py')}"


def _evidence(gate: GateSpec) -> str:
    return ", ".join(link(code(path), "outputs.md", path) for path in gate.evidence)


FIELDS: tuple[tuple[str, Callable[[GateSpec], str]], ...] = (
    ("Asset", lambda gate: code(gate.asset)),
    ("DVC stage that judges it", lambda gate: code(gate.stage)),
    ("Blocking", lambda gate: _yes_no(gate.blocking)),
    ("A failure", lambda gate: one_line(what_a_failure_does(gate))),
    ("Statistic computed by", lambda gate: function_source(gate.computes)),
    ("Judged by the rule", lambda gate: function_source(gate.rule)),
    ("Params keys its verdict is bound to", _keys),
    ("Evidence files its verdict is bound to", _evidence),
    ("Judges the candidate model", lambda gate: _yes_no(gate.needs_candidate)),
    ("Reads the production alias", lambda gate: _yes_no(gate.reads_production_alias)),
    ("Volatile (measures the machine)", lambda gate: _yes_no(gate.volatile)),
)


def gate_section(gate: GateSpec) -> str:
    rows = [(label, render(gate)) for label, render in FIELDS]
    return "\n\n".join((f"## {gate.name}", one_line(gate.description),
                        rendered_table(("", ""), rows)))


def summary() -> str:
    rows = [(f"[{gate.name}](#{anchor_id(gate.name)})", code(gate.asset), code(gate.stage),
             _yes_no(gate.blocking)) for gate in GATES]
    return rendered_table(("Gate", "Asset", "Stage", "Blocking"), rows)


def render() -> str:
    intro = ("Every gate the pipeline has, from `GATES` in "
             "`governance_assets/core/decide/gate_catalog.py`. A verdict counts only for the "
             "params values and evidence bytes listed with its gate (the fingerprint): change "
             "any of them and the gate must judge again. Link a gate as "
             "`reference/gates.md#<name>`.")
    return page("Gate reference", intro, summary(), *(gate_section(gate) for gate in GATES))
