"""Schema, label, group and poisoning rules on a raw file; every finding names file, column, rule.

One validator for the training data and for every production batch: the same rules, in the same
order, with the same messages. What a batch legitimately does not owe is an option of that one
validator (`Expectations`), not a second code path: its target may be absent or blank (labels
arrive later), and the rules that judge a whole dataset (group minimums, periods, inputs held at
one value, the poisoning screen) are for the data a model is trained on.

Validation never raises on bad data: it returns findings, and the blocking gates decide. Only a
valid file yields a typed frame, so nothing downstream is built from data that failed a rule.
The one exception is a file that cannot be read at all: `raw_files.read_raw` raises `DataError`.
"""

from __future__ import annotations

from dataclasses import dataclass

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
from .text import blank
from .validation_report import ValidationReport


@dataclass(frozen=True)
class Expectations:
    """What the file is for decides what it owes beyond the shared rules."""

    labelled: bool
    """Every row carries a declared label and both outcomes occur (training). False: the target
    column may be absent and an empty cell means "not labelled yet" (a production batch)."""
    whole_dataset: bool
    """Rules that judge the data a model is trained on as a whole: sensitive groups present and
    above policy.min_group_size, the time periods, no model input held at one value, the
    poisoning screen, and the near-unique (key in disguise) rule on the schema's own columns.
    A batch is a sample: not trained on, its group sizes are monitoring's evidence, an input
    held at one value in it is drift (which monitoring measures), and a sample of a column is
    more distinct the smaller it is. Every personal-data pattern, and the near-unique rule on
    a column the schema does not know, still applies to a batch."""
    row_ids_from_file: bool
    """`_row_id` is the row's position in the file (the decision log addresses rows by it),
    not a count of the rows kept."""


TRAINING = Expectations(labelled=True, whole_dataset=True, row_ids_from_file=False)
BATCH = Expectations(labelled=False, whole_dataset=False, row_ids_from_file=True)


def validate(raw: pd.DataFrame, spec: DatasetSpec, policy: Policy, file: str,
             expect: Expectations = TRAINING) -> tuple[pd.DataFrame | None, ValidationReport]:
    """Apply every rule; return the typed frame only when all blocking rules pass."""
    report = ValidationReport(file=file, rows=len(raw))
    report.location = "row" if raw.attrs.get("format") == "parquet" else "line"
    if raw.empty:
        report.add("schema", "non_empty", None, False, f"{file}: the file has no data rows")
        return None, report
    report.add("schema", "non_empty", None, True, f"{file}: {len(raw)} rows")
    present = check_required_columns(raw, spec, report, _optional_columns(spec, expect))
    screen_personal_data(raw, spec, policy, report, sample=not expect.whole_dataset)
    kept = apply_row_filters(raw, spec, present, report)
    kept = apply_retention(kept, spec, policy, present, report)
    if kept.empty:
        report.add("schema", "rows_after_filters", None, False,
                   f"{file}: rule row_filters: every row was removed by row_filters")
        return None, report
    typed = _typed_columns(raw, kept, spec, present, expect, report)
    if spec.target in present:
        check_labels(typed[spec.target], spec, report, unlabelled_allowed=not expect.labelled)
    add_derived(typed, spec, present, file, report)
    if expect.whole_dataset:
        _check_whole_dataset(typed, spec, policy, present, report)
    report.rows_used = len(typed)
    if not report.valid:
        return None, report
    if expect.whole_dataset:
        report.poisoning = screen_poisoning(typed, kept, spec, policy, report)
    return _finish(typed, spec, expect), report


def _optional_columns(spec: DatasetSpec, expect: Expectations) -> set[str]:
    """Columns of the training schema a batch may lack: the target (labels come later) and
    the time column (periods split the training data only)."""
    if expect.labelled:
        return set()
    return {spec.target, *([spec.time.column] if spec.time and not expect.whole_dataset else [])}


def _typed_columns(raw: pd.DataFrame, kept: pd.DataFrame, spec: DatasetSpec, present: set[str],
                   expect: Expectations, report: ValidationReport) -> pd.DataFrame:
    """Numbers parsed, categories with their missing codes folded; missing numbers handled."""
    typed = kept.copy()
    missing_numeric = pd.Series(False, index=kept.index)
    for column in spec.numeric_columns:
        if column in present:
            typed[column], missing = check_numeric(kept[column], column, spec, report)
            missing_numeric |= missing
    for column in spec.categorical_columns:
        if column in present:
            typed[column] = check_categorical(kept[column], column, spec, report)
    if expect.whole_dataset:
        for column in spec.model_features:   # in the file: a row filter may pin a column on purpose
            if column in present:
                check_not_constant(raw[column], column, report)
    return handle_missing_numeric(typed, missing_numeric, spec, report)


def _check_whole_dataset(typed: pd.DataFrame, spec: DatasetSpec, policy: Policy,
                         present: set[str], report: ValidationReport) -> None:
    """Sensitive groups large enough to judge, and the time axis's periods (in place)."""
    check_groups(typed, spec, policy, report.file, report)
    if spec.time is not None and spec.time.column in present:
        periods = check_periods(typed[spec.time.column], spec.time, report)
        if periods is not None:
            typed[PERIOD] = periods


def _finish(typed: pd.DataFrame, spec: DatasetSpec, expect: Expectations) -> pd.DataFrame:
    dropped = set(spec.ignore_columns) | set(spec.identifier_columns)
    keep = [c for c in typed.columns if c not in dropped]
    frame = typed[keep].reset_index(drop=True)
    row_ids = typed.index.to_numpy(dtype=np.int64) if expect.row_ids_from_file else \
        np.arange(len(frame), dtype=np.int64)
    frame.insert(0, ROW_ID, row_ids)
    if spec.target in frame.columns:
        frame[FAVOURABLE] = _favourable(frame[spec.target], spec, expect)
    for column in spec.categorical_columns:
        if column in frame.columns:
            frame[column] = frame[column].astype(str)
    return frame


def _favourable(labels: pd.Series, spec: DatasetSpec, expect: Expectations) -> pd.Series:
    """1 for a favourable label, 0 for another; NaN where a batch's row is not labelled yet."""
    favourable = labels.isin(spec.favourable_values)
    if expect.labelled:
        return favourable.astype(np.int8)
    return favourable.astype(float).where(~blank(labels))
