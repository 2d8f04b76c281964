"""Typed loading of params.yaml: a typo or an out-of-range threshold stops the run by name."""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import re
from datetime import date
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .monitor.monitoring_spec import MonitoringSpec


class ParamsError(ValueError):
    """params.yaml is missing, malformed or inconsistent; the message names the key."""


class _Strict(BaseModel):
    # allow_inf_nan=False: `.inf` and `.nan` are valid YAML floats but no threshold can be one.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DerivedFeature(_Strict):
    """A sensitive attribute decoded from a raw column: by a code mapping or numeric bands."""

    source: str
    mapping: dict[str, str] | None = None
    band_edges: list[float] | None = None
    band_labels: list[str] | None = None

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


class DateRange(_Strict):
    """A half-open period [start, end): dates (ISO) or numbers; an open end is unbounded."""

    start: str | None = None
    end: str | None = None

    @model_validator(mode="after")
    def _bounded(self) -> DateRange:
        if self.start is None and self.end is None:
            raise ValueError("give 'start', 'end' or both")
        return self


class TimeSelection(_Strict):
    """Reference and current periods for drift, read from a time column.

    Three ways to say it, exactly one per dataset: value lists (`reference: ["94"]`,
    `current: ["95"]`; a single value is a one-item list), date or number ranges
    (`reference_range`, `current_range`), or a `cutoff` (before it: reference; from it on:
    current). Rows in neither period are left out of modelling and drift, and counted.
    """

    column: str
    reference: str | list[str] | None = None
    current: str | list[str] | None = None
    reference_range: DateRange | None = None
    current_range: DateRange | None = None
    cutoff: str | None = None

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


class LabelMapping(_Strict):
    """Many raw target values folded into the two outcomes the gates need."""

    favourable: list[str] = Field(min_length=1)
    unfavourable: list[str] = Field(min_length=1)

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


class RowFilter(_Strict):
    """One documented cleaning step of a published dataset: rows that fail it are dropped.

    `why` is required so the validation report and the card can say why rows went missing.
    Comparisons (<, <=, >, >=, between) are numeric; ==, !=, in, not_in compare text.
    """

    column: str
    op: Literal["==", "!=", "<", "<=", ">", ">=", "in", "not_in", "between"]
    value: str | float | list[str | float]
    why: str = Field(min_length=1)

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


class RetentionSpec(_Strict):
    """Where a row's collection date is, and the date its age is measured at.

    `as_of` is fixed in params (not today's date) so the same inputs keep the same rows and
    DVC's outputs stay byte-equal; move it forward when the data is refreshed.
    """

    column: str
    as_of: str

    @model_validator(mode="after")
    def _as_of_is_a_date(self) -> RetentionSpec:
        try:
            date.fromisoformat(self.as_of)
        except ValueError as exc:
            raise ValueError(f"'as_of' {self.as_of!r} is not an ISO date (YYYY-MM-DD)") from exc
        return self


class ExternalModel(_Strict):
    """A scikit-learn model trained elsewhere, as a skops file under data/external/."""

    path: str
    trusted_types: list[str] = []
    provenance: str = Field(min_length=1)


class ExternalScores(_Strict):
    """Scores or decisions already in the data, and the rule that makes a score a decision."""

    column: str
    favourable_when: Literal[">=", ">", "<=", "<"]
    threshold: float
    provenance: str = Field(min_length=1)


class DatasetSpec(_Strict):
    """Everything the pipeline needs to know about one dataset; README 'Data' lists the keys."""

    path: str
    # How the file is read: its field separator, and a size above which it is refused before
    # reading (a table in memory takes several times its file size).
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    max_file_mb: float = Field(default=512, gt=0)
    datasheet: str
    license: str
    intended_use: str
    limitations: list[str] = []
    target: str
    labels: list[str] | None = Field(default=None, min_length=2, max_length=2)
    favourable_label: str | None = None
    label_mapping: LabelMapping | None = None
    row_filters: list[RowFilter] = []
    numeric_columns: list[str]
    categorical_columns: list[str]
    ignore_columns: list[str] = []
    missing_values: list[str] = []
    missing_codes: dict[str, list[str]] = {}
    missing_numeric: Literal["fail", "drop_row"] = "fail"
    derived: dict[str, DerivedFeature] = {}
    sensitive_features: list[str] = Field(min_length=1)
    protected_columns: list[str] = []
    proxies: list[str] = []
    exclude_from_model: list[str] = []
    time: TimeSelection | None = None
    # Direct identifiers the file holds on purpose (a customer number): never model inputs,
    # dropped from the validated data; the personal-data screen then reports, not fails, them.
    identifier_columns: list[str] = []
    retention: RetentionSpec | None = None
    # Approved cases (inputs + expected_decision), under data/; gated by reference_agreement.
    reference_decisions: str | None = None
    # A model trained elsewhere replaces the search: a model file, or a score column + rule.
    external_model: ExternalModel | None = None
    external_scores: ExternalScores | None = None
    # This dataset's own search constraints: the keys given replace model.search.constraints
    # (null removes one); the policy's golden-test gates are untouched. The search trace and
    # the card say which values came from here.
    search_constraints: dict[str, float | None] = {}
    # Sensitive attributes a decision may read when it is made (law and the use case permit
    # it): only these can drive a ThresholdOptimizer variant in the search, whose per-group
    # thresholds read the attribute at decision time. Empty (the default): never.
    decision_time_attributes: list[str] = []

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


class SplitSpec(_Strict):
    validation: float = Field(gt=0, lt=0.5)
    golden_test: float = Field(gt=0, lt=0.5)
    seed: int


class MitigationSpec(_Strict):
    """fairlearn mitigation of the chosen family, fitted without the golden set."""

    method: Literal["none", "threshold_optimizer", "exponentiated_gradient"] = "none"
    constraint: Literal["demographic_parity", "equalized_odds",
                        "true_positive_rate_parity"] = "demographic_parity"
    # The sensitive attribute to correct for; null = the dataset's first sensitive feature.
    sensitive_feature: str | None = None
    # exponentiated_gradient only: the smallest ratio of group rates the reduction must keep
    # (fairlearn's ratio_bound). null = fairlearn's absolute difference bound of 0.01, which at
    # low selection rates still allows a ratio far below the four-fifths line.
    ratio_bound: float | None = Field(default=None, gt=0, lt=1)


Family = Literal["logistic_regression", "hist_gradient_boosting", "random_forest"]


class Range(_Strict):
    """One hyperparameter's range: numbers between low and high (log-scaled when asked), or a
    list of choices (null is a choice, e.g. class_weight: [null, balanced])."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: list[str | float | int | bool | None] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Range:
        if self.choices is not None:
            if self.low is not None or self.high is not None or not self.choices:
                raise ValueError("give either non-empty choices or low and high, not both")
            return self
        if self.low is None or self.high is None or self.low > self.high:
            raise ValueError("a numeric range needs low <= high")
        if self.log and self.low <= 0:
            raise ValueError("a log-scaled range needs low > 0")
        return self


class SearchConstraints(_Strict):
    """Hard constraints every trial is held to on the validation split; null = not a constraint."""

    min_disparate_impact: float | None = Field(default=0.8, gt=0, le=1)
    max_equalized_odds_difference: float | None = Field(default=None, ge=0, le=1)
    max_latency_ms: float | None = Field(default=50, gt=0)
    max_model_size_kb: float | None = Field(default=None, gt=0)
    # AUC lost on the perturbed validation rows; null = policy.max_perturbation_auc_drop.
    max_perturbation_auc_drop: float | None = Field(default=None, ge=0, le=1)


class MitigatedVariants(_Strict):
    """fairlearn mitigations tried as trials of their own (core/model/search.py)."""

    # no_feasible_trial: only when the plain trials met no constraint set; always; never.
    when: Literal["no_feasible_trial", "always", "never"] = "no_feasible_trial"
    methods: list[Literal["exponentiated_gradient", "threshold_optimizer"]] = [
        "exponentiated_gradient", "threshold_optimizer"]
    # The best plain trials (validation balanced accuracy, then AUC) each method wraps.
    base_trials: int = Field(default=2, ge=1, le=10)
    # ExponentiatedGradient's outer iterations (fairlearn's max_iter, 50 by default): each
    # refits the family once, so this bounds a variant's cost.
    max_iter: int = Field(default=20, ge=5, le=200)


class SearchSpec(_Strict):
    """The constraint-aware search (core/model/search.py): space, budget, seed, constraints,
    carbon."""

    seed: int = 42
    trials: int = Field(default=12, ge=1, le=500)
    # A safety stop: when it, not `trials`, ends the search, the trace says so and the same
    # seed may give fewer trials on a slower machine.
    timeout_seconds: float = Field(default=120, gt=0)
    banned: list[Family] = []
    space: dict[Family, dict[str, Range]] = {}
    constraints: SearchConstraints = SearchConstraints()
    carbon_country: str = Field(default="DEU", pattern=r"^[A-Z]{3}$")
    # Trials fit on at most this many train rows (seeded, stratified by label; null = all), so
    # the search costs the same at any data size; the champion is still refit on every train
    # and validation row, and judged on all validation rows. The trace says when it bit.
    train_sample_rows: int | None = Field(default=10_000, ge=1_000)
    mitigated_variants: MitigatedVariants = MitigatedVariants()


# What each family's scikit-learn estimator accepts (its get_params()), so a typo in a search
# space stops at params without importing scikit-learn, which costs every command a second.
# tests/test_search.py holds this table against the installed scikit-learn.
HYPERPARAMETERS: dict[str, frozenset[str]] = {
    "logistic_regression": frozenset({
        "C", "class_weight", "dual", "fit_intercept", "intercept_scaling", "l1_ratio",
        "max_iter", "n_jobs", "penalty", "random_state", "solver", "tol", "verbose",
        "warm_start"}),
    "hist_gradient_boosting": frozenset({
        "categorical_features", "class_weight", "early_stopping", "interaction_cst",
        "l2_regularization", "learning_rate", "loss", "max_bins", "max_depth", "max_features",
        "max_iter", "max_leaf_nodes", "min_samples_leaf", "monotonic_cst", "n_iter_no_change",
        "random_state", "scoring", "tol", "validation_fraction", "verbose", "warm_start"}),
    "random_forest": frozenset({
        "bootstrap", "ccp_alpha", "class_weight", "criterion", "max_depth", "max_features",
        "max_leaf_nodes", "max_samples", "min_impurity_decrease", "min_samples_leaf",
        "min_samples_split", "min_weight_fraction_leaf", "monotonic_cst", "n_estimators",
        "n_jobs", "oob_score", "random_state", "verbose", "warm_start"}),
}


class ModelSpec(_Strict):
    candidates: list[Family] = Field(min_length=1)
    class_weight: Literal["balanced"] | None = None
    # The operating threshold when threshold_tuning is none (and for a mitigated or external
    # candidate); with tuning, the tie-break: among equally good thresholds, the nearest.
    decision_threshold: float = Field(gt=0, lt=1)
    # global: each trial's threshold is tuned on validation (core/model/thresholds.py) and the
    # champion's travels with it (models/candidate.json); none: decision_threshold for all.
    threshold_tuning: Literal["none", "global"] = "global"
    mitigation: MitigationSpec = MitigationSpec()
    search: SearchSpec = SearchSpec()

    @model_validator(mode="after")
    def _something_allowed(self) -> ModelSpec:
        if not self.allowed_families:
            raise ValueError(f"model.search.banned {self.search.banned} bans every family in "
                             f"model.candidates {self.candidates}: nothing can be searched")
        for family, ranges in self.search.space.items():
            accepted = HYPERPARAMETERS[family]
            unknown = sorted(set(ranges) - accepted)
            if unknown:
                raise ValueError(f"model.search.space.{family}: unknown hyperparameter(s) "
                                 f"{unknown}; it accepts {sorted(accepted)}")
        return self

    @property
    def allowed_families(self) -> list[str]:
        return [f for f in self.candidates if f not in self.search.banned]


class FairnessSpec(_Strict):
    intersections: Literal["all_pairs", "none"] | list[list[str]] = "all_pairs"
    bootstrap_rounds: int = Field(default=200, ge=0, le=5000)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    # Rows of the train split the proxy screen reads (association and attribute AUC).
    proxy_sample_rows: int = Field(default=5000, ge=100, le=100_000)
    # Golden rows the flip test re-scores (seeded sample when the golden set is larger): each
    # attribute re-scores them once per other group, so cost is bounded on large data.
    flip_test_rows: int = Field(default=20_000, ge=100, le=1_000_000)


class ExplainSpec(_Strict):
    """Row counts that bound the explanations' cost, whatever the size of the data."""

    sample_rows: int = Field(ge=10, le=5000)
    background_rows: int = Field(ge=10, le=1000)
    # Model-agnostic explainer only: it explains the first agnostic_sample_rows of the sample,
    # each row costing permutations x (2 x features + 1) model calls over the background rows.
    agnostic_sample_rows: int = Field(default=60, ge=10, le=5000)
    permutations: int = Field(default=2, ge=1, le=50)
    local_per_group: int = Field(default=2, ge=1, le=20)
    max_local_decisions: int = Field(default=40, ge=1, le=500)
    lime_samples: int = Field(default=2000, ge=100, le=20000)


class EvaluationSpec(_Strict):
    bootstrap_rounds: int = Field(ge=50, le=5000)
    latency_rows: int = Field(ge=20, le=5000)
    latency_repeats: int = Field(default=5, ge=1, le=50)
    # Rows of each side (reference, current) evidently's HTML drift view reads, seeded; null =
    # all. The PSI and its noise floors, which the drift gates read, use every row.
    drift_html_sample_rows: int | None = Field(default=20_000, ge=1_000)


class AuditSpec(_Strict):
    """Which rows an external candidate (external_model, external_scores) is judged on.

    all: every row that passes the dataset's filters (the train, validation and golden
    splits and the current period, concatenated): nothing was trained here, so there is no
    golden set to protect. golden: the golden split alone, as for a trained candidate.
    A candidate trained here is always judged on the golden split (it was fitted on the rest).
    """

    rows: Literal["all", "golden"] = "all"


class Policy(_Strict):
    """Every gate threshold. Its hash goes into the card, so a weakened rule stays visible."""

    min_group_size: int = Field(ge=1)
    # A sensitive group below min_group_size: fail (a validation error), insufficient_evidence
    # (reported as such, the other groups judged) or merge (folded into one group "other",
    # recorded in validation.json and the card). null: fail for a candidate trained here,
    # insufficient_evidence for an external one (an audit).
    small_groups: Literal["fail", "insufficient_evidence", "merge"] | None = None
    insufficient_evidence: Literal["fail", "warn"]
    min_disparate_impact: float = Field(gt=0, le=1)
    max_demographic_parity_difference: float = Field(ge=0, le=1)
    max_equalized_odds_difference: float = Field(ge=0, le=1)
    min_auc: float = Field(ge=0.5, le=1)
    # Decision quality at the operating threshold (decision_skill, adverse_refusal,
    # favourable_approval gates; the search holds every trial to the same floors on
    # validation). Any constant decision has balanced accuracy 0.5, the no-skill baseline.
    min_balanced_accuracy: float = Field(default=0.6, ge=0.5, le=1)
    # Share of truly unfavourable cases (defaulters, ...) the model refuses: specificity in
    # the adverse sense. "Approve everyone" has 0.
    min_adverse_refusal_rate: float = Field(default=0.25, ge=0, le=1)
    # Share of truly favourable cases the model approves (recall). "Refuse everyone" has 0.
    min_favourable_approval_rate: float = Field(default=0.5, ge=0, le=1)
    # true: the two rate floors hold for every sensitive group with enough cases, not only
    # overall.
    decision_quality_per_group: bool = False
    # A fairness figure measured where the overall selection rate is within this of 0 or 1
    # is satisfied trivially (a near-constant decision): insufficient evidence, never a PASS.
    trivial_selection_margin: float = Field(default=0.05, ge=0, lt=0.5)
    max_regression: float = Field(ge=0, le=0.5)
    max_latency_ms: float = Field(gt=0)
    # Carbon budget of search + refit (carbon_budget gate); null = recorded, not a gate.
    max_energy_kwh: float | None = Field(default=None, gt=0)
    max_protected_influence: float = Field(ge=0, le=1)
    max_psi: float = Field(gt=0)
    max_drifted_share: float = Field(gt=0, le=1)
    max_outlier_share: float = Field(ge=0, le=1)
    # Smallest denominator a group's rate rests on (positives for TPR/FNR, negatives for FPR,
    # rows for the selection rate, which also needs min_group_size); below it the rate is
    # undefined, never 0.0, and its gate says insufficient_evidence.
    min_rate_denominator: int = Field(default=10, ge=1)
    # Two-sided four-fifths rule: ratios to the largest group must also stay <= this bound.
    max_disparate_impact: float | None = Field(default=None, ge=1)
    # Intersection cells are small by construction; below the minimums they are disclosed and
    # handled as this says, separately from single attributes (policy.insufficient_evidence).
    intersection_insufficient_evidence: Literal["fail", "warn"] = "warn"
    # decide_on_estimate: the point estimate decides, the interval is reported beside it;
    # insufficient_evidence: an interval that straddles the threshold cannot decide.
    straddling_interval: Literal["decide_on_estimate", "insufficient_evidence"] = (
        "decide_on_estimate")
    proxy_min_association: float = Field(default=0.3, gt=0, le=1)
    max_counterfactual_flip_rate: float = Field(default=0.05, ge=0, le=1)
    flip_test_swaps: Literal["attribute", "attribute_and_proxies"] = "attribute"
    # Personal-data screen (personal_data gate): values matching an identifier pattern a column
    # may hold, the distinct-value share that makes a column a key, national-ID patterns.
    max_identifier_values: int = Field(default=0, ge=0)
    max_distinct_share: float = Field(default=0.95, gt=0, le=1)
    national_id_patterns: dict[str, str] = {}
    # Retention (retention gate): maximum age of a row at the dataset's retention.as_of.
    max_record_age_days: int = Field(default=2557, ge=1)
    retention_action: Literal["drop", "block"] = "drop"
    # Robustness (perturbation_flips, perturbation_auc_drop, slice_performance gates).
    max_flip_rate: float = Field(default=0.1, ge=0, le=1)
    max_perturbation_auc_drop: float = Field(default=0.02, ge=0, le=1)
    min_slice_accuracy: float = Field(default=0.5, ge=0, le=1)
    # Reference decisions (reference_agreement gate).
    min_reference_agreement: float = Field(default=0.9, ge=0, le=1)

    @model_validator(mode="after")
    def _patterns_compile(self) -> Policy:
        for name, pattern in self.national_id_patterns.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"national_id_patterns.{name}: not a regular expression: "
                                 f"{exc}") from exc
        return self


class RobustnessSpec(_Strict):
    """How the golden set is perturbed and sliced; thresholds live in policy."""

    numeric_shift: float = Field(default=0.1, gt=0, le=2)
    categorical_swap_share: float = Field(default=0.1, ge=0, le=1)
    slice_bins: int = Field(default=4, ge=2, le=20)
    min_slice_rows: int = Field(default=20, ge=5)
    slice_alpha: float = Field(default=0.05, gt=0, lt=1)


class SignoffSpec(_Strict):
    """Human sign-off before production: who holds which role (principals of the
    allowed-signers file, never typed names), expiry, separation of duties, signed runs."""

    approvers: list[str] = []
    promoters: list[str] = Field(default=[], description="empty: the approvers promote")
    approval_expiry_days: int = Field(default=30, ge=1, le=3650)
    separation_of_duties: bool = True
    allowed_signers: str = Field(default="governance/allowed_signers", min_length=1)
    pipeline_signers: list[str] = []
    require_signed_run: bool = True


class RegistrySpec(_Strict):
    """Where the registry lives: a folder of the project (default) or an fsspec URL
    (core/record/storage.py). GOVERNANCE_REGISTRY, when set, overrides it."""

    root: str = Field(default="registry", min_length=1)

    @field_validator("root")
    @classmethod
    def _reachable_kind(cls, root: str) -> str:
        """A URL's protocol must have its fsspec package installed: say which, up front."""
        if "://" not in root:
            return root
        import fsspec

        protocol = root.split("://", 1)[0]
        try:
            fsspec.get_filesystem_class(protocol)
        except (ImportError, ValueError) as error:
            hint = " (install the s3 extra: governance-assets[s3])" if protocol in (
                "s3", "s3a") else ""
            raise ValueError(f"{root!r}: no fsspec filesystem for {protocol}://: "
                             f"{error}{hint}") from None
        return root


class Params(_Strict):
    dataset: str
    datasets: dict[str, DatasetSpec]
    split: SplitSpec
    model: ModelSpec
    fairness: FairnessSpec = FairnessSpec()
    explain: ExplainSpec
    evaluation: EvaluationSpec
    policy: Policy
    robustness: RobustnessSpec = RobustnessSpec()
    audit: AuditSpec = AuditSpec()
    # Production monitoring (issue 11): batches, WARN/ERROR levels, alerts, rollback.
    monitoring: MonitoringSpec = MonitoringSpec()
    signoff: SignoffSpec = SignoffSpec()
    registry: RegistrySpec = RegistrySpec()

    @model_validator(mode="after")
    def _dataset_declared(self) -> Params:
        if self.dataset not in self.datasets:
            raise ValueError(f"dataset {self.dataset!r} is not one of {sorted(self.datasets)}")
        try:
            self.search_constraints  # noqa: B018 (validates the dataset's overrides)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                 for e in error.errors())
            raise ValueError(f"datasets.{self.dataset}.search_constraints: {problems}") from None
        sensitive = self.datasets[self.dataset].sensitive_features
        named = self.model.mitigation.sensitive_feature
        if named is not None and named not in sensitive:
            raise ValueError(f"model.mitigation.sensitive_feature {named!r} is not one of the "
                             f"active dataset's sensitive_features {sensitive}")
        if isinstance(self.fairness.intersections, list):
            unknown = sorted({a for m in self.fairness.intersections for a in m} - set(sensitive))
            if unknown:
                raise ValueError(f"fairness.intersections names {unknown}, not among the active "
                                 f"dataset's sensitive_features {sensitive}")
        return self

    @property
    def search_constraints(self) -> SearchConstraints:
        """model.search.constraints with the active dataset's overrides applied (validated)."""
        merged = {**self.model.search.constraints.model_dump(), **self.active.search_constraints}
        return SearchConstraints.model_validate(merged)

    @property
    def mitigation_feature(self) -> str:
        named = self.model.mitigation.sensitive_feature
        return named or self.active.sensitive_features[0]

    @property
    def active(self) -> DatasetSpec:
        return self.datasets[self.dataset]

    @property
    def evaluation_rows(self) -> Literal["all", "golden"]:
        """The rows the reports judge the candidate on (AuditSpec): golden unless external."""
        return self.audit.rows if self.active.external else "golden"

    @property
    def policy_hash(self) -> str:
        return _sha256_of(self.policy.model_dump())

    def values_at(self, keys: tuple[str, ...]) -> dict[str, object]:
        """The values of dotted params keys; ACTIVE_DATASET stands for the selected block."""
        tree = self.model_dump(mode="json")
        values: dict[str, object] = {}
        for key in keys:
            dotted = f"datasets.{self.dataset}" if key == ACTIVE_DATASET else key
            node: object = tree
            for part in dotted.split("."):
                node = node[part]  # type: ignore[index]
            values[dotted] = node
        return values

    @property
    def search_space_hash(self) -> str:
        """What may be searched: allowed and banned families and their ranges."""
        search = self.model.search
        return _sha256_of({"allowed": self.model.allowed_families, "banned": search.banned,
                           "space": {family: {name: r.model_dump() for name, r in
                                              search.space.get(family, {}).items()}
                                     for family in self.model.allowed_families},
                           "class_weight": self.model.class_weight})


ACTIVE_DATASET = "datasets.<active>"
DATA_FOLDER = "data/raw"
REFERENCE_FOLDER = "data/reference"
EXTERNAL_FOLDER = "data/external"


def hash_values(values: dict[str, object]) -> str:
    """The hash a verdict binds to: the exact params values the gate read."""
    return _sha256_of(values)


def _sha256_of(data: object) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _describe(error: ValidationError, source: Path) -> str:
    """One clause per problem; an unknown key next to a missing one is named as its typo."""
    errors = [(".".join(str(part) for part in item["loc"]) or "(top level)", item)
              for item in error.errors()]
    missing = [key for key, item in errors if item["type"] == "missing"]
    clauses = []
    for key, item in errors:
        reason = item["msg"]
        if item["type"] == "extra_forbidden":
            close = difflib.get_close_matches(key, missing, n=1)
            reason = "unknown key" + (f" (did you mean {close[0]}?)" if close else "")
        clauses.append(f"{source.name}: {key}: {reason}")
    return "; ".join(clauses)


MERGE_TAG = "tag:yaml.org,2002:merge"


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """PyYAML keeps the last of two equal keys; a policy must never be read that way.

    A YAML merge key (`<<: *census_income`) is allowed: a dataset block may reuse another and
    replace some of its keys (census_income_full); only keys written twice are refused."""

    def construct_mapping(self, node, deep=False):
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ParamsError(
                    f"params.yaml: key {key!r} appears twice in one block (lines {seen[key]} "
                    f"and {key_node.start_mark.line + 1}); keep one")
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _check_data_path(root: Path, params: Params, source: Path) -> None:
    """Inside data/raw/ of the project: DVC versions that folder, so a changed byte re-runs."""
    key = f"datasets.{params.dataset}.path"
    relative = params.active.path
    resolved = (root / relative).resolve()
    folder = (root / DATA_FOLDER).resolve()
    if not resolved.is_relative_to(folder):
        raise ParamsError(
            f"{source.name}: {key}: {relative!r} is outside {DATA_FOLDER}/ of the project; "
            f"copy the file under {DATA_FOLDER}/ (DVC tracks that folder) and point {key} there")
    if not resolved.is_file():
        raise ParamsError(f"{source.name}: {key}: file {relative} not found")
    _check_declared_files(root, params, source)


def _check_declared_files(root: Path, params: Params, source: Path) -> None:
    """Approved cases and external models live in folders a DVC stage depends on."""
    spec = params.active
    files = [("reference_decisions", spec.reference_decisions, REFERENCE_FOLDER),
             ("external_model.path", spec.external_model and spec.external_model.path,
              EXTERNAL_FOLDER)]
    for name, relative, folder in files:
        if relative is None:
            continue
        key = f"datasets.{params.dataset}.{name}"
        resolved = (root / relative).resolve()
        if not resolved.is_relative_to((root / folder).resolve()):
            raise ParamsError(f"{source.name}: {key}: {relative!r} is outside {folder}/ of the "
                              "project (a DVC stage depends on that folder)")
        if not resolved.is_file():
            raise ParamsError(f"{source.name}: {key}: file {relative} not found")


def load_params(root: Path) -> Params:
    """Read and check root/params.yaml, including that the selected dataset file exists.

    A stage reads params in every asset and gate: the same text is parsed and validated once
    per process (keyed by its bytes, so an edit is always seen), and each caller gets its own
    copy; the files it names are checked every time."""
    source = root / "params.yaml"
    if not source.is_file():
        raise ParamsError(f"{source}: file not found")
    text = source.read_text()
    params = _validated(text, source.name).model_copy(deep=True)
    _check_data_path(root, params, source)
    return params


@functools.lru_cache(maxsize=8)
def _validated(text: str, name: str) -> Params:
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as exc:
        raise ParamsError(f"{name}: not valid YAML: {exc}") from exc
    try:
        return Params.model_validate(raw or {})
    except ValidationError as exc:
        raise ParamsError(_describe(exc, Path(name))) from exc
