"""Sensitive groups and periods: derived attributes, group minimums (and the small-group
rule), and the reference / current periods of the time column."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..params import DatasetSpec, DerivedFeature, Policy, TimeSelection
from .validation_report import ValidationReport


def add_derived(typed: pd.DataFrame, spec: DatasetSpec, present: set[str], file: str,
                 report: ValidationReport) -> None:
    """Decode or band each derived attribute whose source column the file has (in place)."""
    for name, rule in spec.derived.items():
        if rule.source in present:
            derived = _derive(typed[rule.source], name, rule, file, report)
            if derived is not None:
                typed[name] = derived


def _derive(source: pd.Series, name: str, rule: DerivedFeature, file: str,
            report: ValidationReport) -> pd.Series | None:
    if rule.mapping is not None:
        unknown = sorted(set(source.astype(str)) - set(rule.mapping))
        if unknown:
            message = (f"{file}: column {rule.source!r} rule known_code: code(s) {unknown} have "
                       f"no mapping to {name!r}")
            report.add("groups", "known_code", rule.source, False, message, float(len(unknown)))
            return None
        return derived_column(source, rule)
    if pd.to_numeric(source, errors="coerce").isna().any():
        return None
    return derived_column(source, rule)


def derived_column(source: pd.Series, rule: DerivedFeature) -> pd.Series:
    """A sensitive attribute from its source column: a code mapping or numeric bands."""
    if rule.mapping is not None:
        return source.astype(str).map(rule.mapping)
    edges = [-np.inf, *rule.band_edges, np.inf]
    return pd.cut(pd.to_numeric(source), edges, labels=rule.band_labels, right=False).astype(str)


OTHER_GROUP = "other"


def small_group_rule(spec: DatasetSpec, policy: Policy) -> str:
    """policy.small_groups, its null resolved: fail for a model trained here,
    insufficient_evidence for an external one (an audit)."""
    if policy.small_groups is not None:
        return policy.small_groups
    return "insufficient_evidence" if spec.external else "fail"


def check_groups(typed: pd.DataFrame, spec: DatasetSpec, policy: Policy, file: str,
                  report: ValidationReport) -> None:
    rule = small_group_rule(spec, policy)
    report.small_groups = {"rule": rule, "min_group_size": policy.min_group_size,
                           "attributes": {}}
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
            _small_groups(typed, feature, sizes, small, rule, spec, policy, file, report)
        else:
            report.add("groups", "min_group_size", feature, True,
                       f"smallest group has {int(sizes.min())} rows", float(sizes.min()))


def _small_groups(typed: pd.DataFrame, feature: str, sizes: pd.Series, small: pd.Series,
                  rule: str, spec: DatasetSpec, policy: Policy, file: str,
                  report: ValidationReport) -> None:
    """Groups below policy.min_group_size, handled as policy.small_groups says (in place)."""
    listed = ", ".join(f"{k!r}={v}" for k, v in small.items())
    below = (f"{file}: column {feature!r} rule min_group_size: group(s) {listed} below "
             f"policy.min_group_size={policy.min_group_size}")
    groups = {str(k): int(v) for k, v in small.items()}
    if rule == "fail":
        source = spec.derived[feature].source if feature in spec.derived else feature
        message = (f"{below}. To judge the other groups: policy.small_groups: "
                   f"insufficient_evidence (the small group is reported as insufficient "
                   f"evidence) or merge (groups below the minimum become one group "
                   f"{OTHER_GROUP!r}); or map groups together yourself with "
                   f"datasets.<name>.derived.{feature}: {{source: {source}, mapping: {{...}}}}")
        report.add("groups", "min_group_size", feature, False, message, float(small.min()))
        return
    if rule == "insufficient_evidence":
        report.small_groups["attributes"][feature] = {"handled": "insufficient_evidence",
                                                      "groups": groups}
        report.add("groups", "min_group_size", feature, True,
                   f"{below}: reported as insufficient evidence (policy.small_groups), the "
                   f"other groups judged", float(small.min()))
        return
    if feature in spec.model_features:
        report.add("groups", "min_group_size", feature, False,
                   f"{below}; policy.small_groups: merge cannot rewrite {feature!r}, a model "
                   f"input: declare a derived attribute (datasets.<name>.derived) from it and "
                   f"use that as the sensitive feature", float(small.min()))
        return
    merged = typed[feature].astype(str).isin(list(groups))
    typed[feature] = typed[feature].astype(str).where(~merged, OTHER_GROUP)
    after = typed[feature].value_counts().sort_index()
    report.group_sizes[feature] = {str(k): int(v) for k, v in after.items()}
    size = int(after.get(OTHER_GROUP, 0))
    still = size < policy.min_group_size
    report.small_groups["attributes"][feature] = {
        "handled": "merge", "into": OTHER_GROUP, "groups": groups, "merged_rows": size,
        "merged_group_still_small": still}
    note = (f"; {OTHER_GROUP!r} has {size} rows, still below the minimum: reported as "
            "insufficient evidence" if still else f" ({size} rows)")
    report.add("groups", "min_group_size", feature, True,
               f"{below}: merged into group {OTHER_GROUP!r} (policy.small_groups: merge)"
               f"{note}", float(after.min()))


def period_labels(values: pd.Series, time: TimeSelection) -> tuple[pd.Series, pd.Series]:
    """'reference', 'current' or '' per row, and the rows whose time value could not be read.

    Value lists compare text; a cutoff or range compares numbers when every value and bound is
    a number (years), dates otherwise (ISO dates, datetimes).
    """
    text = values.astype(str).str.strip()
    if time.reference is not None:
        labels = np.select([text.isin(time.reference_values), text.isin(time.current_values)],
                           ["reference", "current"], "")
        return pd.Series(labels, index=values.index), pd.Series(False, index=values.index)
    bounds = [time.cutoff] if time.cutoff is not None else [
        b for rng in (time.reference_range, time.current_range) for b in (rng.start, rng.end)
        if b is not None]
    as_number = pd.to_numeric(text, errors="coerce")
    numeric = as_number.notna().all() and pd.to_numeric(pd.Series(bounds), errors="coerce"
                                                        ).notna().all()
    parse = (lambda v: float(v)) if numeric else pd.Timestamp
    moments = as_number if numeric else pd.to_datetime(text, errors="coerce", format="mixed")
    unreadable = moments.isna()
    if time.cutoff is not None:
        cut = parse(time.cutoff)
        labels = np.select([moments < cut, moments >= cut], ["reference", "current"], "")
    else:
        labels = np.select([_within(moments, time.reference_range, parse),
                            _within(moments, time.current_range, parse)],
                           ["reference", "current"], "")
    return pd.Series(labels, index=values.index), unreadable


def _within(moments: pd.Series, rng, parse) -> pd.Series:
    inside = pd.Series(True, index=moments.index)
    if rng.start is not None:
        inside &= moments >= parse(rng.start)
    if rng.end is not None:
        inside &= moments < parse(rng.end)
    return inside


def check_periods(values: pd.Series, time: TimeSelection, report: ValidationReport
                   ) -> pd.Series | None:
    try:
        labels, unreadable = period_labels(values, time)
    except (ValueError, TypeError) as exc:
        report.add("schema", "time_periods", time.column, False,
                   f"{report.file}: column {time.column!r} rule time_periods: bound cannot be "
                   f"read: {exc}")
        return None
    if unreadable.any():
        first = unreadable.idxmax()
        report.add("schema", "time_periods", time.column, False,
                   f"{report.file}: column {time.column!r} rule time_periods: "
                   f"{int(unreadable.sum())} value(s) not a date or number, first "
                   f"{values.loc[first]!r} at {report.where(first)}")
        return None
    counts = labels.value_counts()
    report.periods = {**time.describe(), "reference_rows": int(counts.get("reference", 0)),
                      "current_rows": int(counts.get("current", 0)),
                      "rows_in_neither": int(counts.get("", 0))}
    empty = [name for name in ("reference", "current") if counts.get(name, 0) == 0]
    if empty:
        report.add("schema", "time_periods", time.column, False,
                   f"{report.file}: column {time.column!r} rule time_periods: no rows in the "
                   f"{' and '.join(empty)} period ({time.describe()})")
        return None
    report.add("schema", "time_periods", time.column, True,
               f"{report.periods['reference_rows']} reference rows, "
               f"{report.periods['current_rows']} current rows, "
               f"{report.periods['rows_in_neither']} in neither")
    return labels
