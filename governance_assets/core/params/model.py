"""The model section: families searched, search space, budget and constraints, the
operating threshold and fairlearn mitigation."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import StrictModel


class MitigationSpec(StrictModel):
    """fairlearn mitigation of the chosen family, fitted without the golden set."""

    method: Literal["none", "threshold_optimizer", "exponentiated_gradient"] = "none"
    """none; threshold_optimizer (post-processing, reads the attribute at decision time);
    exponentiated_gradient (reductions, fit time only)."""
    constraint: Literal["demographic_parity", "equalized_odds",
                        "true_positive_rate_parity"] = "demographic_parity"
    """The fairness constraint the mitigation enforces."""
    sensitive_feature: str | None = None
    """The sensitive attribute to correct for; null = the dataset's first sensitive feature."""
    ratio_bound: float | None = Field(default=None, gt=0, lt=1)
    """exponentiated_gradient only: the smallest ratio of group rates the reduction must keep
    (fairlearn's ratio_bound). null = fairlearn's absolute difference bound of 0.01, which at
    low selection rates still allows a ratio far below the four-fifths line."""


Family = Literal["logistic_regression", "hist_gradient_boosting", "random_forest"]


class Range(StrictModel):
    """One hyperparameter's range: numbers between low and high (log-scaled when asked), or a
    list of choices (null is a choice, e.g. class_weight: [null, balanced])."""

    low: float | None = None
    """Lowest value searched (with high)."""
    high: float | None = None
    """Highest value searched (with low)."""
    log: bool = False
    """Sample on a log scale (low > 0)."""
    integer: bool = False
    """Sample whole numbers only."""
    choices: list[str | float | int | bool | None] | None = None
    """The values searched, instead of low and high."""

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


class SearchConstraints(StrictModel):
    """Hard constraints every trial is held to on the validation split; null = not a constraint."""

    min_disparate_impact: float | None = Field(default=0.8, gt=0, le=1)
    """Lowest selection-rate ratio over the sensitive attributes a trial may have."""
    max_equalized_odds_difference: float | None = Field(default=None, ge=0, le=1)
    """Largest equalized-odds difference a trial may have."""
    max_latency_ms: float | None = Field(default=50, gt=0)
    """Largest p99 single-row latency (ms), screened with the latency gate's function."""
    max_model_size_kb: float | None = Field(default=None, gt=0)
    """Largest stored model file (skops, compressed), in KB."""
    max_perturbation_auc_drop: float | None = Field(default=None, ge=0, le=1)
    """AUC lost on the perturbed validation rows; null = policy.max_perturbation_auc_drop."""


class MitigatedVariants(StrictModel):
    """fairlearn mitigations tried as trials of their own (core/model/search.py)."""

    when: Literal["no_feasible_trial", "always", "never"] = "no_feasible_trial"
    """no_feasible_trial: only when the plain trials met no constraint set; always; never."""
    methods: list[Literal["exponentiated_gradient", "threshold_optimizer"]] = [
        "exponentiated_gradient", "threshold_optimizer"]
    """The mitigations tried (threshold_optimizer only for decision_time_attributes)."""
    base_trials: int = Field(default=2, ge=1, le=10)
    """The best plain trials (validation balanced accuracy, then AUC) each method wraps."""
    max_iter: int = Field(default=20, ge=5, le=200)
    """ExponentiatedGradient's outer iterations (fairlearn's max_iter, 50 by default): each
    refits the family once, so this bounds a variant's cost."""


class SearchSpec(StrictModel):
    """The constraint-aware search (core/model/search.py): space, budget, seed, constraints,
    carbon."""

    seed: int = 42
    """The sampler's seed: same seed and data, same trace and champion."""
    trials: int = Field(default=12, ge=1, le=500)
    """The trial budget."""
    timeout_seconds: float = Field(default=120, gt=0)
    """A safety stop: when it, not `trials`, ends the search, the trace says so and the same
    seed may give fewer trials on a slower machine."""
    banned: list[Family] = []
    """Families listed in model.candidates but never searched."""
    space: dict[Family, dict[str, Range]] = {}
    """Per family, each hyperparameter's range or choices."""
    constraints: SearchConstraints = SearchConstraints()
    """Hard constraints every trial is held to on the validation split."""
    carbon_country: str = Field(default="DEU", pattern=r"^[A-Z]{3}$")
    """Country (ISO 3166-1 alpha-3) whose grid intensity codecarbon uses, offline."""
    train_sample_rows: int | None = Field(default=10_000, ge=1_000)
    """Trials fit on at most this many train rows (seeded, stratified by label; null = all), so
    the search costs the same at any data size; the champion is still refit on every train
    and validation row, and judged on all validation rows. The trace says when it bit."""
    mitigated_variants: MitigatedVariants = MitigatedVariants()
    """fairlearn mitigations tried as trials of their own."""


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


class ModelSpec(StrictModel):
    """The algorithm families searched, the operating threshold and the mitigation."""

    candidates: list[Family] = Field(min_length=1)
    """Algorithm families searched on the validation split."""
    class_weight: Literal["balanced"] | None = None
    """Fallback class weight for a family whose search space has no class_weight."""
    decision_threshold: float = Field(gt=0, lt=1)
    """The operating threshold when threshold_tuning is none (and for a mitigated or external
    candidate); with tuning, the tie-break: among equally good thresholds, the nearest."""
    threshold_tuning: Literal["none", "global"] = "global"
    """global: each trial's threshold is tuned on validation (core/model/thresholds.py) and the
    champion's travels with it (models/candidate.json); none: decision_threshold for all."""
    mitigation: MitigationSpec = MitigationSpec()
    """fairlearn mitigation of the chosen family."""
    search: SearchSpec = SearchSpec()
    """The constraint-aware search."""

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
