"""Group training: the constraint-aware search (every trial recorded), the champion refit."""

from dagster import DataVersion, MaterializeResult, MetadataValue, asset

from ..core.data.columns import input_columns
from ..core.decide.verdicts import code_version
from ..core.files import (
    fingerprint,
    read_json,
    sha256_of_file,
    write_bytes_atomic,
    write_json_atomic,
)
from ..core.report import markdown
from ..resources import GovernanceProject
from .data import dataset_splits
from .publishing import CODE_VERSION, data_binding, publish, read_split

CARBON_SEARCH = "carbon_search.json"
PARETO_PLOT = "search_pareto.png"


@asset(group_name="training", deps=[dataset_splits], kinds={"optuna", "sklearn"},
       code_version=CODE_VERSION)
def model_search(project: GovernanceProject) -> MaterializeResult:
    """Constraint-aware search on validation: every trial, its constraint verdicts and
    margins, the rejection log, the champion and why; energy and CO2 of the search."""
    from ..core.model import carbon, search, search_trace, search_view

    params, layout = project.params(), project.layout
    if params.active.external:
        return _no_search(project)
    with carbon.tracked("search", params.model.search.carbon_country) as used:
        outcome = search.run_search(read_split(layout, "train"),
                                    read_split(layout, "validation"), params)
    write_json_atomic(layout.runtime("search.json"), search_trace.runtime(outcome))
    write_json_atomic(layout.runtime(CARBON_SEARCH), used.figures)
    trace = {**search_trace.trace(outcome, params), "binding": data_binding(layout)}
    plot = search_view.pareto_plot(trace, layout.report(PARETO_PLOT))
    table = search_view.trials_table(trace)
    champion = outcome.champion
    return publish(layout, "search", trace,
                   {"trials": len(outcome.trials),
                    "feasible": sum(t.feasible for t in outcome.trials),
                    "champion_validation_auc":
                        champion.metrics["validation_auc"] if champion else 0.0,
                    "champion_algorithm": champion.algorithm if champion else "none"},
                   extra_files=(plot,),
                   extra_metadata={
                       "trials_table": MetadataValue.md(table),
                       "pareto": MetadataValue.md(markdown.image(plot, "AUC against DIR")),
                       "champion_reason": trace["champion_reason"],
                       "rejections": trace["rejection_summary"],
                       "energy_kwh (runtime)": used.figures["energy_kwh"],
                       "emissions_kg_co2eq (runtime)": used.figures["emissions_kg_co2eq"],
                       "power_mode (runtime)": used.figures["power_mode"]})


def _no_search(project: GovernanceProject) -> MaterializeResult:
    """An external model or score column stands for the candidate: nothing is searched."""
    from ..core.model import external_model, search_view

    params, layout = project.params(), project.layout
    origin = external_model.describe(layout.root, params.active)
    plot = search_view.no_search_plot(f"The candidate is an external {origin['kind']} "
                                      f"({origin['provenance']}), not trained here.",
                                      layout.report(PARETO_PLOT))
    report = {"search_space": params.model.model_dump(),
              "search_space_hash": params.search_space_hash, "seed": params.split.seed,
              "budget": {"trials": 0, "trials_used": 0, "stopped_by": "no search",
                         "seconds_used": 0}, "rejections": [],
              "selection": "none: " + origin["not_trained_here"]["search"],
              "trials": [], "champion_trial_id": None, "external": origin,
              "champion_reason": f"external {origin['kind']} ({origin['provenance']}), "
                                 "not trained here",
              "binding": data_binding(layout)}
    return publish(layout, "search", report, {"trials": 0, "external": origin["kind"]},
                   extra_files=(plot,))


def _external_candidate(project: GovernanceProject) -> tuple[object, dict]:
    """The model file loaded safely, or the score rule; and what candidate.json says of it."""
    from ..core.model import external_model

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
    model or score rule: the exact bytes every report evaluates (skops: loading them runs no
    code)."""
    from ..core.model import carbon, mitigation, model_files

    params, layout = project.params(), project.layout
    with carbon.tracked("refit", params.model.search.carbon_country) as used:
        pipeline, described = (_external_candidate(project) if params.active.external else
                               _refit_champion(project))
    write_bytes_atomic(layout.model, model_files.dumps(pipeline))
    sha256 = sha256_of_file(layout.model)
    energy = _record_carbon(layout, used.figures, sha256)
    meta = {"trial_id": described["trial_id"], "algorithm": described["algorithm"],
            "hyperparameters": described["hyperparameters"], "sha256": sha256,
            "features": input_columns(pipeline, params.active.model_features),
            "mitigation": mitigation.describe(pipeline),
            "decision_threshold": described.get("decision_threshold",
                                                params.model.decision_threshold),
            "threshold_rule": described.get("threshold_rule", "model.decision_threshold"),
            "trained_on": described["trained_on"],
            **({"external": described["external"]} if "external" in described else {}),
            "binding": data_binding(layout)}
    write_json_atomic(layout.model_meta, meta)
    return MaterializeResult(
        data_version=DataVersion(fingerprint([layout.model])),
        metadata={"algorithm": meta["algorithm"], "sha256": sha256,
                  "model": MetadataValue.path(layout.relative(layout.model)),
                  "energy_kwh (runtime)": energy["energy_kwh"],
                  "emissions_kg_co2eq (runtime)": energy["emissions_kg_co2eq"]},
    )


def _record_carbon(layout, refit: dict, sha256: str) -> dict:
    """Search + refit: the latest in runtime/carbon.json (a DVC metric), and the first
    measurement of this exact candidate, which the deterministic card quotes."""
    from ..core.model import carbon

    search_path = layout.runtime(CARBON_SEARCH)
    parts = ([read_json(search_path)] if search_path.exists() else []) + [refit]
    record = {**carbon.combine(parts),
              "binding": {**data_binding(layout), "candidate_sha256": sha256}}
    write_json_atomic(layout.runtime("carbon.json"), record)
    first = layout.runtime(carbon.record_name(sha256, code_version()))
    if not first.exists():
        write_json_atomic(first, record)
    return record


def _refit_champion(project: GovernanceProject) -> tuple[object, dict]:
    """The search's champion refit on train + validation, mitigated when params ask."""
    from ..core.model import mitigation, training

    params, layout = project.params(), project.layout
    search = read_json(layout.report("search.json"))
    champion = search["champion"]
    if champion is None:
        raise ValueError(f"{layout.report('search.json')}: no feasible champion to refit")
    train, validation = read_split(layout, "train"), read_split(layout, "validation")
    pipeline = training.refit(champion["algorithm"], champion["hyperparameters"], train,
                              validation, params.active, params.model, params.model.search.seed)
    variant, settings = champion.get("mitigation"), params.model.mitigation
    if variant is not None or settings.method != "none":
        import pandas as pd

        from ..core.data.columns import FAVOURABLE

        both = pd.concat([train, validation], ignore_index=True)
        pipeline = (mitigation.mitigate(pipeline, both, both[FAVOURABLE], variant["method"],
                                        variant["constraint"], variant["sensitive_feature"],
                                        params.model.search.seed, variant["ratio_bound"],
                                        variant["max_iter"], variant["objective"])
                    if variant is not None else
                    mitigation.mitigate(pipeline, both, both[FAVOURABLE], settings.method,
                                        settings.constraint, params.mitigation_feature,
                                        params.split.seed, settings.ratio_bound))
    tuned = variant is None and settings.method == "none" and "decision_threshold" in champion
    return pipeline, {"trial_id": champion["trial_id"], "algorithm": champion["algorithm"],
                      "hyperparameters": champion["hyperparameters"],
                      "trained_on": "train + validation splits",
                      **({"decision_threshold": champion["decision_threshold"],
                          "threshold_rule": search["threshold_rule"]} if tuned else {})}
