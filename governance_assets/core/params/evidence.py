"""How the evidence is computed: fairness report, explanations, evaluation, robustness
perturbations and the rows an audit judges. Thresholds live in policy."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import StrictModel


class FairnessSpec(StrictModel):
    """How the fairness report is computed on the golden test set; thresholds are in policy."""

    intersections: Literal["all_pairs", "none"] | list[list[str]] = "all_pairs"
    """Intersections of sensitive attributes reported: every pair, none, or the lists given."""
    bootstrap_rounds: int = Field(default=200, ge=0, le=5000)
    """Seeded resamples behind every fairness interval."""
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    """Confidence level of the fairness intervals."""
    proxy_sample_rows: int = Field(default=5000, ge=100, le=100_000)
    """Rows of the train split the proxy screen reads (association and attribute AUC)."""
    flip_test_rows: int = Field(default=20_000, ge=100, le=1_000_000)
    """Golden rows the flip test re-scores (seeded sample when the golden set is larger): each
    attribute re-scores them once per other group, so cost is bounded on large data."""


class ExplainSpec(StrictModel):
    """Row counts that bound the explanations' cost, whatever the size of the data."""

    sample_rows: int = Field(ge=10, le=5000)
    """Golden-test rows behind the global importance."""
    background_rows: int = Field(ge=10, le=1000)
    """Training rows SHAP and LIME compare each row against."""
    agnostic_sample_rows: int = Field(default=60, ge=10, le=5000)
    """Model-agnostic explainer only: it explains the first agnostic_sample_rows of the sample,
    each row costing permutations x (2 x features + 1) model calls over the background rows."""
    permutations: int = Field(default=2, ge=1, le=50)
    """Model-agnostic explainer only: antithetic permutations per row."""
    local_per_group: int = Field(default=2, ge=1, le=20)
    """Decisions explained per outcome and sensitive group."""
    max_local_decisions: int = Field(default=40, ge=1, le=500)
    """Cap on the decisions explained (a row covers all its groups)."""
    lime_samples: int = Field(default=2000, ge=100, le=20000)
    """LIME's perturbed samples per decision."""


class EvaluationSpec(StrictModel):
    """How the performance, latency and drift evidence is computed."""

    bootstrap_rounds: int = Field(ge=50, le=5000)
    """Seeded resamples behind the performance intervals and the regression test."""
    latency_rows: int = Field(ge=20, le=5000)
    """Golden rows scored one at a time for the latency gate."""
    latency_repeats: int = Field(default=5, ge=1, le=50)
    """Warm passes over those rows; the latency gate reads their median p99."""
    drift_html_sample_rows: int | None = Field(default=20_000, ge=1_000)
    """Rows of each side (reference, current) evidently's HTML drift view reads, seeded; null =
    all. The PSI and its noise floors, which the drift gates read, use every row."""


class AuditSpec(StrictModel):
    """Which rows an external candidate (external_model, external_scores) is judged on.

    all: every row that passes the dataset's filters (the train, validation and golden
    splits and the current period, concatenated): nothing was trained here, so there is no
    golden set to protect. golden: the golden split alone, as for a trained candidate.
    A candidate trained here is always judged on the golden split (it was fitted on the rest).
    """

    rows: Literal["all", "golden"] = "all"
    """The rows an external candidate is judged on."""


class RobustnessSpec(StrictModel):
    """How the golden set is perturbed and sliced; thresholds live in policy."""

    numeric_shift: float = Field(default=0.1, gt=0, le=2)
    """Numbers are moved up or down by this many standard deviations."""
    categorical_swap_share: float = Field(default=0.1, ge=0, le=1)
    """Share of categorical values swapped to the nearest category."""
    slice_bins: int = Field(default=4, ge=2, le=20)
    """Numeric features are cut into this many quantile bins for the slice scan."""
    min_slice_rows: int = Field(default=20, ge=5)
    """Slices smaller than this are not tested."""
    slice_alpha: float = Field(default=0.05, gt=0, lt=1)
    """Family-wise error rate of the slice test (Holm)."""
