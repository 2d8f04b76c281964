"""A production batch (issue 11) checked against the training schema: the same column and
label rules, applied to one incoming batch."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.column_rules import check_numeric, handle_missing_numeric, missing_mask
from ..data.columns import FAVOURABLE, MISSING_CATEGORY, ROW_ID
from ..data.group_rules import add_derived
from ..data.validation_report import ValidationReport
from ..params import DatasetSpec


def validate_batch(raw: pd.DataFrame, spec: DatasetSpec, file: str
                   ) -> tuple[pd.DataFrame | None, ValidationReport]:
    """A batch read with the training schema: the model's inputs and the sensitive sources must
    be present and typed as in training; the target is optional (labels may come later) but
    must be a declared label when present. Group sizes and periods are not required of a batch.
    """
    report = ValidationReport(file=file, rows=len(raw))
    report.location = "row" if raw.attrs.get("format") == "parquet" else "line"
    if raw.empty:
        report.add("schema", "non_empty", None, False, f"{file}: the file has no data rows")
        return None, report
    present = set(raw.columns)
    required = list(dict.fromkeys([*spec.model_features,
                                   *(d.source for d in spec.derived.values()),
                                   *(f for f in spec.sensitive_features if f not in spec.derived)]))
    for column in required:
        ok = column in present
        report.add("schema", "required_column", column, ok,
                   "present" if ok else f"{file}: required column {column!r} is missing "
                                        "(the training schema needs it)")
    typed = raw.copy()
    missing = pd.Series(False, index=raw.index)
    for column in (c for c in spec.numeric_columns if c in present and c in required):
        typed[column], gap = check_numeric(raw[column], column, spec, report)
        missing |= gap
    for column in (c for c in spec.categorical_columns if c in present and c in required):
        typed[column] = raw[column].where(~missing_mask(raw[column],
                                                         spec.missing_codes_for(column)),
                                          MISSING_CATEGORY).astype(str)
    typed = handle_missing_numeric(typed, missing, spec, report)
    if spec.target in present:
        _check_batch_labels(typed[spec.target], spec, report)
    add_derived(typed, spec, present, file, report)
    report.rows_used = len(typed)
    if not report.valid:
        return None, report
    frame = typed.reset_index(drop=True)
    frame.insert(0, ROW_ID, typed.index.to_numpy(dtype=np.int64))
    if spec.target in present:
        labelled = frame[spec.target].str.strip() != ""
        favourable = frame[spec.target].isin(spec.favourable_values).astype(float)
        frame[FAVOURABLE] = favourable.where(labelled)  # NaN: not labelled yet
    return frame, report


def _check_batch_labels(labels: pd.Series, spec: DatasetSpec, report: ValidationReport) -> None:
    """Labels that arrived must be declared ones; an empty cell means not labelled yet."""
    given = labels[labels.str.strip() != ""]
    unknown = given[~given.isin(spec.known_labels)]
    if len(unknown):
        report.add("labels", "known_label", spec.target, False,
                   f"{report.file}: column {spec.target!r} rule known_label: {len(unknown)} "
                   f"value(s) outside {spec.known_labels}, first {unknown.iloc[0]!r} at "
                   f"{report.where(unknown.index[0])}", float(len(unknown)))
    else:
        report.add("labels", "known_label", spec.target, True, "every label is declared", 0.0)
