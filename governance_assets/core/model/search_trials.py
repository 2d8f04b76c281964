"""One trial of the search: the candidate fitted and judged on validation, its constraint
verdicts with margins, its operating point and the figures the sampler ranks it by."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    recall_score,
    roc_auc_score,
)

from ..data.columns import FAVOURABLE
from ..evidence.fairness import feature_fairness
from ..evidence.performance import latency_ms
from ..params import Params
from .thresholds import Floors, OperatingPoint, tune
from .training import build_pipeline

# The search's latency screen: warm passes of this many single-row calls per feasible trial
# (the gate measures the champion with evaluation.latency_rows x latency_repeats), judged on
# the median pass's p99. A pass's p99 of a few calls is close to its slowest call, so one stall
# (394 ms on a loaded machine, for a trial whose median call took 13 ms) spoils one pass, and
# the median of three passes ignores it. The screen only rules out trials far over the
# budget, so 10 calls a pass do: 30 took 1.1 s more per search on German credit.
SCREEN_CALLS, SCREEN_REPEATS = 10, 3
LATENCY = "latency_p99_ms"  # the screen's constraint: a verdict in the trace, never a value


@dataclass(frozen=True)
class Check:
    """One constraint on one trial: value, bound, verdict, and how far from the bound."""

    name: str
    value: float | None
    threshold: float
    comparison: str
    key: str
    where: str = ""

    @property
    def passed(self) -> bool:
        if self.value is None:
            return False
        return self.value >= self.threshold if self.comparison == ">=" else \
            self.value <= self.threshold

    @property
    def margin(self) -> float | None:
        """Positive = inside the bound by this much; negative = outside it."""
        if self.value is None:
            return None
        gap = self.value - self.threshold
        return round(gap if self.comparison == ">=" else -gap, 6)

    def violation(self) -> float:
        """optuna's convention: <= 0 feasible; unmeasurable counts as violated."""
        return 1.0 if self.margin is None else max(0.0, -self.margin)

    def to_dict(self) -> dict:
        return {"name": self.name, "value": self.value, "threshold": self.threshold,
                "comparison": self.comparison, "passed": self.passed, "margin": self.margin,
                "params_key": self.key, **({"where": self.where} if self.where else {})}


@dataclass
class TrialResult:
    trial_id: int
    algorithm: str
    hyperparameters: dict
    metrics: dict
    fairness: dict
    checks: list[Check]
    latency: dict | None = None
    fit_seconds: float = 0.0
    latency_check: Check | None = field(default=None)
    # A mitigated variant: the fairlearn method wrapped around another trial's family and
    # hyperparameters (mitigated_trials); None for a plain trial.
    variant: dict | None = None

    @property
    def label(self) -> str:
        if self.variant is None:
            return f"trial {self.trial_id}"
        return (f"trial {self.trial_id} ({self.variant['method']} on trial "
                f"{self.variant['base_trial']}, {self.variant['sensitive_feature']})")

    @property
    def deterministic_failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    @property
    def feasible(self) -> bool:
        late = self.latency_check is not None and not self.latency_check.passed
        return not self.deterministic_failures and not late

    def rejection_reason(self) -> str | None:
        failed = self.deterministic_failures + (
            [self.latency_check] if self.latency_check and not self.latency_check.passed else [])
        if not failed:
            return None
        return f"{self.label} rejected: " + "; ".join(describe_failure(c) for c in failed)

    def to_trace(self) -> dict:
        """The deterministic record of the trial (latency as a verdict, never milliseconds)."""
        constraints = [c.to_dict() for c in self.checks]
        if self.latency_check is not None:
            constraints.append({"name": LATENCY, "value": "machine-dependent: "
                                "reports/runtime/search.json", "threshold":
                                self.latency_check.threshold, "comparison": "<=",
                                "passed": self.latency_check.passed, "margin": None,
                                "params_key": self.latency_check.key})
        elif self.deterministic_failures:
            constraints.append({"name": LATENCY, "value": None, "threshold": None,
                                "comparison": "<=", "passed": None, "margin": None,
                                "params_key": "model.search.constraints.max_latency_ms",
                                "note": "not measured: already infeasible"})
        return {"trial_id": self.trial_id, "algorithm": self.algorithm,
                "hyperparameters": self.hyperparameters, "mitigation": self.variant,
                **self.metrics,
                "fairness": self.fairness, "constraints": constraints,
                "feasible": self.feasible, "rejection_reason": self.rejection_reason()}


def describe_failure(check: Check) -> str:
    if check.value is None:
        return f"{check.name} could not be measured ({check.key})"
    where = f" on {check.where}" if check.where else ""
    opposite = "<" if check.comparison == ">=" else ">"
    return (f"{check.name} {check.value:.4g} {opposite} {check.threshold:g}{where} "
            f"(margin {check.margin:+.4g})")


def _worst_disparate_impact(y: pd.Series, predicted: pd.Series, frame: pd.DataFrame,
                            params: Params) -> dict:
    """Lowest selection-rate ratio and largest equalized-odds gap over the sensitive
    attributes, on validation groups large enough for the policy's minimums."""
    policy, worst = params.policy, {"disparate_impact": None, "equalized_odds_difference": None,
                                    "disparate_impact_where": "", "equalized_odds_where": ""}
    for attribute in params.active.sensitive_features:
        result = feature_fairness(y, predicted, frame[attribute], policy.min_group_size,
                                  policy.min_rate_denominator)
        ratio, gap = result["disparate_impact_ratio_min"], result["equalized_odds_difference"]
        if ratio is not None and (worst["disparate_impact"] is None
                                  or ratio < worst["disparate_impact"]):
            group = result["worst"]["disparate_impact_ratio_min"]
            worst["disparate_impact"] = ratio
            worst["disparate_impact_where"] = f"{attribute}: {group}"
        if gap is not None and (worst["equalized_odds_difference"] is None
                                or gap > worst["equalized_odds_difference"]):
            worst["equalized_odds_difference"] = gap
            where = result["worst"]["equalized_odds_difference"]
            worst["equalized_odds_where"] = f"{attribute}: {where}"
    return worst


def serialized_kb(pipeline) -> float:
    """The size of the file the registry would store for this model (skops, compressed)."""
    from .model_files import dumps

    return round(len(dumps(pipeline)) / 1024, 1)


def _checks(metrics: dict, fairness: dict, size_kb: float, params: Params) -> list[Check]:
    """The policy's floors (AUC, decision quality) and the search's own constraints."""
    limits, policy = params.search_constraints, params.policy
    checks = [
        Check("validation_auc", metrics["validation_auc"], policy.min_auc, ">=",
              "policy.min_auc"),
        Check("balanced_accuracy", metrics["validation_balanced_accuracy"],
              policy.min_balanced_accuracy, ">=", "policy.min_balanced_accuracy"),
        Check("adverse_refusal_rate", metrics["validation_adverse_refusal_rate"],
              policy.min_adverse_refusal_rate, ">=", "policy.min_adverse_refusal_rate"),
        Check("favourable_approval_rate", metrics["validation_favourable_approval_rate"],
              policy.min_favourable_approval_rate, ">=",
              "policy.min_favourable_approval_rate")]
    if limits.min_disparate_impact is not None:
        checks.append(Check("disparate_impact", fairness["disparate_impact"],
                            limits.min_disparate_impact, ">=",
                            "model.search.constraints.min_disparate_impact",
                            fairness["disparate_impact_where"]))
    if limits.max_equalized_odds_difference is not None:
        checks.append(Check("equalized_odds_difference", fairness["equalized_odds_difference"],
                            limits.max_equalized_odds_difference, "<=",
                            "model.search.constraints.max_equalized_odds_difference",
                            fairness["equalized_odds_where"]))
    if "validation_perturbation_auc_drop" in metrics:
        banded = limits.max_perturbation_auc_drop is not None
        checks.append(Check("perturbation_auc_drop", metrics["validation_perturbation_auc_drop"],
                            limits.max_perturbation_auc_drop if banded
                            else policy.max_perturbation_auc_drop, "<=",
                            "model.search.constraints.max_perturbation_auc_drop" if banded
                            else "policy.max_perturbation_auc_drop"))
    if limits.max_model_size_kb is not None:
        checks.append(Check("model_size_kb", size_kb, limits.max_model_size_kb, "<=",
                            "model.search.constraints.max_model_size_kb"))
    return checks


def perturbed_validation(train: pd.DataFrame, validation: pd.DataFrame, params: Params
                         ) -> pd.DataFrame:
    """The validation rows moved as the robustness gates move the golden rows (the train
    rows give the spreads and nearest categories), once per search."""
    from ..evidence.robustness import perturb

    spec, settings = params.active, params.robustness
    numeric = [c for c in spec.model_features if c in spec.numeric_columns]
    categorical = [c for c in spec.model_features if c in spec.categorical_columns]
    return perturb(validation, train, train[FAVOURABLE], numeric, categorical,
                   settings.numeric_shift, settings.categorical_swap_share, params.split.seed)


def ranking_scores(model, rows: pd.DataFrame) -> np.ndarray:
    """What orders cases for AUC: a mitigator's probability of a favourable decision (its
    predict_proba is the 0/1 decision itself), else the model's favourable probability."""
    from .mitigation import MitigatedClassifier

    if isinstance(model, MitigatedClassifier):
        return model.favourable_probability(rows)
    return model.predict_proba(rows)[:, 1]


def evaluate_trial(trial_id: int, family: str, chosen: dict, train: pd.DataFrame,
                   validation: pd.DataFrame, params: Params, measure_latency: bool = True,
                   perturbed: pd.DataFrame | None = None, variant: dict | None = None
                   ) -> TrialResult:
    """Fit on train (and mitigate, for a variant), judge on validation only: metrics,
    fairness, robustness, size, then latency when every deterministic constraint held (an
    infeasible trial needs no timing)."""
    from ..data.columns import model_inputs

    spec = params.active
    pipeline = build_pipeline(family, spec, params.model, params.model.search.seed, chosen)
    started = time.perf_counter()
    pipeline.fit(train[spec.model_features], train[FAVOURABLE])
    if variant is not None:
        pipeline = _mitigated(pipeline, train, variant, params)
    fit_seconds = time.perf_counter() - started
    inputs = model_inputs(pipeline, validation)
    probability = ranking_scores(pipeline, inputs)
    y = validation[FAVOURABLE]
    if variant is None:
        point = operating_point(y.to_numpy(), probability, validation, params)
        decided = probability >= point.threshold
    else:
        point = OperatingPoint(params.model.decision_threshold, True, 0)
        decided = pipeline.predict_proba(inputs)[:, 1] >= point.threshold
    predicted = pd.Series(decided.astype(int), index=validation.index)
    metrics = {"validation_auc": round(float(roc_auc_score(y, probability)), 6),
               "decision_threshold": point.threshold,
               "validation_balanced_accuracy":
                   round(float(balanced_accuracy_score(y, predicted)), 6),
               "validation_adverse_refusal_rate":
                   round(float(recall_score(y, predicted, pos_label=0, zero_division=0)), 6),
               "validation_favourable_approval_rate":
                   round(float(recall_score(y, predicted, zero_division=0)), 6),
               "validation_f1": round(float(f1_score(y, predicted)), 6),
               "validation_accuracy": round(float(accuracy_score(y, predicted)), 6),
               "model_size_kb": serialized_kb(pipeline)}
    if perturbed is not None:
        moved = ranking_scores(pipeline, model_inputs(pipeline, perturbed))
        metrics["validation_perturbation_auc_drop"] = round(
            metrics["validation_auc"] - float(roc_auc_score(y, moved)), 6)
    fairness = _worst_disparate_impact(y, predicted, validation, params)
    result = TrialResult(trial_id, family, plain_hyperparameters(chosen), metrics, fairness,
                         _checks(metrics, fairness, metrics["model_size_kb"], params),
                         fit_seconds=round(fit_seconds, 4), variant=variant)
    budget = params.search_constraints.max_latency_ms
    if budget is not None and measure_latency and not result.deterministic_failures:
        result.latency = latency_ms(pipeline, inputs, SCREEN_CALLS, SCREEN_REPEATS)
        result.latency_check = Check(LATENCY, result.latency["p99"], budget, "<=",
                                     "model.search.constraints.max_latency_ms")
    return result


def _mitigated(pipeline, rows: pd.DataFrame, variant: dict, params: Params):
    from .mitigation import mitigate

    return mitigate(pipeline, rows, rows[FAVOURABLE], variant["method"], variant["constraint"],
                    variant["sensitive_feature"], params.model.search.seed,
                    variant["ratio_bound"], variant["max_iter"], variant["objective"])


def floors(params: Params) -> Floors:
    """What the threshold tuner must meet: the policy's decision-quality floors and the
    search's fairness constraints, under the policy's group minimums."""
    policy, limits = params.policy, params.search_constraints
    return Floors(policy.min_balanced_accuracy, policy.min_adverse_refusal_rate,
                  policy.min_favourable_approval_rate, limits.min_disparate_impact,
                  limits.max_equalized_odds_difference, policy.min_group_size,
                  policy.min_rate_denominator, params.model.decision_threshold)


def operating_point(y: np.ndarray, probability: np.ndarray, validation: pd.DataFrame,
                    params: Params) -> OperatingPoint:
    """The trial's threshold: tuned on validation, or model.decision_threshold when tuning
    is off. With model.mitigation the champion's mitigator decides (0/1 probabilities), but
    each plain trial is still screened at its own best operating point."""
    if params.model.threshold_tuning == "none":
        return OperatingPoint(params.model.decision_threshold, True, 0)
    groups = {a: validation[a].astype(str).to_numpy() for a in params.active.sensitive_features}
    return tune(y, probability, groups, floors(params))


def plain_hyperparameters(chosen: dict) -> dict:
    """JSON-safe hyperparameters: numpy scalars to Python, floats rounded for stable bytes."""
    plain = {}
    for name, value in chosen.items():
        if isinstance(value, np.generic):
            value = value.item()
        plain[name] = round(value, 10) if isinstance(value, float) else value
    return plain
