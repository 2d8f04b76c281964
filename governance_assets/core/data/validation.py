"""Schema, label, group and poisoning rules on a raw file; every finding names file, column, rule.

Validation never raises on bad data: it returns findings, and the blocking gates decide. Only a
valid file yields a typed frame, so nothing downstream is built from data that failed a rule.
The one exception is a file that cannot be read at all: `read_raw` raises `DataError`.
"""

from __future__ import annotations

import csv
import difflib
import gzip
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..params import DatasetSpec, DerivedFeature, Policy, RowFilter, TimeSelection
from .columns import FAVOURABLE, MISSING_CATEGORY, PERIOD, ROW_ID
from .text import blank

HEADER_LINES = 1
MAX_ABS_VALUE = 1e12  # beyond this a "number" is a sentinel or an attack, and breaks training
PARQUET_SUFFIXES = (".parquet", ".pq")
# A declared categorical column is taken for a mistyped numeric one when nearly every value is
# a number, it has many distinct values and most of them are rare (one-row categories).
LOOKS_NUMERIC_MIN_DISTINCT = 50
LOOKS_NUMERIC_RARE_ROWS = 5
# Poisoning screen: Tukey's far-out fence (3 IQR) on a sign-preserving log scale, and "near
# duplicate" = same categories and every number within about 1 % (0.01 in log1p units).
FENCE_IQR = 3.0
FENCE_MIN_SPREAD = 0.5
NEAR_DUPLICATE_LOG_DISTANCE = 0.01


class DataError(ValueError):
    """The raw file cannot be read as a table; the message names the file and where it broke."""


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
        """Valid means every rule of the blocking gates passed (the outlier screen only warns)."""
        return not any(not f.passed for f in self.findings if f.gate != "outliers")

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


def read_dataset(root: Path, name: str, spec: DatasetSpec) -> pd.DataFrame:
    """The dataset's raw file, read with its params block's delimiter and size limit."""
    return read_raw(root / spec.path, spec.delimiter, spec.max_file_mb, f"datasets.{name}")


def read_raw(path: Path, delimiter: str = ",", max_file_mb: float | None = None,
             params_key: str = "datasets.<name>") -> pd.DataFrame:
    """Every cell as text, so type rules can name the offending value instead of guessing.

    CSV (optionally gzipped) or Parquet, by suffix. An empty file is an empty frame (the
    validation report says so); a file that is not a readable table, is larger than
    `max_file_mb`, repeats a column name or uses another delimiter raises DataError, naming
    the params key that changes it.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    _check_size(path, max_file_mb, params_key)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return _read_parquet(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, sep=delimiter)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: not a readable CSV table: {exc}. Every line must have the "
                        "header's number of comma-separated fields; quote fields that "
                        "contain commas.") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text at {_byte_position(path, exc.start)}: "
                        f"{exc.reason} (byte {exc.object[exc.start:exc.start + 1]!r}). Save the "
                        "file as UTF-8 CSV, or give a .parquet file.") from exc
    _check_header(path, len(frame.columns), delimiter, params_key)
    frame.attrs["format"] = "csv"
    return frame


def _check_size(path: Path, max_file_mb: float | None, params_key: str) -> None:
    """Refuse before reading: a table in memory takes several times its file size."""
    size_mb = path.stat().st_size / 2**20
    if max_file_mb is not None and size_mb > max_file_mb:
        raise DataError(f"{path}: {size_mb:,.0f} MB is above {params_key}.max_file_mb "
                        f"({max_file_mb:g}); reading it takes several times that in memory. "
                        "Raise the limit if the machine has the memory, or give a sample.")


def _header(path: Path, delimiter: str) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
        return next(csv.reader(handle, delimiter=delimiter), [])


def _check_header(path: Path, columns: int, delimiter: str, params_key: str) -> None:
    """pandas renames a repeated column to 'name.1' and reads a ';' file as one column;
    both would surface later as 'required column missing', far from the cause."""
    header = _header(path, delimiter)
    repeated = {name: [i + 1 for i, n in enumerate(header) if n == name]
                for name in header if header.count(name) > 1}
    if repeated:
        name, places = next(iter(repeated.items()))
        raise DataError(f"{path}: column {name!r} appears {len(places)} times in the header "
                        f"(columns {', '.join(map(str, places))}); give each column its own "
                        "name")
    if columns == 1 and header:
        for other in (";", "\t", "|", ","):
            if other != delimiter and other in header[0]:
                raise DataError(f"{path}: the header reads as one column: the file looks "
                                f"separated by {other!r}, not {delimiter!r}; set "
                                f"{params_key}.delimiter: {other!r}")


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a damaged file
        raise DataError(f"{path}: not a readable Parquet file: {exc}") from exc
    text = frame.astype(object).where(frame.notna(), "").astype(str)
    text.attrs["format"] = "parquet"
    return text.reset_index(drop=True)


def _byte_position(path: Path, offset: int) -> str:
    """Line and column of a byte offset, so the message points at the bad character."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        head = handle.read(offset)
    line = head.count(b"\n") + 1
    column = offset - (head.rfind(b"\n") + 1) + 1
    return f"line {line}, column {column}"


def validate(raw: pd.DataFrame, spec: DatasetSpec, policy: Policy, file: str
             ) -> tuple[pd.DataFrame | None, ValidationReport]:
    """Apply every rule; return the typed frame only when all blocking rules pass."""
    report = ValidationReport(file=file, rows=len(raw))
    report.location = "row" if raw.attrs.get("format") == "parquet" else "line"
    if raw.empty:
        report.add("schema", "non_empty", None, False, f"{file}: the file has no data rows")
        return None, report
    report.add("schema", "non_empty", None, True, f"{file}: {len(raw)} rows")
    present = _check_required_columns(raw, spec, report)
    _screen_personal_data(raw, spec, policy, report)
    kept = _apply_row_filters(raw, spec, present, report)
    kept = _apply_retention(kept, spec, policy, present, report)
    if kept.empty:
        report.add("schema", "rows_after_filters", None, False,
                   f"{file}: rule row_filters: every row was removed by row_filters")
        return None, report
    typed = kept.copy()
    missing_numeric = pd.Series(False, index=kept.index)
    for column in spec.numeric_columns:
        if column in present:
            typed[column], missing = _check_numeric(kept[column], column, spec, report)
            missing_numeric |= missing
    for column in spec.categorical_columns:
        if column in present:
            typed[column] = _check_categorical(kept[column], column, spec, report)
    for column in spec.model_features:   # in the file: a row filter may pin a column on purpose
        if column in present:
            _check_not_constant(raw[column], column, report)
    typed = _handle_missing_numeric(typed, missing_numeric, spec, report)
    if spec.target in present:
        _check_labels(typed[spec.target], spec, report)
    _add_derived(typed, spec, present, file, report)
    _check_groups(typed, spec, policy, file, report)
    if spec.time is not None and spec.time.column in present:
        periods = _check_periods(typed[spec.time.column], spec.time, report)
        if periods is not None:
            typed[PERIOD] = periods
    report.rows_used = len(typed)
    if report.valid:
        report.poisoning = screen_poisoning(typed, kept, spec, policy, report)
        return _finish(typed, spec), report
    return None, report


def _check_required_columns(raw: pd.DataFrame, spec: DatasetSpec, report: ValidationReport
                            ) -> set[str]:
    present = set(raw.columns)
    unexpected = [c for c in raw.columns if c not in spec.raw_columns]
    for column in spec.raw_columns:
        ok = column in present
        message = "present" if ok else f"{report.file}: required column {column!r} is missing"
        if not ok and (near := difflib.get_close_matches(column, unexpected, n=1, cutoff=0.8)):
            message += f" (the file has {near[0]!r}: a typo, or another spelling?)"
        report.add("schema", "required_column", column, ok, message)
    return present


def _screen_personal_data(raw: pd.DataFrame, spec: DatasetSpec, policy: Policy,
                          report: ValidationReport) -> None:
    """Direct identifiers and keys in disguise: an undeclared one fails, naming the column."""
    from . import personal_data

    findings = personal_data.screen(raw, spec.identifier_columns, policy.national_id_patterns,
                                    policy.max_identifier_values, policy.max_distinct_share)
    report.personal_data = personal_data.summary(findings, spec.identifier_columns)
    undeclared = [f for f in findings if not f.declared]
    for finding in undeclared:
        report.add("personal_data", finding.pattern, finding.column, False,
                   finding.describe(report.file), float(finding.matching_values))
    if not undeclared:
        report.add("personal_data", "personal_data", None, True,
                   f"{len(raw.columns)} columns screened; declared identifiers "
                   f"{spec.identifier_columns or 'none'} excluded", 0.0)


def _apply_retention(kept: pd.DataFrame, spec: DatasetSpec, policy: Policy, present: set[str],
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


def _apply_row_filters(raw: pd.DataFrame, spec: DatasetSpec, present: set[str],
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


def _missing_mask(values: pd.Series, codes: list[str]) -> pd.Series:
    """Declared missing codes, matched as text and, for numeric codes, by value."""
    missing = values.isin(codes) | blank(values)
    numeric_codes = pd.to_numeric(pd.Series(codes, dtype=object), errors="coerce").dropna()
    if len(numeric_codes):
        missing |= pd.to_numeric(values, errors="coerce").isin(numeric_codes.tolist())
    return missing


def _check_numeric(values: pd.Series, column: str, spec: DatasetSpec, report: ValidationReport
                   ) -> tuple[pd.Series, pd.Series]:
    """Parsed numbers, and which rows held a missing code. Text, inf and 1e300 are findings."""
    missing = _missing_mask(values, spec.missing_codes_for(column))
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


def _check_not_constant(values: pd.Series, column: str, report: ValidationReport) -> None:
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


def _check_categorical(values: pd.Series, column: str, spec: DatasetSpec,
                       report: ValidationReport) -> pd.Series:
    """Missing codes become one category; a numeric column declared categorical is an error."""
    missing = _missing_mask(values, spec.missing_codes_for(column))
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


def _handle_missing_numeric(typed: pd.DataFrame, missing: pd.Series, spec: DatasetSpec,
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


def _check_labels(labels: pd.Series, spec: DatasetSpec, report: ValidationReport) -> None:
    known = spec.known_labels
    unknown = labels[~labels.isin(known)]
    if len(unknown):
        message = (f"{report.file}: column {spec.target!r} rule known_label: {len(unknown)} "
                   f"value(s) outside {known}, first {unknown.iloc[0]!r} at "
                   f"{report.where(unknown.index[0])}")
        report.add("labels", "known_label", spec.target, False, message, float(len(unknown)))
    else:
        report.add("labels", "known_label", spec.target, True, "every label is declared", 0.0)
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


def _add_derived(typed: pd.DataFrame, spec: DatasetSpec, present: set[str], file: str,
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


def _check_groups(typed: pd.DataFrame, spec: DatasetSpec, policy: Policy, file: str,
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


def _check_periods(values: pd.Series, time: TimeSelection, report: ValidationReport
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


def signed_log(values: pd.Series) -> pd.Series:
    """sign(x) * log(1 + |x|): money and counts become comparable spreads, zeros stay zero."""
    return np.sign(values) * np.log1p(values.abs())


def extreme_values(values: pd.Series) -> pd.Series:
    """Values beyond Tukey's far-out fence (3 IQR) on the signed-log scale.

    Plain IQR fences never screen zero-inflated columns (IQR 0) and flag a share of every
    heavy-tailed one (income, amounts). On the log scale the tails are ordinary; when one value
    holds most rows (zeros), the quartiles are taken over the other values, and that value is
    never flagged. The fence is robust while poison stays under a quarter of those rows.
    """
    logged = signed_log(values)
    mode = values.mode().iloc[0]
    at_mode = values == mode
    if at_mode.mean() <= 0.5:
        at_mode = pd.Series(False, index=values.index)
    base = logged[~at_mode]
    if base.empty:
        return pd.Series(False, index=values.index)
    q1, q3 = base.quantile([0.25, 0.75])
    spread = max(q3 - q1, FENCE_MIN_SPREAD)
    outside = (logged < q1 - FENCE_IQR * spread) | (logged > q3 + FENCE_IQR * spread)
    return outside & ~at_mode


def label_flipped_near_duplicates(typed: pd.DataFrame, spec: DatasetSpec) -> pd.Series:
    """Rows with a near-identical twin (not an exact copy) that carries only the other label.

    The usual label-flip poison copies real rows, nudges a number so exact de-duplication
    misses the copy, and flips the label. Exact duplicates with mixed labels are left alone:
    with few, coarse features they are common in clean data (arrests: about 45 % of rows).
    """
    from scipy.spatial import cKDTree

    numeric = [c for c in spec.numeric_columns if c in typed.columns]
    categorical = [c for c in spec.categorical_columns if c in typed.columns]
    if not numeric:
        return pd.Series(False, index=typed.index)
    favourable = typed[spec.target].isin(spec.favourable_values)
    vector_id = typed.groupby(numeric + categorical, sort=False, dropna=False).ngroup()
    has_favourable = favourable.groupby(vector_id).any().to_numpy()
    has_other = (~favourable).groupby(vector_id).any().to_numpy()
    unique = typed.groupby(vector_id)[numeric + categorical].first()
    # One tree over all distinct rows: the categories become one coordinate 10 apart per
    # combination, so only rows with equal categories can fall within distance 1.
    block = unique.groupby(categorical, sort=False, dropna=False).ngroup() if categorical \
        else pd.Series(0, index=unique.index)
    points = np.column_stack([signed_log(unique[numeric]) / NEAR_DUPLICATE_LOG_DISTANCE,
                              block.to_numpy() * 10.0])
    pairs = cKDTree(points).query_pairs(1.0, p=np.inf, output_type="ndarray")
    suspect_favourable, suspect_other = set(), set()
    for mine, twin in np.concatenate([pairs, pairs[:, ::-1]]):
        if has_favourable[twin] and not has_other[twin] and has_other[mine]:
            suspect_other.add(mine)
        if has_other[twin] and not has_favourable[twin] and has_favourable[mine]:
            suspect_favourable.add(mine)
    return ((vector_id.isin(suspect_other) & ~favourable)
            | (vector_id.isin(suspect_favourable) & favourable))


def screen_poisoning(typed: pd.DataFrame, kept: pd.DataFrame, spec: DatasetSpec,
                     policy: Policy, report: ValidationReport) -> dict:
    """Extreme values and label-flipped near-duplicates; duplicates are counted, not flagged.

    Exact duplicates are counted over every column of the file (a row repeated in full);
    duplicates of the model inputs alone, and those whose labels disagree, are reported too.
    None of them is flagged: natural data repeats rows (the census sample: children).
    """
    extreme = {c: extreme_values(typed[c]) for c in spec.numeric_columns if c in typed.columns}
    any_extreme = pd.Series(False, index=typed.index)
    for mask in extreme.values():
        any_extreme |= mask
    flipped = label_flipped_near_duplicates(typed, spec)
    flagged = any_extreme | flipped
    share = float(flagged.mean())
    inputs = [c for c in spec.numeric_columns + spec.categorical_columns if c in typed.columns]
    feature_dup = typed.duplicated(subset=inputs, keep=False)
    mixed = typed[feature_dup].groupby(inputs, dropna=False)[spec.target].transform("nunique") > 1
    details = {
        "flagged_rows": int(flagged.sum()),
        "flagged_share": round(share, 6),
        "extreme_value_rows": int(any_extreme.sum()),
        "extreme_values_by_column": {c: int(m.sum()) for c, m in extreme.items() if m.any()},
        "label_flipped_near_duplicate_rows": int(flipped.sum()),
        "exact_duplicate_rows": int(kept.duplicated(keep="first").sum()),
        "feature_duplicate_rows": int(typed.duplicated(subset=inputs, keep="first").sum()),
        "feature_duplicate_rows_with_mixed_labels": int(mixed.sum()),
        "rule": (f"flagged = a numeric value beyond {FENCE_IQR:g} IQR on the signed-log scale, "
                 "or a near-duplicate (same categories, every number within ~1 %, not an exact "
                 "copy) carrying only the other label; duplicates are counted, not flagged"),
    }
    ok = share <= policy.max_outlier_share
    message = (f"{report.file}: rule outlier_screen: {details['extreme_value_rows']} rows with "
               f"extreme values, {details['label_flipped_near_duplicate_rows']} label-flipped "
               f"near-duplicates; share {share:.3f} {'<=' if ok else '>'} "
               f"policy.max_outlier_share={policy.max_outlier_share} "
               f"({details['exact_duplicate_rows']} exact duplicate rows, not flagged)")
    report.add("outliers", "outlier_screen", None, ok, message, share)
    return details


def _finish(typed: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    dropped = set(spec.ignore_columns) | set(spec.identifier_columns)
    keep = [c for c in typed.columns if c not in dropped]
    frame = typed[keep].reset_index(drop=True)
    frame.insert(0, ROW_ID, np.arange(len(frame), dtype=np.int64))
    frame[FAVOURABLE] = frame[spec.target].isin(spec.favourable_values).astype(np.int8)
    for column in spec.categorical_columns:
        frame[column] = frame[column].astype(str)
    return frame


# --- Production batches (issue 11): the training schema, applied to one incoming batch. ---

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
        typed[column], gap = _check_numeric(raw[column], column, spec, report)
        missing |= gap
    for column in (c for c in spec.categorical_columns if c in present and c in required):
        typed[column] = raw[column].where(~_missing_mask(raw[column],
                                                         spec.missing_codes_for(column)),
                                          MISSING_CATEGORY).astype(str)
    typed = _handle_missing_numeric(typed, missing, spec, report)
    if spec.target in present:
        _check_batch_labels(typed[spec.target], spec, report)
    _add_derived(typed, spec, present, file, report)
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
