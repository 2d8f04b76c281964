"""Schema, label, group and outlier rules on a raw file; every finding names file, column, rule.

Validation never raises on bad data: it returns findings, and the blocking gates decide. Only a
valid file yields a typed frame, so nothing downstream is built from data that failed a rule.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .columns import FAVOURABLE, ROW_ID
from .params import DatasetSpec, DerivedFeature, Policy

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

    def add(self, gate: str, rule: str, column: str | None, passed: bool, message: str,
            value: float | None = None) -> None:
        self.findings.append(Finding(gate, rule, column, passed, message, value))

    def failures(self, gate: str) -> list[Finding]:
        return [f for f in self.findings if f.gate == gate and not f.passed]

    @property
    def valid(self) -> bool:
        """Valid means every rule of the blocking gates passed (the outlier screen only warns)."""
        return not any(not f.passed for f in self.findings if f.gate != "outliers")

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "rows": self.rows,
            "valid": self.valid,
            "group_sizes": self.group_sizes,
            "findings": [asdict(f) for f in self.findings],
        }


def read_raw(path: Path) -> pd.DataFrame:
    """Every cell as text, so type rules can name the offending value instead of guessing."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def validate(raw: pd.DataFrame, spec: DatasetSpec, policy: Policy, file: str
             ) -> tuple[pd.DataFrame | None, ValidationReport]:
    """Apply every rule; return the typed frame only when all blocking rules pass."""
    report = ValidationReport(file=file, rows=len(raw))
    if raw.empty:
        report.add("schema", "non_empty", None, False, f"{file}: the file has no data rows")
        return None, report
    report.add("schema", "non_empty", None, True, f"{file}: {len(raw)} rows")
    present = _check_required_columns(raw, spec, report)
    typed = raw.copy()
    for column in spec.numeric_columns:
        if column in present:
            typed[column] = _check_numeric(raw[column], column, spec, report)
    if spec.target in present:
        _check_labels(raw[spec.target], spec, report)
    for name, rule in spec.derived.items():
        if rule.source in present:
            derived = _derive(typed[rule.source], name, rule, file, report)
            if derived is not None:
                typed[name] = derived
    _check_groups(typed, spec, policy, file, report)
    if report.valid:
        _screen_outliers(typed, spec, policy, file, report)
        return _finish(typed, spec), report
    return None, report


def _check_required_columns(raw: pd.DataFrame, spec: DatasetSpec, report: ValidationReport
                            ) -> set[str]:
    present = set(raw.columns)
    for column in spec.raw_columns:
        ok = column in present
        message = "present" if ok else f"{report.file}: required column {column!r} is missing"
        report.add("schema", "required_column", column, ok, message)
    return present


def _check_numeric(values: pd.Series, column: str, spec: DatasetSpec, report: ValidationReport
                   ) -> pd.Series:
    missing = values.isin(spec.missing_values) | (values.str.strip() == "")
    parsed = pd.to_numeric(values.where(~missing), errors="coerce")
    bad = parsed.isna() & ~missing
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        message = (f"{report.file}: column {column!r} rule numeric: {int(bad.sum())} non-numeric "
                   f"value(s), first {values.iloc[first]!r} at line {first + 1 + HEADER_LINES}")
        report.add("schema", "numeric", column, False, message, float(bad.sum()))
    else:
        report.add("schema", "numeric", column, True, "all values numeric", 0.0)
    if missing.any():
        message = (f"{report.file}: column {column!r} rule no_missing: {int(missing.sum())} "
                   f"missing value(s)")
        report.add("schema", "no_missing", column, False, message, float(missing.sum()))
    return parsed.astype(float)


def _check_labels(labels: pd.Series, spec: DatasetSpec, report: ValidationReport) -> None:
    unknown = labels[~labels.isin(spec.labels)]
    if len(unknown):
        first = unknown.index[0]
        message = (f"{report.file}: column {spec.target!r} rule known_label: {len(unknown)} "
                   f"value(s) outside {spec.labels}, first {unknown.iloc[0]!r} at line "
                   f"{int(first) + 1 + HEADER_LINES}")
        report.add("labels", "known_label", spec.target, False, message, float(len(unknown)))
    else:
        report.add("labels", "known_label", spec.target, True, "every label is declared", 0.0)
    counts = labels[labels.isin(spec.labels)].value_counts()
    for label in spec.labels:
        ok = int(counts.get(label, 0)) > 0
        message = (f"{int(counts.get(label, 0))} rows" if ok else
                   f"{report.file}: column {spec.target!r} rule both_classes: label {label!r} "
                   f"never occurs")
        report.add("labels", "both_classes", spec.target, ok, message,
                   float(counts.get(label, 0)))


def _derive(source: pd.Series, name: str, rule: DerivedFeature, file: str,
            report: ValidationReport) -> pd.Series | None:
    if rule.mapping is not None:
        unknown = sorted(set(source.astype(str)) - set(rule.mapping))
        if unknown:
            message = (f"{file}: column {rule.source!r} rule known_code: code(s) {unknown} have "
                       f"no mapping to {name!r}")
            report.add("groups", "known_code", rule.source, False, message, float(len(unknown)))
            return None
        return source.astype(str).map(rule.mapping)
    numeric = pd.to_numeric(source, errors="coerce")
    if numeric.isna().any():
        return None
    edges = [-np.inf, *rule.band_edges, np.inf]
    return pd.cut(numeric, edges, labels=rule.band_labels, right=False).astype(str)


def _check_groups(typed: pd.DataFrame, spec: DatasetSpec, policy: Policy, file: str,
                  report: ValidationReport) -> None:
    for feature in spec.sensitive_features:
        if feature not in typed.columns:
            source = spec.derived[feature].source if feature in spec.derived else feature
            message = (f"{file}: column {source!r} rule sensitive_present: sensitive feature "
                       f"{feature!r} cannot be built")
            report.add("groups", "sensitive_present", feature, False, message)
            continue
        sizes = typed[feature].astype(str).value_counts().sort_index()
        report.group_sizes[feature] = {str(k): int(v) for k, v in sizes.items()}
        if len(sizes) < 2:
            message = (f"{file}: column {feature!r} rule sensitive_present: only one group "
                       f"{list(sizes.index)}; fairness cannot be measured")
            report.add("groups", "sensitive_present", feature, False, message)
            continue
        report.add("groups", "sensitive_present", feature, True, f"{len(sizes)} groups")
        small = sizes[sizes < policy.min_group_size]
        if len(small):
            listed = ", ".join(f"{k!r}={v}" for k, v in small.items())
            message = (f"{file}: column {feature!r} rule min_group_size: group(s) {listed} "
                       f"below policy.min_group_size={policy.min_group_size}")
            report.add("groups", "min_group_size", feature, False, message, float(small.min()))
        else:
            report.add("groups", "min_group_size", feature, True,
                       f"smallest group has {int(sizes.min())} rows", float(sizes.min()))


def _screen_outliers(typed: pd.DataFrame, spec: DatasetSpec, policy: Policy, file: str,
                     report: ValidationReport) -> None:
    """Extreme values (beyond 3 IQR) and exact duplicate rows: a cheap poisoning screen."""
    flagged = pd.Series(False, index=typed.index)
    for column in spec.numeric_columns:
        values = typed[column]
        q1, q3 = values.quantile([0.25, 0.75])
        spread = q3 - q1
        if spread > 0:
            flagged |= (values < q1 - 3 * spread) | (values > q3 + 3 * spread)
    duplicates = typed.duplicated(subset=spec.raw_columns, keep="first")
    share = float((flagged | duplicates).mean())
    ok = share <= policy.max_outlier_share
    message = (f"{file}: rule outlier_screen: {int(flagged.sum())} rows with extreme values, "
               f"{int(duplicates.sum())} exact duplicates; share {share:.3f} "
               f"{'<=' if ok else '>'} policy.max_outlier_share={policy.max_outlier_share}")
    report.add("outliers", "outlier_screen", None, ok, message, share)


def _finish(typed: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    keep = [c for c in typed.columns if c not in spec.ignore_columns]
    frame = typed[keep].copy()
    frame.insert(0, ROW_ID, np.arange(len(frame), dtype=np.int64))
    frame[FAVOURABLE] = (frame[spec.target] == spec.favourable_label).astype(np.int8)
    for column in spec.categorical_columns:
        frame[column] = frame[column].astype(str)
    return frame
