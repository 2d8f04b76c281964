"""One dataset's spec (datasets/<name>.yaml): the file, its labels, columns, sensitive
attributes, periods, cleaning rules, retention and an external candidate."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, model_validator

from .base import StrictModel
from .model import SearchConstraints


class DerivedFeature(StrictModel):
    """A sensitive attribute decoded from a raw column: by a code mapping or numeric bands."""

    source: str
    """The raw column the attribute is decoded from."""
    mapping: dict[str, str] | None = None
    """Raw code -> group name (give this or band_edges)."""
    band_edges: list[float] | None = None
    """Increasing numeric cut points; a value equal to an edge falls in the upper band."""
    band_labels: list[str] | None = None
    """One group name per band: one more than band_edges."""

    @model_validator(mode="after")
    def _one_rule(self) -> DerivedFeature:
        if (self.mapping is None) == (self.band_edges is None):
            raise ValueError("give exactly one of 'mapping' or 'band_edges'")
        if self.band_edges is not None:
            if sorted(self.band_edges) != self.band_edges:
                raise ValueError("'band_edges' must be increasing")
            if not self.band_labels or len(self.band_labels) != len(self.band_edges) + 1:
                raise ValueError("'band_labels' needs one label more than 'band_edges'")
        return self


class DateRange(StrictModel):
    """A half-open period [start, end): dates (ISO) or numbers; an open end is unbounded."""

    start: str | None = None
    """First date or number of the period (included); null = unbounded."""
    end: str | None = None
    """Date or number the period stops before (excluded); null = unbounded."""

    @model_validator(mode="after")
    def _bounded(self) -> DateRange:
        if self.start is None and self.end is None:
            raise ValueError("give 'start', 'end' or both")
        return self


class TimeSelection(StrictModel):
    """Reference and current periods for drift, read from a time column.

    Three ways to say it, exactly one per dataset: value lists (`reference: ["94"]`,
    `current: ["95"]`; a single value is a one-item list), date or number ranges
    (`reference_range`, `current_range`), or a `cutoff` (before it: reference; from it on:
    current). Rows in neither period are left out of modelling and drift, and counted.
    """

    column: str
    """The raw column that says when a row was recorded."""
    reference: str | list[str] | None = None
    """Values of the time column that make up the reference period."""
    current: str | list[str] | None = None
    """Values of the time column that make up the current period."""
    reference_range: DateRange | None = None
    """The reference period as a date or number range."""
    current_range: DateRange | None = None
    """The current period as a date or number range."""
    cutoff: str | None = None
    """Rows before it are the reference period, rows from it on the current one."""

    @model_validator(mode="before")
    @classmethod
    def _as_text(cls, data: object) -> object:
        """YAML reads 1997 as a number; the time column is compared as text."""
        if isinstance(data, dict):
            data = dict(data)
            for key in ("reference", "current", "cutoff"):
                value = data.get(key)
                if isinstance(value, list):
                    data[key] = [str(v) for v in value]
                elif value is not None:
                    data[key] = str(value)
        return data

    @property
    def reference_values(self) -> list[str]:
        return _as_list(self.reference)

    @property
    def current_values(self) -> list[str]:
        return _as_list(self.current)

    @model_validator(mode="after")
    def _one_way(self) -> TimeSelection:
        ways = [self.reference is not None or self.current is not None,
                self.reference_range is not None or self.current_range is not None,
                self.cutoff is not None]
        if sum(ways) != 1:
            raise ValueError("give exactly one of 'reference'/'current' value lists, "
                             "'reference_range'/'current_range', or 'cutoff'")
        if ways[0] and not (self.reference and self.current):
            raise ValueError("'reference' and 'current' both need at least one value")
        if ways[1] and (self.reference_range is None or self.current_range is None):
            raise ValueError("give both 'reference_range' and 'current_range'")
        return self

    def describe(self) -> dict[str, str]:
        """The two periods in words, for splits.json and the card."""
        if self.cutoff is not None:
            return {"reference": f"{self.column} < {self.cutoff}",
                    "current": f"{self.column} >= {self.cutoff}"}
        if self.reference is not None:
            return {"reference": f"{self.column} in {self.reference_values}",
                    "current": f"{self.column} in {self.current_values}"}
        return {name: f"{rng.start or '-inf'} <= {self.column} < {rng.end or '+inf'}"
                for name, rng in (("reference", self.reference_range),
                                  ("current", self.current_range))}


def _as_list(value: str | list[str] | None) -> list[str]:
    return [] if value is None else value if isinstance(value, list) else [value]


class LabelMapping(StrictModel):
    """Many raw target values folded into the two outcomes the gates need."""

    favourable: list[str] = Field(min_length=1)
    """Raw target values that mean the favourable outcome."""
    unfavourable: list[str] = Field(min_length=1)
    """Raw target values that mean the unfavourable outcome."""

    @model_validator(mode="before")
    @classmethod
    def _as_text(cls, data: object) -> object:
        if isinstance(data, dict):
            return {k: [str(v) for v in values] if isinstance(values, list) else values
                    for k, values in data.items()}
        return data

    @model_validator(mode="after")
    def _disjoint(self) -> LabelMapping:
        both = sorted(set(self.favourable) & set(self.unfavourable))
        if both:
            raise ValueError(f"value(s) {both} are both favourable and unfavourable")
        return self


class RowFilter(StrictModel):
    """One documented cleaning step of a published dataset: rows that fail it are dropped.

    `why` is required so the validation report and the card can say why rows went missing.
    Comparisons (<, <=, >, >=, between) are numeric; ==, !=, in, not_in compare text.
    """

    column: str
    """The raw column the rule reads."""
    op: Literal["==", "!=", "<", "<=", ">", ">=", "in", "not_in", "between"]
    """How a row's value is compared with `value`; a row that fails is dropped."""
    value: str | float | list[str | float]
    """A single value, a list (in, not_in) or [low, high] (between)."""
    why: str = Field(min_length=1)
    """Why the rows are dropped, quoted by the validation report and the card."""

    @model_validator(mode="after")
    def _value_fits(self) -> RowFilter:
        listed = isinstance(self.value, list)
        if self.op in ("in", "not_in") and not listed:
            raise ValueError(f"operator {self.op!r} needs a list value")
        if self.op == "between" and (not listed or len(self.value) != 2):
            raise ValueError("operator 'between' needs [low, high]")
        if self.op not in ("in", "not_in", "between") and listed:
            raise ValueError(f"operator {self.op!r} needs a single value")
        return self

    def describe(self) -> str:
        return f"{self.column} {self.op} {self.value!r} ({self.why})"


class RetentionSpec(StrictModel):
    """Where a row's collection date is, and the date its age is measured at.

    `as_of` is fixed in params (not today's date) so the same inputs keep the same rows and
    DVC's outputs stay byte-equal; move it forward when the data is refreshed.
    """

    column: str
    """The raw column holding each row's collection date."""
    as_of: str
    """ISO date (YYYY-MM-DD) a row's age is measured at."""

    @model_validator(mode="after")
    def _as_of_is_a_date(self) -> RetentionSpec:
        try:
            date.fromisoformat(self.as_of)
        except ValueError as exc:
            raise ValueError(f"'as_of' {self.as_of!r} is not an ISO date (YYYY-MM-DD)") from exc
        return self


class ExternalModel(StrictModel):
    """A scikit-learn model trained elsewhere, as a skops file under data/external/."""

    path: str
    """The skops file, under data/external/."""
    trusted_types: list[str] = []
    """Types skops may load from the file beyond its defaults (each one reviewed)."""
    provenance: str = Field(min_length=1)
    """Who trained the model, when and how: quoted by the card."""


class ExternalScores(StrictModel):
    """Scores or decisions already in the data, and the rule that makes a score a decision."""

    column: str
    """The numeric column holding the score (one of numeric_columns, not excluded)."""
    favourable_when: Literal[">=", ">", "<=", "<"]
    """How the score compares with `threshold` when the decision is favourable."""
    threshold: float
    """The score a decision turns at."""
    provenance: str = Field(min_length=1)
    """Where the scores come from: quoted by the card."""


class DatasetSpec(StrictModel):
    """Everything the pipeline needs to know about one dataset: one file datasets/<name>.yaml."""

    path: str
    """The raw file, under data/raw/ (DVC tracks that folder)."""
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    """The file's field separator."""
    max_file_mb: float = Field(default=512, gt=0)
    """A file above this size is refused before reading (a table in memory takes several
    times its file size)."""
    datasheet: str
    """The dataset's datasheet (Markdown), linked from the card."""
    license: str
    """The data's license (SPDX identifier), stated on the card."""
    intended_use: str
    """What the model may be used for, stated on the card."""
    limitations: list[str] = []
    """Known limitations of the data, listed on the card."""
    target: str
    """The column holding the outcome."""
    labels: list[str] | None = Field(default=None, min_length=2, max_length=2)
    """The two raw target values (give these and favourable_label, or label_mapping)."""
    favourable_label: str | None = None
    """The target value that means the favourable outcome (one of labels)."""
    label_mapping: LabelMapping | None = None
    """Many raw target values folded into favourable and unfavourable."""
    row_filters: list[RowFilter] = []
    """Documented cleaning steps: rows that fail one are dropped and counted."""
    numeric_columns: list[str]
    """Columns read as numbers."""
    categorical_columns: list[str]
    """Columns read as categories."""
    ignore_columns: list[str] = []
    """Columns of the file that are never read."""
    missing_values: list[str] = []
    """Codes meaning 'missing' in every column."""
    missing_codes: dict[str, list[str]] = {}
    """Codes meaning 'missing' in one column (matched as text and as a number)."""
    missing_numeric: Literal["fail", "drop_row"] = "fail"
    """A missing number: fail validation, or drop the row and count it."""
    derived: dict[str, DerivedFeature] = {}
    """Sensitive attributes decoded from a raw column, by name."""
    sensitive_features: list[str] = Field(min_length=1)
    """The attributes fairness is measured across (columns or derived)."""
    protected_columns: list[str] = []
    """Columns carrying protected information; their influence on the model is gated."""
    proxies: list[str] = []
    """Declared proxies of a sensitive attribute, counted with the protected columns."""
    exclude_from_model: list[str] = []
    """Columns never given to the model."""
    time: TimeSelection | None = None
    """Reference and current periods for drift; null = a seeded split stands for them."""
    identifier_columns: list[str] = []
    """Direct identifiers the file holds on purpose (a customer number): never model inputs,
    dropped from the validated data; the personal-data screen then reports, not fails, them."""
    retention: RetentionSpec | None = None
    """Where a row's collection date is, for the retention gate; null = not checked."""
    reference_decisions: str | None = None
    """Approved cases (inputs + expected_decision) under data/reference/, for the
    reference_agreement gate; null = not applicable."""
    external_model: ExternalModel | None = None
    """A model trained elsewhere replaces the search (give this or external_scores)."""
    external_scores: ExternalScores | None = None
    """Scores already in the data, and the rule that makes them decisions, replace the
    search."""
    search_constraints: dict[str, float | None] = {}
    """This dataset's own search constraints: the keys given replace model.search.constraints
    (null removes one); the policy's golden-test gates are untouched. The search trace and the
    card say which values came from here."""
    decision_time_attributes: list[str] = []
    """Sensitive attributes a decision may read when it is made (law and the use case permit
    it): only these can drive a ThresholdOptimizer variant in the search. Empty: never."""

    @model_validator(mode="before")
    @classmethod
    def _codes_as_text(cls, data: object) -> object:
        """YAML reads `99999` as a number; a missing code is matched as text and as a number."""
        if isinstance(data, dict) and isinstance(data.get("missing_codes"), dict):
            data = {**data, "missing_codes": {
                k: [str(v) for v in (codes if isinstance(codes, list) else [codes])]
                for k, codes in data["missing_codes"].items()}}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> DatasetSpec:
        if self.label_mapping is None:
            if self.labels is None or self.favourable_label is None:
                raise ValueError("give 'labels' and 'favourable_label', or 'label_mapping'")
            if self.favourable_label not in self.labels:
                raise ValueError(f"favourable_label {self.favourable_label!r} is not in labels")
        elif self.labels is not None or self.favourable_label is not None:
            raise ValueError("give 'label_mapping' or 'labels' + 'favourable_label', not both")
        known = set(self.numeric_columns) | set(self.categorical_columns) | set(self.derived)
        for name in self.sensitive_features:
            if name not in known:
                raise ValueError(f"sensitive feature {name!r} is neither a column nor derived")
        typed = set(self.numeric_columns) | set(self.categorical_columns)
        for column in self.missing_codes:
            if column not in typed:
                raise ValueError(f"missing_codes: {column!r} is not a numeric or categorical "
                                 "column")
        if not self.model_features:
            raise ValueError("no model features are left after exclude_from_model")
        stray = sorted(set(self.decision_time_attributes) - set(self.sensitive_features))
        if stray:
            raise ValueError(f"decision_time_attributes {stray} are not among "
                             f"sensitive_features {self.sensitive_features}")
        if self.external_model is not None and self.external_scores is not None:
            raise ValueError("give 'external_model' or 'external_scores', not both")
        unknown = sorted(set(self.search_constraints) - set(SearchConstraints.model_fields))
        if unknown:
            raise ValueError(f"search_constraints: unknown key(s) {unknown}; it accepts "
                             f"{sorted(SearchConstraints.model_fields)}")
        if self.external_scores is not None and \
                self.external_scores.column not in self.model_features:
            raise ValueError(f"external_scores.column {self.external_scores.column!r} must be "
                             "one of numeric_columns and not excluded from the model")
        return self

    @property
    def external(self) -> bool:
        """The candidate was not trained here: a model file or a score column stands for it."""
        return self.external_model is not None or self.external_scores is not None

    @property
    def favourable_values(self) -> list[str]:
        """Raw target values that mean the favourable outcome."""
        if self.label_mapping is not None:
            return list(self.label_mapping.favourable)
        return [self.favourable_label]

    @property
    def known_labels(self) -> list[str]:
        """Every raw target value the spec declares, favourable first."""
        if self.label_mapping is not None:
            return [*self.label_mapping.favourable, *self.label_mapping.unfavourable]
        return [self.favourable_label, *(v for v in self.labels if v != self.favourable_label)]

    def missing_codes_for(self, column: str) -> list[str]:
        """Codes meaning 'missing' in this column: the dataset-wide ones and its own."""
        return [*self.missing_values, *self.missing_codes.get(column, [])]

    @property
    def raw_columns(self) -> list[str]:
        """Every column the raw file must have."""
        derived_sources = [d.source for d in self.derived.values()]
        time = [self.time.column] if self.time else []
        filtered = [f.column for f in self.row_filters]
        retention = [self.retention.column] if self.retention else []
        ordered = [
            self.target,
            *self.numeric_columns,
            *self.categorical_columns,
            *derived_sources,
            *time,
            *filtered,
            *retention,
        ]
        return list(dict.fromkeys(ordered))

    @property
    def model_features(self) -> list[str]:
        excluded = set(self.exclude_from_model) | set(self.identifier_columns) | {self.target}
        return [c for c in self.numeric_columns + self.categorical_columns if c not in excluded]

    @property
    def protected_model_features(self) -> list[str]:
        """Model inputs that carry protected information: sources, protected columns, proxies."""
        protected = set(self.protected_columns) | set(self.proxies) | set(self.sensitive_features)
        protected |= {d.source for d in self.derived.values()}
        return [c for c in self.model_features if c in protected]




class SplitSpec(StrictModel):
    """How the validated rows are split into train, validation and golden test."""

    validation: float = Field(gt=0, lt=0.5)
    """Share of the rows held out for the search's validation."""
    golden_test: float = Field(gt=0, lt=0.5)
    """Share of the rows held out as the golden test set every gate judges on."""
    seed: int
    """Seed of the split and of every seeded sample and resample."""
