"""Group training: every algorithm family tried and recorded, the champion refit."""

import io
import time

from dagster import DataVersion, MaterializeResult, MetadataValue, asset

from ..core.files import (
    fingerprint,
    read_json,
    sha256_of_file,
    write_bytes_atomic,
    write_json_atomic,
)
from ..resources import GovernanceProject
from .data import dataset_splits
from .publishing import CODE_VERSION, data_binding, publish, read_split


@asset(group_name="training", deps=[dataset_splits], kinds={"sklearn"},
       code_version=CODE_VERSION)
def model_search(project: GovernanceProject) -> MaterializeResult:
    """Each candidate family fit on train, scored on validation; the choice and why."""
    from ..core import training

    params, layout = project.params(), project.layout
    started = time.perf_counter()
    trials = training.search(read_split(layout, "train"), read_split(layout, "validation"),
                             params.active, params.model, params.split.seed, params.policy.min_auc)
    champion, reason = training.choose_champion(trials)
    write_json_atomic(layout.runtime("search.json"),
                      {"seconds_used": round(time.perf_counter() - started, 3),
                       **training.runtime_figures(trials)})
    report = {
        "search_space": params.model.model_dump(),
        "search_space_hash": params.search_space_hash,
        "seed": params.split.seed,
        "budget": {"trials": len(params.model.candidates), "trials_used": len(trials),
                   "seconds_used": f"see {layout.relative(layout.runtime('search.json'))}"},
        "selection": "highest validation AUC among feasible trials",
        "trials": training.trials_as_dicts(trials),
        "champion_trial_id": champion.trial_id if champion else None,
        "champion_reason": reason,
        "binding": data_binding(layout),
    }
    best = champion.validation_auc if champion else 0.0
    return publish(layout, "search", report,
                   {"trials": len(trials), "feasible": sum(t.feasible for t in trials),
                    "champion_validation_auc": best,
                    "champion_algorithm": champion.algorithm if champion else "none"})


@asset(group_name="training", deps=[model_search, dataset_splits], kinds={"sklearn"},
       code_version=CODE_VERSION)
def candidate_model(project: GovernanceProject) -> MaterializeResult:
    """The champion refit on train + validation, mitigated when params ask: the exact bytes
    every report evaluates."""
    import joblib

    from ..core import mitigation, training

    params, layout = project.params(), project.layout
    search = read_json(layout.report("search.json"))
    champion = next((training.Trial(**t) for t in search["trials"]
                     if t["trial_id"] == search["champion_trial_id"]), None)
    if champion is None:
        raise ValueError(f"{layout.report('search.json')}: no feasible champion to refit")
    train, validation = read_split(layout, "train"), read_split(layout, "validation")
    pipeline = training.refit(champion, train, validation, params.active, params.model,
                              params.split.seed)
    settings = params.model.mitigation
    if settings.method != "none":
        import pandas as pd

        from ..core.columns import FAVOURABLE

        both = pd.concat([train, validation], ignore_index=True)
        pipeline = mitigation.mitigate(pipeline, both, both[FAVOURABLE], settings.method,
                                       settings.constraint, params.mitigation_feature,
                                       params.split.seed, settings.ratio_bound)
    buffer = io.BytesIO()
    joblib.dump(pipeline, buffer)
    write_bytes_atomic(layout.model, buffer.getvalue())
    sha256 = sha256_of_file(layout.model)
    meta = {"trial_id": champion.trial_id, "algorithm": champion.algorithm,
            "hyperparameters": champion.hyperparameters, "sha256": sha256,
            "features": list(pipeline.feature_names_in_),
            "mitigation": mitigation.describe(pipeline),
            "decision_threshold": params.model.decision_threshold,
            "trained_on": "train + validation splits", "binding": data_binding(layout)}
    write_json_atomic(layout.model_meta, meta)
    return MaterializeResult(
        data_version=DataVersion(fingerprint([layout.model])),
        metadata={"algorithm": champion.algorithm, "sha256": sha256,
                  "model": MetadataValue.path(layout.relative(layout.model))},
    )
