"""The run-level gate table a reviewer reads in the UI and in CI: one row per gate, with the
fingerprint of what its verdict judged.

Every cell goes through core.report.markdown, so a message naming `datasets.<name>.retention`
or `mean |SHAP|` reads as written, and a gate with no threshold shows `-`, never `<= None`.
"""

from __future__ import annotations

from ..report.markdown import cell, rendered_table

FINGERPRINT_PARTS = (("policy_hash", "policy"), ("data_version", "data"),
                     ("candidate_sha256", "candidate"), ("code_version", "code"),
                     ("evidence_sha256", "evidence"))


def short_fingerprint(fingerprint: dict | None) -> str:
    """The first 8 characters of each part; '-' for a gate with no current verdict."""
    if not fingerprint:
        return "-"
    return " ".join(f"{label} {str(fingerprint[key])[:8]}" for key, label in FINGERPRINT_PARTS
                    if fingerprint.get(key))


def value_text(value: float | None) -> str:
    """A verdict's figure to 4 digits; '-' when the gate measured none."""
    return "-" if value is None else f"{value:.4g}"


def threshold_text(comparison: str | None, threshold: float | None) -> str:
    """`>= 0.7` as Markdown; '-' when the gate has no threshold (a comparison is never shown
    against nothing)."""
    if threshold is None:
        return "-"
    return f"{cell(comparison or '')} {threshold:g}".strip()


def gate_table_markdown(rows: list[dict]) -> str:
    """Rows as `Standing.to_dict()` gives them (reports/gates.json)."""
    return rendered_table(
        ["gate", "verdict", "value", "threshold", "blocks", "why", "fingerprint"],
        ([cell(row["name"]), cell(row["verdict"]), value_text(row["value"]),
          threshold_text(row["comparison"], row["threshold"]),
          "**yes**" if row["blocks_promotion"] else "no", cell(row["message"] or ""),
          short_fingerprint(row["fingerprint"])] for row in rows))


def card_gate_table_markdown(gates: list[dict]) -> str:
    """The gates as the model card records them (`card.gate_entry`), on the card's page."""
    return rendered_table(
        ["gate", "verdict", "value", "threshold", "blocks promotion"],
        ([cell(g["gate"]), cell(g["verdict"]), value_text(g["value"]),
          threshold_text(g["comparison"], g["threshold"]),
          "**yes**" if g["blocks_promotion"] else "no"] for g in gates))


def judged_figures(value: float | None, comparison: str | None, threshold: float | None) -> str:
    """The figure a verdict judged and the threshold it is held to, as one Markdown sentence:
    a reviewer sees whether the value itself meets the bound, whatever the outcome says."""
    if threshold is None:
        return f"Value {value_text(value)}; no threshold."
    return f"Value {value_text(value)}; threshold: must be {threshold_text(comparison, threshold)}."
