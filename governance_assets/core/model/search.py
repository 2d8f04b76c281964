"""Constraint-aware model search: every trial with its metrics, constraint verdicts and margins,
a rejection log in words, and the champion with the reason it won.

Sampler: optuna's TPESampler, seeded, with each trial's constraint violations set on the
trial (`Trial.set_constraint`, feasibility-aware TPE). It fits
a budget of tens of trials over a conditional space (family, then that family's ranges);
NSGA-II needs a population of ~50 per generation to do better than random, which a 12-trial
budget on 2 cores cannot afford, and the objective here is one number (validation AUC) with the
rest as hard constraints, not a trade-off to explore.

Determinism: the trace (`search_trace.trace`) holds only what the same seed and data
reproduce byte for byte. The sampler learns only from deterministic constraints (AUC floor,
fairness, size); latency is screened per trial with the latency gate's function (one short
pass: a screen with headroom, not the gate's measurement), decided against its budget, and
never fed back to the sampler, so a slow machine can at most turn a trial infeasible, never
change which trials are tried. Its milliseconds and the wall time go to
`search_trace.runtime`, not the trace.

A trial's fit and judgement are in `search_trials.py`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..data.columns import FAVOURABLE
from ..params import Params, Range
from .search_trials import TrialResult, evaluate_trial, perturbed_validation


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
                     params: Params, perturbed: pd.DataFrame
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
                                           perturbed=perturbed, variant=variant))
    return variants, skipped


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


def run_search(train: pd.DataFrame, validation: pd.DataFrame, params: Params) -> SearchOutcome:
    """Seeded TPE over the allowed families; every trial kept, feasible or not (latency is
    screened but never reaches the sampler: core/model/search_replay.py relies on it)."""
    settings = params.model.search
    train, sampling = search_sample(train, settings.train_sample_rows, settings.seed)
    perturbed = perturbed_validation(train, validation, params)
    results: list[TrialResult] = []

    def objective(trial) -> float:
        family, chosen = suggest(trial, params.model.allowed_families, settings.space)
        result = evaluate_trial(trial.number, family, chosen, train, validation, params,
                                perturbed=perturbed)
        results.append(result)
        for check in result.checks:
            trial.set_constraint(check.name, check.violation())
        return result.metrics["validation_balanced_accuracy"]

    study = seeded_study(params)
    started = time.perf_counter()
    with single_thread():
        study.optimize(objective, n_trials=settings.trials, timeout=settings.timeout_seconds)
        stopped_by = "trials" if len(results) >= settings.trials else "timeout_seconds"
        variants, skipped = mitigated_trials(results, train, validation, params, perturbed)
    seconds = time.perf_counter() - started
    return SearchOutcome(results + variants, stopped_by, round(seconds, 3), sampling, skipped)


def seeded_study(params: Params):
    """The study every search and every replay starts from: TPE seeded from the params."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(
        seed=params.model.search.seed,
        n_startup_trials=min(len(params.model.allowed_families) * 2, 6))
    return optuna.create_study(direction="maximize", sampler=sampler)


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
