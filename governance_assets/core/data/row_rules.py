"""Rules that drop or screen whole rows before typing: documented row filters, retention by
collection date, and the personal-data screen."""

from __future__ import annotations

import pandas as pd

from ..params import DatasetSpec, Policy, RowFilter
from .text import blank
from .validation_report import ValidationReport


def screen_personal_data(raw: pd.DataFrame, spec: DatasetSpec, policy: Policy,
                          report: ValidationReport, sample: bool = False) -> None:
    """Direct identifiers and keys in disguise: an undeclared one fails, naming the column.

    In a `sample` of the dataset (a batch) the schema's own columns, judged near-unique or not
    on the whole dataset, skip that rule; every pattern still applies to every column."""
    from . import personal_data

    judged = {*spec.raw_columns, *spec.ignore_columns} if sample else set()
    findings = personal_data.screen(raw, spec.identifier_columns, policy.national_id_patterns,
                                    policy.max_identifier_values, policy.max_distinct_share,
                                    judged)
    report.personal_data = personal_data.summary(findings, spec.identifier_columns)
    undeclared = [f for f in findings if not f.declared]
    for finding in undeclared:
        report.add("personal_data", finding.pattern, finding.column, False,
                   finding.describe(report.file), float(finding.matching_values))
    if not undeclared:
        report.add("personal_data", "personal_data", None, True,
                   f"{len(raw.columns)} columns screened; declared identifiers "
                   f"{spec.identifier_columns or 'none'} excluded", 0.0)


def apply_retention(kept: pd.DataFrame, spec: DatasetSpec, policy: Policy, present: set[str],
                     report: ValidationReport) -> pd.DataFrame:
    """Rows past policy.max_record_age_days: dropped and counted, or a failed rule."""
    from . import retention

    rule = spec.retention
    if rule is None:
        return kept
    if rule.column not in present:
        report.add("retention", "retention", rule.column, False,
                   f"{report.file}: column {rule.column!r} rule retention: the declared "
                   "collection-date column is missing")
        return kept
    result = retention.check(kept[rule.column], rule.as_of, policy.max_record_age_days)
    report.retention = result.to_dict(rule.column, rule.as_of, policy.max_record_age_days,
                                      policy.retention_action)
    expired, unreadable = int(result.expired.sum()), result.unreadable
    where = (f"{report.file}: column {rule.column!r} rule retention: ")
    if unreadable.any():
        first = unreadable.idxmax()
        report.add("retention", "retention", rule.column, False,
                   f"{where}{int(unreadable.sum())} value(s) not a date or year, first "
                   f"{kept.loc[first, rule.column]!r} at {report.where(first)}",
                   float(unreadable.sum()))
        return kept
    age = f"older than policy.max_record_age_days={policy.max_record_age_days} at {rule.as_of}"
    if expired and policy.retention_action == "block":
        first = result.expired.idxmax()
        report.add("retention", "retention", rule.column, False,
                   f"{where}{expired} row(s) {age} (before {result.cutoff}), first "
                   f"{kept.loc[first, rule.column]!r} at {report.where(first)}; "
                   "policy.retention_action=block", float(expired))
        return kept
    report.add("retention", "retention", rule.column, True,
               f"{expired} row(s) {age} dropped; oldest row used {result.oldest_kept}",
               float(expired))
    if expired:
        report.row_filters.append({"filter": f"retention: {rule.column} before {result.cutoff} "
                                             "(policy.max_record_age_days)",
                                   "rows_before": len(kept), "rows_removed": expired})
    return kept[~result.expired]


def apply_row_filters(raw: pd.DataFrame, spec: DatasetSpec, present: set[str],
                       report: ValidationReport) -> pd.DataFrame:
    """Documented cleaning, applied in order; the report counts what each step removed."""
    kept = raw
    for rule in spec.row_filters:
        if rule.column not in present:
            continue
        keep, unparsed = _filter_mask(kept[rule.column], rule)
        if unparsed.any():
            first = unparsed.idxmax()
            report.add("schema", "row_filter", rule.column, False,
                       f"{report.file}: column {rule.column!r} rule row_filter: "
                       f"{int(unparsed.sum())} non-numeric value(s) for numeric filter "
                       f"'{rule.op}', first {kept.loc[first, rule.column]!r} at "
                       f"{report.where(first)}")
        report.row_filters.append({"filter": rule.describe(), "rows_before": len(kept),
                                   "rows_removed": int((~keep).sum())})
        kept = kept[keep]
    return kept


def _filter_mask(values: pd.Series, rule: RowFilter) -> tuple[pd.Series, pd.Series]:
    """Rows that satisfy the filter, and rows a numeric filter could not read."""
    if rule.op in ("==", "!=", "in", "not_in"):
        targets = [_as_text(v) for v in (rule.value if isinstance(rule.value, list)
                                         else [rule.value])]
        hit = values.isin(targets)
        return (~hit if rule.op in ("!=", "not_in") else hit), pd.Series(False, values.index)
    numbers = pd.to_numeric(values, errors="coerce")
    unparsed = numbers.isna() & ~blank(values)
    if rule.op == "between":
        low, high = (float(v) for v in rule.value)
        keep = numbers.between(low, high)
    else:
        keep = {"<": numbers.lt, "<=": numbers.le, ">": numbers.gt,
                ">=": numbers.ge}[rule.op](float(rule.value))
    return keep.fillna(False).astype(bool), unparsed


def _as_text(value: object) -> str:
    """A YAML scalar as the text the CSV holds: 2 and 2.0 both match '2'."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
