"""What validation found: each finding names file, column and rule; the report the gates and
the card read."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

HEADER_LINES = 1


@dataclass(frozen=True)
class Finding:
    """One rule applied to one column: the unit a reviewer reads and a gate counts."""

    gate: str
    rule: str
    column: str | None
    passed: bool
    message: str
    value: float | None = None


@dataclass
class ValidationReport:
    file: str
    rows: int
    findings: list[Finding] = field(default_factory=list)
    group_sizes: dict[str, dict[str, int]] = field(default_factory=dict)
    rows_used: int = 0
    row_filters: list[dict] = field(default_factory=list)
    periods: dict[str, int] = field(default_factory=dict)
    poisoning: dict = field(default_factory=dict)
    personal_data: dict = field(default_factory=dict)
    retention: dict = field(default_factory=dict)
    # policy.small_groups as applied: the rule, and per attribute the groups below
    # min_group_size (reported as insufficient evidence, or merged into OTHER_GROUP).
    small_groups: dict = field(default_factory=dict)
    location: str = "line"

    def add(self, gate: str, rule: str, column: str | None, passed: bool, message: str,
            value: float | None = None) -> None:
        self.findings.append(Finding(gate, rule, column, passed, message, value))

    def failures(self, gate: str) -> list[Finding]:
        return [f for f in self.findings if f.gate == gate and not f.passed]

    def where(self, index: object) -> str:
        """Where a row sits in the file: its line for CSV (after the header), row for Parquet."""
        offset = 1 + HEADER_LINES if self.location == "line" else 1
        return f"{self.location} {int(index) + offset}"

    @property
    def valid(self) -> bool:
        """Valid means every rule of the blocking gates passed; core/decide/blocking.py says
        which gates block (the outlier screen only warns)."""
        from ..decide.blocking import failed_finding_blocks

        return not any(not f.passed and failed_finding_blocks(f.gate) for f in self.findings)

    def to_record(self, binding: dict) -> dict:
        """reports/validation.json: the report bound to what it judged (raw bytes, rules)."""
        return {**self.to_dict(), "binding": binding}

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "rows": self.rows,
            "rows_used": self.rows_used,
            "valid": self.valid,
            "row_filters": self.row_filters,
            "periods": self.periods,
            "group_sizes": self.group_sizes,
            "poisoning": self.poisoning,
            "personal_data": self.personal_data,
            "retention": self.retention,
            "small_groups": self.small_groups,
            "findings": [asdict(f) for f in self.findings],
        }
