"""The run-level gate table a reviewer reads in the UI and in CI: one row per gate, with the
fingerprint of what its verdict judged."""

from __future__ import annotations

from ..report.markdown import cell

FINGERPRINT_PARTS = (("policy_hash", "policy"), ("data_version", "data"),
                     ("candidate_sha256", "candidate"), ("code_version", "code"),
                     ("evidence_sha256", "evidence"))


def short_fingerprint(fingerprint: dict | None) -> str:
    """The first 8 characters of each part; '-' for a gate with no current verdict."""
    if not fingerprint:
        return "-"
    return " ".join(f"{label} {str(fingerprint[key])[:8]}" for key, label in FINGERPRINT_PARTS
                    if fingerprint.get(key))


def gate_table_markdown(rows: list[dict]) -> str:
    """Rows as `Standing.to_dict()` gives them (reports/gates.json)."""
    lines = ["| gate | verdict | value | threshold | blocks | why | fingerprint |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        value = "-" if row["value"] is None else f"{row['value']:.4g}"
        threshold = ("-" if row["threshold"] is None
                     else f"{row['comparison']} {row['threshold']:g}")
        lines.append(f"| {cell(row['name'])} | {cell(row['verdict'])} | {value} | "
                     f"{threshold} | {'**yes**' if row['blocks_promotion'] else 'no'} | "
                     f"{cell(row['message'] or '')} | "
                     f"{short_fingerprint(row['fingerprint'])} |")
    return "\n".join(lines)
