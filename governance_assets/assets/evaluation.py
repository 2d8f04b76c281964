"""Group evaluation: golden-test performance, fairness, explanations, drift.

Each report records the data version and the candidate sha256 it was computed on (`binding`),
and the candidate is loaded (with skops, never unpickled) only from bytes whose sha256 is the one
recorded at training.
"""

from typing import TYPE_CHECKING

from dagster import Failure, MaterializeResult, MetadataValue, asset

from ..core.data.columns import FAVOURABLE, model_inputs
from ..core.files import read_json, write_json_atomic, write_text_atomic
from ..core.layout import Layout
from ..core.model import model_files
from ..core.record import registry
from ..core.report import evidence_view, markdown
from ..core.trust import signoff
from ..resources import GovernanceProject
from .data import dataset_splits
from .publishing import (
    CODE_VERSION,
    data_binding,
    evaluation_rows,
    load_candidate,
    operating_threshold,
    publish,
    read_split,
)
from .training import candidate_model

if TYPE_CHECKING:
    import pandas as pd

    from ..core.evidence.fairness import FairnessSettings
    from ..core.params import DatasetSpec, Params


def _production_comparison(layout: Layout, params: "Params", golden: "pd.DataFrame",
                           candidate_scores) -> dict | None:
    """Both models scored on the same golden rows, each on the features it was trained with."""
    from ..core.evidence import performance

    try:
        version = signoff.production_version(
            layout.registry, lambda: signoff.Trust.of(layout.root, params.signoff))
    except signoff.SignoffError as error:
        raise Failure(description=str(error)) from error
    if version is None:
        return None
    production = registry.load_model(layout.registry, version,
                                     model_files.declared_types(params.active))
    production_scores = production.predict_proba(model_inputs(production, golden))[:, 1]
    regression = performance.paired_auc_regression(golden[FAVOURABLE].to_numpy(),
                                                   candidate_scores, production_scores,
                                                   params.evaluation.bootstrap_rounds,
                                                   params.split.seed)
    return {"production_version": version, **regression}


@asset(group_name="evaluation", deps=[candidate_model, dataset_splits], kinds={"sklearn"},
       code_version=CODE_VERSION)
def performance_report(project: GovernanceProject) -> MaterializeResult:
    """Metrics with bootstrap intervals on the golden test set only; latency measured warm."""
    from ..core.evidence import performance

    params, layout = project.params(), project.layout
    golden, rows = evaluation_rows(layout, params)
    model, binding = load_candidate(layout, params)
    threshold = operating_threshold(layout)
    scores = model.predict_proba(model_inputs(model, golden))[:, 1]
    # The incumbent is compared on the golden split alone: it was fitted on the other rows.
    split = golden if rows["which"] == "golden" else read_split(layout, "golden_test")
    split_scores = (scores if rows["which"] == "golden" else
                    model.predict_proba(model_inputs(model, split))[:, 1])
    latency = performance.latency_ms(model, model_inputs(model, golden),
                                     params.evaluation.latency_rows,
                                     params.evaluation.latency_repeats)
    write_json_atomic(layout.runtime("latency.json"), {"latency_ms": latency, "binding": binding})
    report = {
        "golden_test_rows": rows["golden_test_rows"],
        "evaluation_rows": rows,
        "decision_threshold": threshold,
        "metrics": performance.golden_metrics(golden[FAVOURABLE].to_numpy(), scores,
                                              threshold,
                                              params.evaluation.bootstrap_rounds,
                                              params.split.seed),
        "bootstrap_rounds": params.evaluation.bootstrap_rounds,
        "no_skill": performance.no_skill_baselines(golden[FAVOURABLE].to_numpy()),
        "by_group": performance.rates_by_group(
            golden[FAVOURABLE].to_numpy(), (scores >= threshold).astype(int),
            golden[params.active.sensitive_features], params.policy.min_rate_denominator),
        "latency_ms": f"machine-dependent: see {layout.relative(layout.runtime('latency.json'))}",
        "regression": _production_comparison(layout, params, split, split_scores),
        "binding": binding,
    }
    return publish(layout, "performance", report,
                   {k: m["value"] for k, m in report["metrics"].items()},
                   extra_metadata={"latency_p99_ms (runtime)": latency["p99"],
                                   "evidence": MetadataValue.md(evidence_view.performance_markdown(
                                       report, latency, params.policy.max_latency_ms,
                                       params.policy.max_regression))})


@asset(group_name="evaluation", deps=[dataset_splits], kinds={"scipy"},
       code_version=CODE_VERSION)
def proxy_report(project: GovernanceProject) -> MaterializeResult:
    """Which model inputs carry a sensitive attribute (train split): declared and detected."""
    from ..core.evidence import proxies

    params, layout = project.params(), project.layout
    report = proxies.proxy_report(read_split(layout, "train"), params.active,
                                  params.policy.proxy_min_association,
                                  params.fairness.proxy_sample_rows, params.split.seed)
    report["binding"] = data_binding(layout)
    rows = [[name, a["predictable_from_features_auc"],
             ", ".join(f"{f} {v:.2f}" for f, v in list(a["association"].items())[:4]),
             ", ".join(a["detected_proxies"]) or "none"]
            for name, a in report["attributes"].items()]
    table = markdown.table(["attribute", "AUC of predicting it from the model's features",
                            "strongest associations (Cramér's V)",
                            f"flagged (V >= {params.policy.proxy_min_association})"], rows)
    return publish(layout, "proxies", report,
                   {"detected_proxies": len(report["detected_proxies"]),
                    "proxies": ", ".join(report["proxies"]) or "none"},
                   extra_metadata={"proxies": MetadataValue.md(table)})


SUMMARY_KEYS = ("disparate_impact_ratio_min", "demographic_parity_difference",
                "equalized_odds_difference", "equal_opportunity_difference")


def _fairness_settings(params: "Params") -> "FairnessSettings":
    from ..core.evidence import fairness

    reference = (fairness.LARGEST_GROUP if params.policy.max_disparate_impact is not None
                 else fairness.HIGHEST_RATE)
    return fairness.FairnessSettings(
        params.policy.min_group_size, params.policy.min_rate_denominator, reference,
        params.fairness.bootstrap_rounds, params.fairness.confidence, params.split.seed)


def _headline(model, golden: "pd.DataFrame", spec: "DatasetSpec", settings: "FairnessSettings",
              threshold: float, intersections: list[list[str]]) -> dict:
    """AUC, accuracy and each attribute's summary figures: one side of the mitigation table."""
    import pandas as pd
    from sklearn.metrics import accuracy_score, roc_auc_score

    from ..core.evidence import fairness

    scores = model.predict_proba(model_inputs(model, golden))[:, 1]
    predicted = pd.Series((scores >= threshold).astype(int))
    point = fairness.FairnessSettings(settings.min_group_size, settings.min_rate_denominator,
                                      settings.reference)
    report = fairness.fairness_report(golden[FAVOURABLE], predicted,
                                      golden[spec.sensitive_features], 0, settings=point,
                                      intersections=intersections)
    return {"auc": round(float(roc_auc_score(golden[FAVOURABLE], scores)), 6),
            "accuracy": round(float(accuracy_score(golden[FAVOURABLE], predicted)), 6),
            "selection_rate": round(float(predicted.mean()), 6),
            "attributes": {name: {key: result[key] for key in SUMMARY_KEYS}
                           for name, result in {**report["features"],
                                                **report["intersections"]}.items()}}


@asset(group_name="evaluation", deps=[candidate_model, dataset_splits, proxy_report],
       kinds={"fairlearn"}, code_version=CODE_VERSION)
def fairness_report(project: GovernanceProject) -> MaterializeResult:
    """Rates, ratios and gaps with bootstrap intervals per attribute and intersection; the
    counterfactual flip test; with and without mitigation when the candidate is mitigated."""
    import pandas as pd

    from ..core.evidence import counterfactual, fairness, fairness_view, proxies
    from ..core.model import mitigation

    params, layout = project.params(), project.layout
    spec, (golden, rows) = params.active, evaluation_rows(layout, params)
    model, binding = load_candidate(layout, params)
    threshold = operating_threshold(layout)
    scores = model.predict_proba(model_inputs(model, golden))[:, 1]
    predicted = pd.Series((scores >= threshold).astype(int))
    settings = _fairness_settings(params)
    crossed = fairness.resolve_intersections(params.fairness.intersections,
                                             spec.sensitive_features)
    report = fairness.fairness_report(golden[FAVOURABLE], predicted,
                                      golden[spec.sensitive_features], settings.min_group_size,
                                      intersections=crossed, settings=settings)
    proxy = read_json(layout.report("proxies.json"))
    report["counterfactual"] = counterfactual.flip_report(
        model, golden, spec, {a: proxies.proxies_of(proxy, a) for a in spec.sensitive_features},
        threshold, params.split.seed, params.fairness.flip_test_rows)
    if isinstance(model, mitigation.MitigatedClassifier):
        report["mitigation"] = {
            **mitigation.describe(model),
            "without": _headline(model.base, golden, spec, settings, threshold, crossed),
            "with": _headline(model, golden, spec, settings, threshold, crossed)}
    report["evaluation_rows"] = rows
    report["binding"] = binding
    rates = [{"group": f"{name}={group}", "selection_rate": r["selection_rate"]}
             for name, feature in fairness_view.all_groupings(report).items()
             for group, r in feature["groups"].items()]
    plot = layout.plot("fairness_selection_rate.csv")
    plot.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(plot, pd.DataFrame(rates).to_csv(index=False))
    chart = fairness_view.plot_selection_rates(report, layout.report("fairness_rates.png"))
    metrics = {f"{name}.{key}": feature[key]
               for name, feature in fairness_view.all_groupings(report).items()
               for key in ("disparate_impact_ratio_min", "equalized_odds_difference",
                           "demographic_parity_difference") if feature[key] is not None}
    metrics.update({f"{name}.flip_rate": a["attribute"]["rate"]
                    for name, a in report["counterfactual"]["attributes"].items()})
    views = {"summary": MetadataValue.md(fairness_view.summary_table(report)),
             "groups": MetadataValue.md(fairness_view.group_table(report)),
             "selection_rates": MetadataValue.md(markdown.image(chart, "selection rate by "
                                                                       "group")),
             "counterfactual_flip_test": MetadataValue.md(
                 fairness_view.counterfactual_table(report))}
    if "mitigation" in report:
        views["mitigation"] = MetadataValue.md(fairness_view.mitigation_table(report))
    return publish(layout, "fairness", report, metrics, extra_files=(plot, chart),
                   extra_metadata=views)


@asset(group_name="evaluation", deps=[candidate_model, dataset_splits, proxy_report],
       kinds={"shap"},
       code_version=CODE_VERSION)
def explanation_report(project: GovernanceProject) -> MaterializeResult:
    """SHAP with the explainer suited to the model family, global and per decision of each
    outcome and group, LIME on the same decisions, and how much protected features and
    proxies (declared and detected) weigh."""
    import pandas as pd

    from ..core.evidence import explanations

    params, layout = project.params(), project.layout
    model, binding = load_candidate(layout, params)
    waterfalls = layout.report("explanations")
    proxies = read_json(layout.report("proxies.json"))["proxies"]
    judged, rows = evaluation_rows(layout, params)
    report = explanations.explanation_report(
        model, params.active, params.explain, read_split(layout, "train"),
        judged, operating_threshold(layout), params.split.seed,
        layout.reports, waterfalls, proxies)
    report.update(waterfall_dir=layout.relative(waterfalls), evaluation_rows=rows,
                  binding=binding)
    table = layout.plot("shap_importance.csv")
    write_text_atomic(table, pd.DataFrame(report["global_importance"]).to_csv(index=False))
    summary = explanations.ui_markdown(report, proxies, layout.reports, waterfalls)
    agreement = report["shap_lime_agreement"]
    return publish(layout, "explanation", report,
                   {"protected_influence_share": report["protected_influence_share"],
                    "top_feature": report["global_importance"][0]["feature"],
                    "shap_lime_median_top_k_overlap": agreement["median_top_k_overlap"],
                    "shap_lime_median_spearman": agreement["median_spearman"]},
                   extra_files=tuple(layout.report(n) for n in report["plots"].values())
                   + (table,),
                   extra_metadata={"explanations": MetadataValue.md(summary),
                                   "explainer": report["explainer"]})


@asset(group_name="evaluation", deps=[dataset_splits], kinds={"evidently"},
       code_version=CODE_VERSION)
def drift_report(project: GovernanceProject) -> MaterializeResult:
    """PSI of each model feature on reference-decile bins, beside its noise floor; evidently's
    HTML as the readable view. The reference is the rows the candidate was refit on."""
    import pandas as pd

    from ..core.evidence import drift

    params, layout = project.params(), project.layout
    manifest = read_json(layout.report("splits.json"))
    html = layout.report("drift.html")
    reference = pd.concat([read_split(layout, "train"), read_split(layout, "validation")],
                          ignore_index=True)
    report = drift.drift_report(reference, read_split(layout, "current"), params.active,
                                params.policy.max_psi, params.policy.max_drifted_share, html,
                                seed=params.split.seed,
                                reference_name="train + validation splits (the rows the "
                                               "candidate was refit on)",
                                html_sample_rows=params.evaluation.drift_html_sample_rows)
    report.update(simulated=manifest["current"]["simulated"], note=manifest["current"]["note"],
                  binding=data_binding(layout))
    table = layout.plot("psi.csv")
    write_text_atomic(table, pd.DataFrame(
        {"feature": list(report["psi"]), "psi": list(report["psi"].values())}).to_csv(index=False))
    return publish(layout, "drift", report,
                   {"max_psi": report["max_psi"], "drifted_share": report["drifted_share"]},
                   extra_files=(html, table),
                   extra_metadata={"psi_by_feature": MetadataValue.md(
                       evidence_view.drift_table(report, params.policy.max_psi))})
