"""Group training: every algorithm family tried and recorded, the champion refit."""

import io
import time

from dagster import DataVersion, MaterializeResult, MetadataValue, asset

from ..core.columns import input_columns
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
    if params.active.external:
        return _no_search(project)
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


def _no_search(project: GovernanceProject) -> MaterializeResult:
    """An external model or score column stands for the candidate: nothing is searched."""
    from ..core import external_model

    params, layout = project.params(), project.layout
    origin = external_model.describe(layout.root, params.active)
    report = {"search_space": params.model.model_dump(),
              "search_space_hash": params.search_space_hash, "seed": params.split.seed,
              "budget": {"trials": 0, "trials_used": 0, "seconds_used": 0},
              "selection": "none: " + origin["not_trained_here"]["search"],
              "trials": [], "champion_trial_id": None, "external": origin,
              "champion_reason": f"external {origin['kind']} ({origin['provenance']}), "
                                 "not trained here",
              "binding": data_binding(layout)}
    return publish(layout, "search", report, {"trials": 0, "external": origin["kind"]})


def _external_candidate(project: GovernanceProject) -> tuple[object, dict]:
    """The model file loaded safely, or the score rule; and what candidate.json says of it."""
    from ..core import external_model

    params, layout = project.params(), project.layout
    spec = params.active
    if spec.external_model is not None:
        model = external_model.load_model_file(layout.root, spec.external_model, spec)
    else:
        model = external_model.score_pipeline(spec.external_scores,
                                              read_split(layout, "train")[spec.model_features],
                                              params.model.decision_threshold)
    origin = external_model.describe(layout.root, spec)
    return model, {"trial_id": None, "algorithm": f"external {origin['kind']}: "
                                                  f"{type(model.named_steps['est']).__name__}",
                   "hyperparameters": {}, "external": origin,
                   "trained_on": "not trained here: " + origin["provenance"]}


@asset(group_name="training", deps=[model_search, dataset_splits], kinds={"sklearn"},
       code_version=CODE_VERSION)
def candidate_model(project: GovernanceProject) -> MaterializeResult:
    """The champion refit on train + validation (mitigated when params ask), or the external
    model or score rule: the exact bytes every report evaluates."""
    import joblib

    from ..core import mitigation

    params, layout = project.params(), project.layout
    pipeline, described = (_external_candidate(project) if params.active.external else
                           _refit_champion(project))
    buffer = io.BytesIO()
    joblib.dump(pipeline, buffer)
    write_bytes_atomic(layout.model, buffer.getvalue())
    sha256 = sha256_of_file(layout.model)
    meta = {"trial_id": described["trial_id"], "algorithm": described["algorithm"],
            "hyperparameters": described["hyperparameters"], "sha256": sha256,
            "features": input_columns(pipeline, params.active.model_features),
            "mitigation": mitigation.describe(pipeline),
            "decision_threshold": params.model.decision_threshold,
            "trained_on": described["trained_on"],
            **({"external": described["external"]} if "external" in described else {}),
            "binding": data_binding(layout)}
    write_json_atomic(layout.model_meta, meta)
    return MaterializeResult(
        data_version=DataVersion(fingerprint([layout.model])),
        metadata={"algorithm": meta["algorithm"], "sha256": sha256,
                  "model": MetadataValue.path(layout.relative(layout.model))},
    )


def _refit_champion(project: GovernanceProject) -> tuple[object, dict]:
    """The search's champion refit on train + validation, mitigated when params ask."""
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
    return pipeline, {"trial_id": champion.trial_id, "algorithm": champion.algorithm,
                      "hyperparameters": champion.hyperparameters,
                      "trained_on": "train + validation splits"}
