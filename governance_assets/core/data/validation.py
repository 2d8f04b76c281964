"""Schema, label, group and poisoning rules on a raw file; every finding names file, column, rule.

Validation never raises on bad data: it returns findings, and the blocking gates decide. Only a
valid file yields a typed frame, so nothing downstream is built from data that failed a rule.
The one exception is a file that cannot be read at all: `raw_files.read_raw` raises `DataError`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..params import DatasetSpec, Policy
from .column_rules import (
    check_categorical,
    check_labels,
    check_not_constant,
    check_numeric,
    check_required_columns,
    handle_missing_numeric,
)
from .columns import FAVOURABLE, PERIOD, ROW_ID
from .group_rules import add_derived, check_groups, check_periods
from .poisoning import screen_poisoning
from .row_rules import apply_retention, apply_row_filters, screen_personal_data
from .validation_report import ValidationReport


def validate(raw: pd.DataFrame, spec: DatasetSpec, policy: Policy, file: str
             ) -> tuple[pd.DataFrame | None, ValidationReport]:
    """Apply every rule; return the typed frame only when all blocking rules pass."""
    report = ValidationReport(file=file, rows=len(raw))
    report.location = "row" if raw.attrs.get("format") == "parquet" else "line"
    if raw.empty:
        report.add("schema", "non_empty", None, False, f"{file}: the file has no data rows")
        return None, report
    report.add("schema", "non_empty", None, True, f"{file}: {len(raw)} rows")
    present = check_required_columns(raw, spec, report)
    screen_personal_data(raw, spec, policy, report)
    kept = apply_row_filters(raw, spec, present, report)
    kept = apply_retention(kept, spec, policy, present, report)
    if kept.empty:
        report.add("schema", "rows_after_filters", None, False,
                   f"{file}: rule row_filters: every row was removed by row_filters")
        return None, report
    typed = kept.copy()
    missing_numeric = pd.Series(False, index=kept.index)
    for column in spec.numeric_columns:
        if column in present:
            typed[column], missing = check_numeric(kept[column], column, spec, report)
            missing_numeric |= missing
    for column in spec.categorical_columns:
        if column in present:
            typed[column] = check_categorical(kept[column], column, spec, report)
    for column in spec.model_features:   # in the file: a row filter may pin a column on purpose
        if column in present:
            check_not_constant(raw[column], column, report)
    typed = handle_missing_numeric(typed, missing_numeric, spec, report)
    if spec.target in present:
        check_labels(typed[spec.target], spec, report)
    add_derived(typed, spec, present, file, report)
    check_groups(typed, spec, policy, file, report)
    if spec.time is not None and spec.time.column in present:
        periods = check_periods(typed[spec.time.column], spec.time, report)
        if periods is not None:
            typed[PERIOD] = periods
    report.rows_used = len(typed)
    if report.valid:
        report.poisoning = screen_poisoning(typed, kept, spec, policy, report)
        return _finish(typed, spec), report
    return None, report


def _finish(typed: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    dropped = set(spec.ignore_columns) | set(spec.identifier_columns)
    keep = [c for c in typed.columns if c not in dropped]
    frame = typed[keep].reset_index(drop=True)
    frame.insert(0, ROW_ID, np.arange(len(frame), dtype=np.int64))
    frame[FAVOURABLE] = frame[spec.target].isin(spec.favourable_values).astype(np.int8)
    for column in spec.categorical_columns:
        frame[column] = frame[column].astype(str)
    return frame
