"""The search proved reproducible without running it twice (the `search_reproducible` gate).

A whole second search doubled the training stage's cost to prove one thing: the same seed and
data give the same trials and champion. Two cheaper replays prove the same, each in its own
part. The sampler: told the recorded outcome of each trial in turn, the seeded TPE must propose
every recorded family and hyperparameter set again (no fit: milliseconds). The fits: the
champion and the feasible trial ranked next to it are fitted and judged again from those
proposals and the same sampled rows, and must give the recorded metrics, fairness and size,
so the choice between them stands on figures a re-run reproduces. A search made
non-deterministic (an unseeded sampler or estimator) fails one of the two.
"""

from __future__ import annotations

import pandas as pd

from ..params import Params
from .search import search_sample, seeded_study, single_thread, suggest
from .search_trace import comparable
from .search_trials import LATENCY, TrialResult, evaluate_trial, perturbed_validation
from .search_trials import plain_hyperparameters as plain


def replay_proposals(recorded_trials: list[dict], params: Params) -> dict[int, tuple[str, dict]]:
    """The seeded sampler's proposal (family, hyperparameters) for each recorded plain trial,
    told each recorded outcome in turn: the sampler learns only from the objective and the
    deterministic constraints, both in the trace."""
    study, space = seeded_study(params), params.model.search.space
    proposals = {}
    for row in (t for t in recorded_trials if t["mitigation"] is None):
        trial = study.ask()
        proposals[row["trial_id"]] = suggest(trial, params.model.allowed_families, space)
        for check in row["constraints"]:
            if check["name"] != LATENCY:
                trial.set_constraint(check["name"], recorded_violation(check))
        study.tell(trial, row["validation_balanced_accuracy"])
    return proposals


def recorded_violation(check: dict) -> float:
    """A recorded constraint's violation, as `Check.violation` gave it to the sampler."""
    return 1.0 if check["margin"] is None else max(0.0, -check["margin"])


def replay_targets(recorded_trials: list[dict], champion_id: int | None) -> list[int]:
    """The champion and the feasible trial ranked next to it (the choice between them is the
    search's decision); with no champion, the sampler's first trial."""
    if champion_id is None:
        return [recorded_trials[0]["trial_id"]] if recorded_trials else []
    others = [t for t in recorded_trials if t["feasible"] and t["trial_id"] != champion_id]
    runner_up = max(others, key=_recorded_rank, default=None)
    return [champion_id, *([runner_up["trial_id"]] if runner_up else [])]


def _recorded_rank(row: dict) -> tuple[float, float, int]:
    """`search.ranking` on a trial's trace row."""
    return (row["validation_balanced_accuracy"], row["validation_auc"], -row["trial_id"])


def refit_trials(train: pd.DataFrame, validation: pd.DataFrame, params: Params,
                 recorded_trials: list[dict], proposals: dict[int, tuple[str, dict]],
                 trial_ids: list[int]) -> list[TrialResult]:
    """The named trials fitted and judged again from the replayed proposals and the same
    sampled rows; no timings, as latency reaches neither the sampler nor the deterministic
    columns."""
    settings = params.model.search
    train, _ = search_sample(train, settings.train_sample_rows, settings.seed)
    perturbed = perturbed_validation(train, validation, params)
    rows = {t["trial_id"]: t for t in recorded_trials}
    refitted = []
    with single_thread():
        for trial_id in trial_ids:
            variant = rows[trial_id]["mitigation"]
            family, chosen = _fitted_from(rows[trial_id], proposals)
            refitted.append(evaluate_trial(trial_id, family, chosen, train, validation, params,
                                           measure_latency=False, perturbed=perturbed,
                                           variant=variant))
    return refitted


def _fitted_from(row: dict, proposals: dict[int, tuple[str, dict]]) -> tuple[str, dict]:
    """A plain trial's replayed proposal; a mitigated variant is built, as the search built
    it, from its base trial's recorded family and hyperparameters."""
    if row["mitigation"] is None:
        return proposals[row["trial_id"]]
    return row["algorithm"], row["hyperparameters"]


def replayed_champion(recorded_trials: list[dict], refitted: list[TrialResult]) -> int | None:
    """The search's rule over the recorded trials with the refitted ones in their place; a
    trial the latency screen ruled out stays out (its verdict is the recorded one)."""
    too_slow = {t["trial_id"] for t in recorded_trials for c in t["constraints"]
                if c["name"] == LATENCY and c["passed"] is False}
    rows = {t["trial_id"]: t for t in recorded_trials}
    rows.update({t.trial_id: t.to_trace() for t in refitted})
    feasible = [r for r in rows.values() if r["feasible"] and r["trial_id"] not in too_slow]
    return max(feasible, key=_recorded_rank)["trial_id"] if feasible else None


def replay(recorded: dict, train: pd.DataFrame, validation: pd.DataFrame, params: Params
           ) -> tuple[dict, dict]:
    """What the gate compares: the recorded search and its replay, each as the sampler's
    proposals, the refitted trials' deterministic columns and the champion."""
    trials = recorded["trials"]
    proposals = replay_proposals(trials, params)
    targets = replay_targets(trials, recorded["champion_trial_id"])
    refitted = refit_trials(train, validation, params, trials, proposals, targets)
    by_id = {t["trial_id"]: t for t in trials}
    recorded_view = {
        "seed": recorded["seed"], "champion_trial_id": recorded["champion_trial_id"],
        "proposals": {t["trial_id"]: [t["algorithm"], t["hyperparameters"]]
                      for t in trials if t["mitigation"] is None},
        "trials": comparable([by_id[i] for i in targets])}
    replayed_view = {
        "seed": recorded["seed"], "champion_trial_id": replayed_champion(trials, refitted),
        "proposals": {i: [family, plain(chosen)] for i, (family, chosen) in proposals.items()},
        "trials": comparable([t.to_trace() for t in refitted])}
    return recorded_view, replayed_view
