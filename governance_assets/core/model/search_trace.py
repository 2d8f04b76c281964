"""The search trace (reports/search.json): every trial, the rejection log in words, the
champion and why it won; what the same seed and data reproduce byte for byte, and apart
from it the machine-dependent runtime."""

from __future__ import annotations

from ..params import Params
from .search import SearchOutcome
from .search_trials import TrialResult, describe_failure

SELECTION = ("highest validation balanced accuracy at the trial's decision threshold among "
             "feasible trials (ties: higher validation AUC, then the earlier trial); the "
             "sampler maximizes the same figure")


DETERMINISM = ("same seed and data give the same trials and champion: sequential seeded TPE, "
               "seeded estimators, one thread; latency is machine-dependent and decides only "
               "feasibility, never the sampler; the serialized size depends on the installed "
               "scikit-learn and skops versions; a search ended by timeout_seconds has a "
               "machine-dependent trial count")


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
            + "; ".join(describe_failure(c) for c in failed)
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
