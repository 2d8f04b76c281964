"""Gate verdicts as a CI result: JUnit XML a CI server renders, and a Markdown job summary.

One test case per gate, so a reviewer sees in the CI's test view which gate refused, with its
value and threshold. JUnit knows pass, failure, error and skipped, not "warn": a warning gate
that did not pass is a passing case whose output and properties say WARN, so a build fails
only when promotion is refused.

The summary's metrics table shows every metric dvc.yaml declares, changed or not, beside its
value on the compared ref: the gates' evidence (performance, fairness, drift, robustness...) is
the point of the diff, and DVC's own table lists only what changed.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ..report import markdown
from .blocking import NOT_APPLICABLE
from .gate_table import gate_table_markdown

SUITE = "governance gates"


def _figure(row: dict) -> str:
    value = "-" if row["value"] is None else f"{row['value']:.4g}"
    if row["threshold"] is None:
        return f"value {value}"
    return f"value {value}, threshold {row['comparison']} {row['threshold']:g}"


def _kind(row: dict) -> str:
    """failure: a verdict refused; error: no current verdict; skipped: not applicable."""
    if row["blocks_promotion"]:
        return "failure" if row["state"] == "current" else "error"
    if row["outcome"] == NOT_APPLICABLE:
        return "skipped"
    return "passed"


def junit_xml(rows: list[dict], decision: str) -> bytes:
    """One <testcase> per gate; the suite's properties carry the decision and policy hash."""
    kinds = [_kind(row) for row in rows]
    suite = ET.Element("testsuite", name=SUITE, tests=str(len(rows)),
                       failures=str(kinds.count("failure")), errors=str(kinds.count("error")),
                       skipped=str(kinds.count("skipped")))
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", name="decision", value=decision)
    policy = next((row["fingerprint"]["policy_hash"] for row in rows if row["fingerprint"]), "")
    ET.SubElement(properties, "property", name="policy_hash", value=policy)
    for row, kind in zip(rows, kinds, strict=True):
        _add_case(suite, row, kind)
    ET.indent(suite)
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True)


def _add_case(suite: ET.Element, row: dict, kind: str) -> None:
    case = ET.SubElement(suite, "testcase", classname=f"{row['stage']}.{row['asset']}",
                         name=row["name"])
    message = f"{row['verdict']}: {_figure(row)}; {row['message'] or ''}".strip("; ")
    if kind in ("failure", "error"):
        element = ET.SubElement(case, kind, message=message, type=row["verdict"])
        element.text = message + "\nevidence: " + ", ".join(row["evidence"])
    elif kind == "skipped":
        ET.SubElement(case, "skipped", message=message)
    properties = ET.SubElement(case, "properties")
    for name in ("verdict", "state", "blocking"):
        ET.SubElement(properties, "property", name=name, value=str(row[name]))
    if kind == "passed" and row["verdict"] != "PASS":
        ET.SubElement(case, "system-out").text = f"WARN (does not block): {message}"


def summary_markdown(rows: list[dict], decision: str, diffs: dict[str, str]) -> str:
    """The job summary: the decision, the refusals first, then every gate, then DVC diffs."""
    refused = [row for row in rows if row["blocks_promotion"]]
    lines = [f"## Governance gates: {decision}", ""]
    if refused:
        lines += ["**Refused by:**", ""]
        lines += [f"- `{row['name']}`: {row['verdict']}, {_figure(row)}; "
                  f"{markdown.text(row['message'])}"
                  for row in refused]
        lines.append("")
    lines.append(gate_table_markdown(rows))
    for title, text in diffs.items():
        lines += ["", f"### {title}", "", text.strip() or "no differences"]
    return "\n".join(lines) + "\n"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _worth_a_row(values: dict) -> bool:
    """Every numeric metric; a text one (carbon's CPU model, the model's name) only when it
    changed between two revisions that both have it, so a metrics file new on this side does
    not fill the table with descriptions."""
    old, new = values.get("old"), values.get("new")
    if _is_number(old) or _is_number(new):
        return True
    return old is not None and new is not None and old != new


def _shown(value: object) -> object:
    return "-" if value is None else value


def _change(values: dict) -> object:
    old, new = values.get("old"), values.get("new")
    return new - old if _is_number(old) and _is_number(new) else "-"


def metrics_diff_markdown(diff: dict[str, dict[str, dict]], against: str) -> str:
    """`dvc metrics diff REF --all --json` (path -> metric -> old/new) as a Markdown table,
    by path and metric name; empty when there is no metric at all."""
    rows = [(path, name, _shown(values.get("old")), _shown(values.get("new")), _change(values))
            for path in sorted(diff) for name, values in sorted(diff[path].items())
            if _worth_a_row(values)]
    return markdown.table(["path", "metric", against, "workspace", "change"], rows) if rows else ""
