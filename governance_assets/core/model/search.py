"""Constraint-aware model search: every trial with its metrics, constraint verdicts and margins,
a rejection log in words, and the champion with the reason it won.

Sampler: optuna's TPESampler, seeded, with each trial's constraint violations set on the
trial (`Trial.set_constraint`, feasibility-aware TPE). It fits
a budget of tens of trials over a conditional space (family, then that family's ranges);
NSGA-II needs a population of ~50 per generation to do better than random, which a 12-trial
budget on 2 cores cannot afford, and the objective here is one number (validation AUC) with the
rest as hard constraints, not a trade-off to explore.

Determinism: the trace (`trace`) holds only what the same seed and data reproduce byte for
byte. The sampler learns only from deterministic constraints (AUC floor, fairness, size);
latency is screened per trial with the latency gate's function (one short pass: a screen with
headroom, not the gate's measurement), decided against its budget, and never
fed back to the sampler, so a slow machine can at most turn a trial infeasible, never change
which trials are tried. Its milliseconds and the wall time go to `runtime`, not the trace.
"""

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
from ..params import Params, Range
from .thresholds import Floors, OperatingPoint, tune
from .training import build_pipeline

# The search's latency screen: warm passes of this many single-row calls per feasible trial
# (the gate measures the champion with evaluation.latency_rows x latency_repeats), judged on
# the median pass's p99. One pass's p99 of 30 calls is its slowest call: a single 394 ms stall
# on a loaded machine ruled out a trial whose median call took 13 ms.
SCREEN_CALLS, SCREEN_REPEATS = 30, 3

SELECTION = ("highest validation balanced accuracy at the trial's decision threshold among "
             "feasible trials (ties: higher validation AUC, then the earlier trial); the "
             "sampler maximizes the same figure")
DETERMINISM = ("same seed and data give the same trials and champion: sequential seeded TPE, "
               "seeded estimators, one thread; latency is machine-dependent and decides only "
               "feasibility, never the sampler; the serialized size depends on the installed "
               "scikit-learn and skops versions; a search ended by timeout_seconds has a "
               "machine-dependent trial count")


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
        return f"{self.label} rejected: " + "; ".join(_describe_failure(c) for c in failed)

    def to_trace(self) -> dict:
        """The deterministic record of the trial (latency as a verdict, never milliseconds)."""
        constraints = [c.to_dict() for c in self.checks]
        if self.latency_check is not None:
            constraints.append({"name": "latency_p99_ms", "value": "machine-dependent: "
                                "reports/runtime/search.json", "threshold":
                                self.latency_check.threshold, "comparison": "<=",
                                "passed": self.latency_check.passed, "margin": None,
                                "params_key": self.latency_check.key})
        elif self.deterministic_failures:
            constraints.append({"name": "latency_p99_ms", "value": None, "threshold": None,
                                "comparison": "<=", "passed": None, "margin": None,
                                "params_key": "model.search.constraints.max_latency_ms",
                                "note": "not measured: already infeasible"})
        return {"trial_id": self.trial_id, "algorithm": self.algorithm,
                "hyperparameters": self.hyperparameters, "mitigation": self.variant,
                **self.metrics,
                "fairness": self.fairness, "constraints": constraints,
                "feasible": self.feasible, "rejection_reason": self.rejection_reason()}


def _describe_failure(check: Check) -> str:
    if check.value is None:
        return f"{check.name} could not be measured ({check.key})"
    where = f" on {check.where}" if check.where else ""
    opposite = "<" if check.comparison == ">=" else ">"
    return (f"{check.name} {check.value:.4g} {opposite} {check.threshold:g}{where} "
            f"(margin {check.margin:+.4g})")


def suggest(trial, allowed: list[str], space: dict[str, dict[str, Range]]) -> tuple[str, dict]:
    """The family, then that family's hyperparameters; names are family-qualified so each
    keeps one distribution (optuna requires it across trials)."""
    family = trial.suggest_categorical("family", allowed)
    chosen = {}
    for name, bounds in space.get(family, {}).items():
        key = f"{family}.{name}"
        if bounds.choices is not None:
            chosen[name] = trial.suggest_categorical(key, bounds.choices)
        elif bounds.integer:
            chosen[name] = trial.suggest_int(key, int(bounds.low), int(bounds.high),
                                             log=bounds.log)
        else:
            chosen[name] = trial.suggest_float(key, bounds.low, bounds.high, log=bounds.log)
    return family, chosen


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
    result = TrialResult(trial_id, family, _plain(chosen), metrics, fairness,
                         _checks(metrics, fairness, metrics["model_size_kb"], params),
                         fit_seconds=round(fit_seconds, 4), variant=variant)
    budget = params.search_constraints.max_latency_ms
    if budget is not None and measure_latency and not result.deterministic_failures:
        result.latency = latency_ms(pipeline, inputs, SCREEN_CALLS, SCREEN_REPEATS)
        result.latency_check = Check("latency_p99_ms", result.latency["p99"], budget, "<=",
                                     "model.search.constraints.max_latency_ms")
    return result


def _mitigated(pipeline, rows: pd.DataFrame, variant: dict, params: Params):
    from .mitigation import mitigate

    return mitigate(pipeline, rows, rows[FAVOURABLE], variant["method"], variant["constraint"],
                    variant["sensitive_feature"], params.model.search.seed,
                    variant["ratio_bound"], variant["max_iter"], variant["objective"])


def binding_attribute(trial: TrialResult, params: Params) -> tuple[str, str] | None:
    """The sensitive attribute whose constraint binds for this trial, and the constraint a
    mitigator should hold: selection-rate parity for the DIR band, else equalized odds."""
    limits = params.search_constraints
    if limits.min_disparate_impact is not None and trial.fairness["disparate_impact_where"]:
        return trial.fairness["disparate_impact_where"].split(":")[0], "demographic_parity"
    if (limits.max_equalized_odds_difference is not None
            and trial.fairness["equalized_odds_where"]):
        return trial.fairness["equalized_odds_where"].split(":")[0], "equalized_odds"
    return None


def mitigated_trials(plain: list[TrialResult], train: pd.DataFrame, validation: pd.DataFrame,
                     params: Params, measure_latency: bool, perturbed: pd.DataFrame
                     ) -> tuple[list[TrialResult], list[str]]:
    """fairlearn's mitigations around the best plain trials, each a trial of its own; and why
    a variant was not tried (a ThresholdOptimizer needs the attribute at decision time)."""
    settings = params.model.search.mitigated_variants
    if settings.when == "never" or not plain or (
            settings.when == "no_feasible_trial" and any(t.feasible for t in plain)):
        return [], []
    bases = sorted(plain, key=lambda t: (-t.metrics["validation_balanced_accuracy"],
                                         -t.metrics["validation_auc"], t.trial_id))
    variants, skipped = [], []
    for base in bases[:settings.base_trials]:
        binding = binding_attribute(base, params)
        if binding is None:
            skipped.append(f"trial {base.trial_id}: no fairness constraint binds, nothing to "
                           "mitigate")
            continue
        attribute, constraint = binding
        for method in settings.methods:
            if (method == "threshold_optimizer"
                    and attribute not in params.active.decision_time_attributes):
                skipped.append(f"threshold_optimizer on trial {base.trial_id}: it reads "
                               f"{attribute} at decision time, which datasets."
                               f"{params.dataset}.decision_time_attributes does not allow")
                continue
            bound = params.search_constraints.min_disparate_impact
            variant = {"method": method, "constraint": constraint,
                       "sensitive_feature": attribute, "base_trial": base.trial_id,
                       "ratio_bound": bound if method == "exponentiated_gradient"
                       and constraint == "demographic_parity" else None,
                       "max_iter": settings.max_iter,
                       "objective": "balanced_accuracy_score",
                       "attribute_rule": f"the attribute whose constraint binds for trial "
                                         f"{base.trial_id}"}
            variants.append(evaluate_trial(len(plain) + len(variants), base.algorithm,
                                           base.hyperparameters, train, validation, params,
                                           measure_latency, perturbed, variant))
    return variants, skipped


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


def _plain(chosen: dict) -> dict:
    """JSON-safe hyperparameters: numpy scalars to Python, floats rounded for stable bytes."""
    plain = {}
    for name, value in chosen.items():
        if isinstance(value, np.generic):
            value = value.item()
        plain[name] = round(value, 10) if isinstance(value, float) else value
    return plain


def single_thread():
    """Fits and scores on one thread: every trial timed alike, and no dependence of the trace
    on how many cores OpenMP found (HistGradientBoosting sums histograms in parallel)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def ranking(trial: TrialResult) -> tuple[float, float, int]:
    """How feasible trials are ranked (SELECTION): the decisions the model will make first,
    then how well it orders cases, then the earlier trial."""
    return (trial.metrics["validation_balanced_accuracy"], trial.metrics["validation_auc"],
            -trial.trial_id)


@dataclass
class SearchOutcome:
    trials: list[TrialResult]
    stopped_by: str
    seconds: float
    sampling: dict | None = None
    skipped_variants: list[str] = field(default_factory=list)

    @property
    def champion(self) -> TrialResult | None:
        feasible = [t for t in self.trials if t.feasible]
        if not feasible:
            return None
        return max(feasible, key=ranking)


def run_search(train: pd.DataFrame, validation: pd.DataFrame, params: Params,
               measure_latency: bool = True) -> SearchOutcome:
    """Seeded TPE over the allowed families; every trial kept, feasible or not. Without
    latency (a replay), the sampler sees the same values: latency never reaches it."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    settings = params.model.search
    train, sampling = search_sample(train, settings.train_sample_rows, settings.seed)
    perturbed = perturbed_validation(train, validation, params)
    results: list[TrialResult] = []

    def objective(trial) -> float:
        family, chosen = suggest(trial, params.model.allowed_families, settings.space)
        result = evaluate_trial(trial.number, family, chosen, train, validation, params,
                                measure_latency, perturbed)
        results.append(result)
        for check in result.checks:
            trial.set_constraint(check.name, check.violation())
        return result.metrics["validation_balanced_accuracy"]

    sampler = optuna.samplers.TPESampler(
        seed=settings.seed, n_startup_trials=min(len(params.model.allowed_families) * 2, 6))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    started = time.perf_counter()
    with single_thread():
        study.optimize(objective, n_trials=settings.trials, timeout=settings.timeout_seconds)
        stopped_by = "trials" if len(results) >= settings.trials else "timeout_seconds"
        variants, skipped = mitigated_trials(results, train, validation, params,
                                             measure_latency, perturbed)
    seconds = time.perf_counter() - started
    return SearchOutcome(results + variants, stopped_by, round(seconds, 3), sampling, skipped)


def search_sample(train: pd.DataFrame, rows: int | None, seed: int
                  ) -> tuple[pd.DataFrame, dict | None]:
    """The train rows the trials fit on: all of them, or a seeded sample stratified by label.

    A trial's fit grows with its rows (gradient boosting on 90,000 census rows: 14-41 s on
    one thread), so a capped sample keeps the search's cost flat as data grows; the ranking
    of hyperparameters is what the search needs, and the champion is refit on every row.
    Returns the rows and what was sampled (None when nothing was).
    """
    from sklearn.model_selection import train_test_split

    if rows is None or len(train) <= rows:
        return train, None
    kept, _ = train_test_split(train.index.to_numpy(), train_size=rows,
                               stratify=train[FAVOURABLE], random_state=seed)
    sample = train.loc[np.sort(kept)]
    return sample, {"train_rows": len(train), "fitted_on_rows": len(sample),
                    "params_key": "model.search.train_sample_rows",
                    "rule": f"seeded sample (seed {seed}) stratified by label; validation "
                            "is judged on all its rows and the champion is refit on all "
                            "train + validation rows"}


def champion_reason(outcome: SearchOutcome, params: Params) -> str:
    """Why the winner won, as a reviewer would say it."""
    champion = outcome.champion
    feasible = [t for t in outcome.trials if t.feasible]
    if champion is None:
        return ("no trial met the constraints; nothing can be promoted ("
                + rejection_summary(outcome.trials) + "). " + nearest_trial(outcome.trials))
    budget = params.search_constraints.max_latency_ms
    latency = (f"; latency p99 within {budget:g} ms (figure in reports/runtime/search.json)"
               if budget is not None else "")
    di = champion.fairness["disparate_impact"]
    fairness = f"; disparate impact {di:.3f} on validation" if di is not None else ""
    metrics = champion.metrics
    return (f"{champion.algorithm} ({champion.label}): validation AUC "
            f"{metrics['validation_auc']:.3f}, the best of {len(feasible)} feasible "
            f"trial(s) out of {len(outcome.trials)}; at decision threshold "
            f"{metrics['decision_threshold']:g} it refuses "
            f"{metrics['validation_adverse_refusal_rate']:.0%} of truly unfavourable and "
            f"approves {metrics['validation_favourable_approval_rate']:.0%} of truly "
            f"favourable validation cases (balanced accuracy "
            f"{metrics['validation_balanced_accuracy']:.3f}){fairness}; model size "
            f"{metrics['model_size_kb']:g} KB{latency}")


def nearest_trial(trials: list[TrialResult]) -> str:
    """The infeasible trial that came closest (smallest total shortfall) and what to loosen."""
    if not trials:
        return "No trial ran."
    closest = min(trials, key=lambda t: (sum(c.violation() for c in t.deterministic_failures),
                                         t.trial_id))
    failed = closest.deterministic_failures or [c for c in [closest.latency_check] if c]
    loosen = ", ".join(dict.fromkeys(c.key for c in failed))
    return (f"Nearest: {closest.label} ({closest.algorithm}) missed by "
            + "; ".join(_describe_failure(c) for c in failed)
            + f". To promote, improve the data or model space, or loosen {loosen} (a policy "
            "decision to record).")


def rejection_summary(trials: list[TrialResult]) -> str:
    """Which constraint ruled out how many trials (a trial can fail several)."""
    counts: dict[str, int] = {}
    for trial in trials:
        failed = trial.deterministic_failures + (
            [trial.latency_check] if trial.latency_check and not trial.latency_check.passed
            else [])
        for check in failed:
            counts[check.name] = counts.get(check.name, 0) + 1
    if not counts:
        return "no trial was rejected"
    return ", ".join(f"{name} ruled out {n} of {len(trials)} trial(s)"
                     for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def trace(outcome: SearchOutcome, params: Params) -> dict:
    """The deterministic governance record of the search (reports/search.json)."""
    settings, champion = params.model.search, outcome.champion
    return {
        "sampler": "optuna TPESampler with Trial.set_constraint, seeded",
        "search_space": {"allowed": params.model.allowed_families, "banned": settings.banned,
                         "ranges": {f: {n: r.model_dump() for n, r in
                                        settings.space.get(f, {}).items()}
                                    for f in params.model.allowed_families}},
        "search_space_hash": params.search_space_hash,
        "seed": settings.seed,
        "constraints": {"min_auc": params.policy.min_auc,
                        **params.search_constraints.model_dump(),
                        "evaluated_on": "validation split (the golden test set is never used)",
                        **_overridden(params)},
        "class_imbalance": "class_weight searched per family (null or balanced); the "
                           "decision threshold is set as threshold_rule says",
        "threshold_rule": threshold_rule(params),
        "budget": {"trials": settings.trials, "timeout_seconds": settings.timeout_seconds,
                   "trials_used": len(outcome.trials), "stopped_by": outcome.stopped_by,
                   "seconds_used": "machine-dependent: reports/runtime/search.json"},
        "selection": SELECTION,
        "determinism": DETERMINISM,
        "trials": [t.to_trace() for t in outcome.trials],
        "mitigated_variants": {
            **settings.mitigated_variants.model_dump(),
            "tried": sum(t.variant is not None for t in outcome.trials),
            "not_tried": outcome.skipped_variants},
        "rejections": [t.rejection_reason() for t in outcome.trials if not t.feasible],
        "rejection_summary": rejection_summary(outcome.trials),
        "champion_trial_id": champion.trial_id if champion else None,
        "champion": ({"trial_id": champion.trial_id, "algorithm": champion.algorithm,
                      "hyperparameters": champion.hyperparameters,
                      "mitigation": champion.variant, **champion.metrics,
                      "disparate_impact": champion.fairness["disparate_impact"]}
                     if champion else None),
        "champion_reason": champion_reason(outcome, params),
        **({"sampling": outcome.sampling} if outcome.sampling else {}),
    }


def threshold_rule(params: Params) -> str:
    """How each trial's decision threshold was set, in words."""
    if params.model.threshold_tuning == "none":
        return f"decision threshold fixed at {params.model.decision_threshold}"
    return ("decision threshold tuned per trial on validation (model.threshold_tuning: "
            "global): the grid threshold with the highest balanced accuracy among those "
            "meeting policy.min_balanced_accuracy, policy.min_adverse_refusal_rate, "
            "policy.min_favourable_approval_rate and the fairness constraints; ties: nearest "
            f"model.decision_threshold ({params.model.decision_threshold})")


def _overridden(params: Params) -> dict:
    """Which constraints the active dataset's block set, and the values they replaced."""
    given = params.active.search_constraints
    if not given:
        return {}
    defaults = params.model.search.constraints.model_dump()
    return {"dataset_overrides": {
        "params_key": f"datasets.{params.dataset}.search_constraints",
        "replaced": {key: {"default": defaults[key], "now": value}
                     for key, value in sorted(given.items())}}}


def runtime(outcome: SearchOutcome) -> dict:
    """The machine-dependent figures: wall time, fit time and latency of each trial."""
    return {"seconds_used": outcome.seconds,
            "trials": [{"trial_id": t.trial_id, "fit_seconds": t.fit_seconds,
                        "latency_ms": t.latency} for t in outcome.trials]}


DETERMINISTIC_TRIAL_KEYS = ("trial_id", "algorithm", "hyperparameters", "mitigation",
                            "validation_auc",
                            "decision_threshold", "validation_balanced_accuracy",
                            "validation_adverse_refusal_rate",
                            "validation_favourable_approval_rate", "validation_f1",
                            "validation_accuracy", "validation_perturbation_auc_drop",
                            "model_size_kb", "fairness")


def comparable(trials: list[dict]) -> list[dict]:
    """The columns a same-seed re-run must reproduce exactly (latency verdicts excluded)."""
    return [{k: t.get(k) for k in DETERMINISTIC_TRIAL_KEYS} for t in trials]


def replay_champion(replayed: SearchOutcome, recorded_trials: list[dict]) -> int | None:
    """The champion of a replay run without timings, using the recorded latency verdicts:
    the same rule as the search, so equal trial tables must give the recorded champion."""
    too_slow = {t["trial_id"] for t in recorded_trials for c in t["constraints"]
                if c["name"] == "latency_p99_ms" and c["passed"] is False}
    feasible = [t for t in replayed.trials
                if not t.deterministic_failures and t.trial_id not in too_slow]
    if not feasible:
        return None
    return max(feasible, key=ranking).trial_id
