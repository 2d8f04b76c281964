"""The policy section: every gate threshold, and how insufficient evidence is handled."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from .base import StrictModel


class Policy(StrictModel):
    """Every gate threshold. Its hash goes into the card, so a weakened rule stays visible."""

    min_group_size: int = Field(ge=1)
    """Rows a sensitive group needs, in the data and in the golden test set."""
    small_groups: Literal["fail", "insufficient_evidence", "merge"] | None = None
    """A sensitive group below min_group_size: fail (a validation error), insufficient_evidence
    (reported as such, the other groups judged) or merge (folded into one group "other",
    recorded in validation.json and the card). null: fail for a candidate trained here,
    insufficient_evidence for an external one (an audit)."""
    insufficient_evidence: Literal["fail", "warn"]
    """What a gate without enough evidence does: fail (blocks) or warn."""
    min_disparate_impact: float = Field(gt=0, le=1)
    """Four-fifths rule: lowest selection-rate ratio to the highest-rate group."""
    max_demographic_parity_difference: float = Field(ge=0, le=1)
    """Largest gap in selection rates between groups (reported as a warning)."""
    max_equalized_odds_difference: float = Field(ge=0, le=1)
    """Largest gap in true- or false-positive rates between groups."""
    min_auc: float = Field(ge=0.5, le=1)
    """Lowest AUC on the golden test set."""
    min_balanced_accuracy: float = Field(default=0.6, ge=0.5, le=1)
    """Decision quality at the operating threshold (decision_skill gate; the search holds every
    trial to the same floors on validation). Any constant decision has balanced accuracy 0.5,
    the no-skill baseline."""
    min_adverse_refusal_rate: float = Field(default=0.25, ge=0, le=1)
    """Share of truly unfavourable cases (defaulters, ...) the model refuses: specificity in
    the adverse sense. "Approve everyone" has 0."""
    min_favourable_approval_rate: float = Field(default=0.5, ge=0, le=1)
    """Share of truly favourable cases the model approves (recall). "Refuse everyone" has 0."""
    decision_quality_per_group: bool = False
    """true: the two rate floors hold for every sensitive group with enough cases, not only
    overall."""
    trivial_selection_margin: float = Field(default=0.05, ge=0, lt=0.5)
    """A fairness figure measured where the overall selection rate is within this of 0 or 1
    is satisfied trivially (a near-constant decision): insufficient evidence, never a PASS."""
    max_regression: float = Field(ge=0, le=0.5)
    """AUC drop against production on the golden set: the upper bound of the paired bootstrap
    interval must stay within this (non-inferiority); with no production: not applicable."""
    max_latency_ms: float = Field(gt=0)
    """Largest p99 single-row prediction latency, in ms."""
    max_energy_kwh: float | None = Field(default=None, gt=0)
    """Carbon budget of search + refit, in kWh (carbon_budget gate); null = recorded, not a
    gate."""
    max_protected_influence: float = Field(ge=0, le=1)
    """Largest share of mean |SHAP| on protected features and proxies."""
    max_psi: float = Field(gt=0)
    """Largest population stability index per feature (> 0.25 is significant drift)."""
    max_drifted_share: float = Field(gt=0, le=1)
    """Largest share of features above max_psi."""
    max_outlier_share: float = Field(ge=0, le=1)
    """Largest share of outlier rows the poisoning screen accepts (reported as a warning)."""
    min_rate_denominator: int = Field(default=10, ge=1)
    """Smallest denominator a group's rate rests on (positives for TPR/FNR, negatives for FPR,
    rows for the selection rate, which also needs min_group_size); below it the rate is
    undefined, never 0.0, and its gate says insufficient_evidence."""
    max_disparate_impact: float | None = Field(default=None, ge=1)
    """Two-sided four-fifths rule: ratios to the largest group must also stay <= this bound
    (e.g. 1.25); null = one-sided."""
    intersection_insufficient_evidence: Literal["fail", "warn"] = "warn"
    """Intersection cells are small by construction; below the minimums they are disclosed and
    handled as this says, separately from single attributes (policy.insufficient_evidence)."""
    straddling_interval: Literal["decide_on_estimate", "insufficient_evidence"] = (
        "decide_on_estimate")
    """decide_on_estimate: the point estimate decides, the interval is reported beside it;
    insufficient_evidence: an interval that straddles the threshold cannot decide."""
    proxy_min_association: float = Field(default=0.3, gt=0, le=1)
    """Bias-corrected Cramér's V with a sensitive attribute at which a model input is a
    detected proxy."""
    max_counterfactual_flip_rate: float = Field(default=0.05, ge=0, le=1)
    """Share of golden decisions that may change when only the sensitive attribute (and, as
    flip_test_swaps says, its proxies) changes."""
    flip_test_swaps: Literal["attribute", "attribute_and_proxies"] = "attribute"
    """What the counterfactual flip test swaps."""
    max_identifier_values: int = Field(default=0, ge=0)
    """Personal-data screen: values matching an identifier pattern a column outside
    identifier_columns may hold."""
    max_distinct_share: float = Field(default=0.95, gt=0, le=1)
    """Personal-data screen: the distinct-value share that makes a column a key in disguise."""
    national_id_patterns: dict[str, str] = {}
    """Personal-data screen: national-ID formats, as full-value regular expressions."""
    max_record_age_days: int = Field(default=2557, ge=1)
    """Retention: maximum age of a row at the dataset's retention.as_of."""
    retention_action: Literal["drop", "block"] = "drop"
    """Retention: rows past the maximum age are dropped before training, or stop the run."""
    max_flip_rate: float = Field(default=0.1, ge=0, le=1)
    """Robustness: share of decisions that may flip under the perturbation."""
    max_perturbation_auc_drop: float = Field(default=0.02, ge=0, le=1)
    """Robustness: AUC the perturbed golden set may lose."""
    min_slice_accuracy: float = Field(default=0.5, ge=0, le=1)
    """Robustness: no slice may be significantly (Holm) below this accuracy."""
    min_reference_agreement: float = Field(default=0.9, ge=0, le=1)
    """Share of approved reference decisions the candidate must agree with."""

    @model_validator(mode="after")
    def _patterns_compile(self) -> Policy:
        for name, pattern in self.national_id_patterns.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"national_id_patterns.{name}: not a regular expression: "
                                 f"{exc}") from exc
        return self
