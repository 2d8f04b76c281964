"""Schema and label rules, column by column: required columns, numbers, categories, missing
codes, constant inputs and the target's labels."""

from __future__ import annotations

import difflib
from collections.abc import Collection

import numpy as np
import pandas as pd

from ..params import DatasetSpec
from .columns import MISSING_CATEGORY
from .text import blank
from .validation_report import ValidationReport

MAX_ABS_VALUE = 1e12  # beyond this a "number" is a sentinel or an attack, and breaks training
PARQUET_SUFFIXES = (".parquet", ".pq")
# A declared categorical column is taken for a mistyped numeric one when nearly every value is
# a number, it has many distinct values and most of them are rare (one-row categories).
LOOKS_NUMERIC_MIN_DISTINCT = 50
LOOKS_NUMERIC_RARE_ROWS = 5


def check_required_columns(raw: pd.DataFrame, spec: DatasetSpec, report: ValidationReport,
                           optional: Collection[str] = ()) -> set[str]:
    """Every column of the training schema but the `optional` ones must be in the file."""
    present = set(raw.columns)
    unexpected = [c for c in raw.columns if c not in spec.raw_columns]
    for column in (c for c in spec.raw_columns if c not in optional or c in present):
        ok = column in present
        message = "present" if ok else f"{report.file}: required column {column!r} is missing"
        if not ok and (near := difflib.get_close_matches(column, unexpected, n=1, cutoff=0.8)):
            message += f" (the file has {near[0]!r}: a typo, or another spelling?)"
        report.add("schema", "required_column", column, ok, message)
    return present


def missing_mask(values: pd.Series, codes: list[str]) -> pd.Series:
    """Declared missing codes, matched as text and, for numeric codes, by value."""
    missing = values.isin(codes) | blank(values)
    numeric_codes = pd.to_numeric(pd.Series(codes, dtype=object), errors="coerce").dropna()
    if len(numeric_codes):
        missing |= pd.to_numeric(values, errors="coerce").isin(numeric_codes.tolist())
    return missing


def check_numeric(values: pd.Series, column: str, spec: DatasetSpec, report: ValidationReport
                   ) -> tuple[pd.Series, pd.Series]:
    """Parsed numbers, and which rows held a missing code. Text, inf and 1e300 are findings."""
    missing = missing_mask(values, spec.missing_codes_for(column))
    parsed = pd.to_numeric(values.where(~missing), errors="coerce")
    unparsed = parsed.isna() & ~missing
    extreme = ~unparsed & ~missing & ~(np.isfinite(parsed) & (parsed.abs() <= MAX_ABS_VALUE))
    problems = []
    if unparsed.any():
        problems.append((unparsed, "non-numeric value(s)"))
    if extreme.any():
        problems.append((extreme, f"value(s) not finite or beyond +-{MAX_ABS_VALUE:g}"))
    for mask, what in problems:
        first = mask.idxmax()
        message = (f"{report.file}: column {column!r} rule numeric: {int(mask.sum())} {what}, "
                   f"first {values.loc[first]!r} at {report.where(first)}")
        report.add("schema", "numeric", column, False, message, float(mask.sum()))
    if not problems:
        report.add("schema", "numeric", column, True, "all values finite numbers", 0.0)
    return parsed.where(~extreme).astype(float), missing


def check_not_constant(values: pd.Series, column: str, report: ValidationReport) -> None:
    """A model input holding one value everywhere is a broken extract more often than data."""
    distinct = values.nunique()
    if distinct <= 1:
        held = repr(values.iloc[0]) if len(values) else "nothing"
        report.add("schema", "not_constant", column, False,
                   f"{report.file}: column {column!r} rule not_constant: every row holds "
                   f"{held}; a model input with one value carries no information: fix the "
                   "extract, or list the column in exclude_from_model", 1.0)
    else:
        report.add("schema", "not_constant", column, True, f"{distinct} distinct values",
                   float(distinct))


def check_categorical(values: pd.Series, column: str, spec: DatasetSpec,
                       report: ValidationReport) -> pd.Series:
    """Missing codes become one category; a numeric column declared categorical is an error."""
    missing = missing_mask(values, spec.missing_codes_for(column))
    present = values[~missing]
    counts = present.value_counts()
    # Each distinct value parsed once, weighted by its rows (to_numeric on every row cost
    # 0.3 s per census column).
    parses = pd.to_numeric(pd.Series(counts.index, dtype=object), errors="coerce").notna()
    numeric_share = counts[parses.to_numpy()].sum() / len(present) if len(present) else 0
    rare_share = float((counts < LOOKS_NUMERIC_RARE_ROWS).mean()) if len(counts) else 0.0
    looks_numeric = (numeric_share >= 0.99 and len(counts) >= LOOKS_NUMERIC_MIN_DISTINCT
                     and rare_share >= 0.5)
    if looks_numeric:
        report.add("schema", "categorical_type", column, False,
                   f"{report.file}: column {column!r} rule categorical_type: declared "
                   f"categorical but every value is a number, with {len(counts)} distinct "
                   f"values of which {rare_share:.0%} occur fewer than "
                   f"{LOOKS_NUMERIC_RARE_ROWS} times; move it to numeric_columns, or keep it "
                   "categorical through derived bands (band_edges)", float(len(counts)))
    else:
        report.add("schema", "categorical_type", column, True, f"{len(counts)} categories",
                   float(len(counts)))
    return values.where(~missing, MISSING_CATEGORY)


def handle_missing_numeric(typed: pd.DataFrame, missing: pd.Series, spec: DatasetSpec,
                            report: ValidationReport) -> pd.DataFrame:
    """A missing number fails the schema, or drops its row when the spec says drop_row."""
    if not missing.any():
        return typed
    columns = [c for c in spec.numeric_columns if c in typed.columns
               and typed.loc[missing, c].isna().any()]
    counts = {c: int(typed.loc[missing, c].isna().sum()) for c in columns}
    if spec.missing_numeric == "drop_row":
        report.row_filters.append({"filter": f"missing numeric value in {columns} "
                                             "(missing_numeric: drop_row)",
                                   "rows_before": len(typed), "rows_removed": int(missing.sum())})
        return typed[~missing]
    for column, count in counts.items():
        first = typed.index[typed[column].isna()][0]
        report.add("schema", "no_missing", column, False,
                   f"{report.file}: column {column!r} rule no_missing: {count} missing "
                   f"value(s), first at {report.where(first)} (set missing_numeric: drop_row "
                   "to drop such rows)", float(count))
    return typed


def check_labels(labels: pd.Series, spec: DatasetSpec, report: ValidationReport,
                 unlabelled_allowed: bool = False) -> None:
    """Every label a declared one and both outcomes present; with `unlabelled_allowed` (a
    batch) an empty cell means "not labelled yet" and one outcome, or none, may occur."""
    known = spec.known_labels
    given = labels[~blank(labels)] if unlabelled_allowed else labels
    unknown = given[~given.isin(known)]
    if len(unknown):
        message = (f"{report.file}: column {spec.target!r} rule known_label: {len(unknown)} "
                   f"value(s) outside {known}, first {unknown.iloc[0]!r} at "
                   f"{report.where(unknown.index[0])}")
        report.add("labels", "known_label", spec.target, False, message, float(len(unknown)))
    else:
        report.add("labels", "known_label", spec.target, True, "every label is declared", 0.0)
    if not unlabelled_allowed:
        _check_both_classes(labels, spec, report)


def _check_both_classes(labels: pd.Series, spec: DatasetSpec, report: ValidationReport) -> None:
    known = spec.known_labels
    favourable = labels.isin(spec.favourable_values)
    counts = {"favourable": int(favourable.sum()),
              "unfavourable": int((labels.isin(known) & ~favourable).sum())}
    for outcome, count in counts.items():
        ok = count > 0
        message = (f"{count} rows" if ok else
                   f"{report.file}: column {spec.target!r} rule both_classes: no {outcome} "
                   f"label ({spec.favourable_values if outcome == 'favourable' else 'others'})"
                   " occurs")
        report.add("labels", "both_classes", spec.target, ok, message, float(count))
