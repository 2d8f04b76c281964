"""Group evaluation, continued: robustness under perturbation and on slices; reference decisions.

Both reports are computed on the candidate whose bytes were recorded at training, on the
golden test set (robustness) or on the approved cases (reference decisions), and carry the
same `binding` as every other report, so their verdicts count only for what they judged.
"""

from dagster import MaterializeResult, MetadataValue, asset

from ..core.data.columns import FAVOURABLE, model_inputs
from ..core.files import sha256_of_file
from ..core.report import markdown
from ..resources import GovernanceProject
from .data import dataset_splits
from .publishing import (
    CODE_VERSION,
    evaluation_rows,
    load_candidate,
    operating_threshold,
    publish,
    read_split,
)
from .training import candidate_model


def robustness_table(report: dict) -> str:
    """The perturbation figures and the weakest slices, as the UI shows them."""
    test = report["perturbation"]
    head = report["perturbation_rule"] if test is None else markdown.table(
        ["flip rate", "flipped", "rows", "AUC", "AUC perturbed", "AUC drop"],
        [[test["flip_rate"], test["flipped"], test["rows"], test["auc"], test["auc_perturbed"],
          test["auc_drop"]]])
    slices = markdown.table(
        ["slice", "rows", "accuracy", "p", "Holm p", "significantly below floor"],
        [[s["slice"], s["rows"], s["accuracy"], s["p_value"], s["p_adjusted"], s["below_floor"]]
         for s in report["slices"]["worst_slices"]])
    return f"{head}\n\nWeakest slices ({report['slices']['slices_tested']} tested):\n\n{slices}"


def reference_table(report: dict) -> str:
    if not report["disagreements"]:
        return f"{report['agreed']} of {report['cases']} reference cases agree; no disagreement."
    return markdown.table(["case", "expected", "model", "score", "rationale"],
                          [[d["case_id"], d["expected"], d["model"], d["score"], d["rationale"]]
                           for d in report["disagreements"]])


def _perturbation(params, model, golden, refit_rows, scores, truth, threshold: float) -> dict:
    """The seeded perturbation test, or why it cannot run (scores given without their model)."""
    from ..core.evidence import robustness

    spec, settings = params.active, params.robustness
    if spec.external_scores is not None:
        return {"perturbation_rule": "not measured: the scores were given without the model "
                                     "that produced them, so perturbed inputs cannot be "
                                     "re-scored",
                "perturbation": None}
    numeric = [c for c in spec.model_features if c in spec.numeric_columns]
    categorical = [c for c in spec.model_features if c in spec.categorical_columns]
    moved = robustness.perturb(golden, refit_rows, refit_rows[FAVOURABLE], numeric, categorical,
                               settings.numeric_shift, settings.categorical_swap_share,
                               params.split.seed)
    return {"perturbation_rule": (f"numbers moved by +/-{settings.numeric_shift} sd of the refit "
                                  f"rows, {settings.categorical_swap_share:.0%} of categories "
                                  f"swapped to the nearest one, seed {params.split.seed}"),
            "perturbation": robustness.perturbation_test(
                scores, model.predict_proba(model_inputs(model, moved))[:, 1], truth,
                threshold)}


@asset(group_name="evaluation", deps=[candidate_model, dataset_splits], kinds={"sklearn"},
       code_version=CODE_VERSION)
def robustness_report(project: GovernanceProject) -> MaterializeResult:
    """Seeded perturbation of the golden set, and a scan for its weakest slices."""
    import pandas as pd

    from ..core.evidence import robustness

    params, layout = project.params(), project.layout
    spec, settings, threshold = params.active, params.robustness, operating_threshold(layout)
    golden, rows = evaluation_rows(layout, params)
    refit_rows = pd.concat([read_split(layout, "train"), read_split(layout, "validation")])
    numeric = [c for c in spec.model_features if c in spec.numeric_columns]
    model, binding = load_candidate(layout, params)
    scores = model.predict_proba(model_inputs(model, golden))[:, 1]
    truth = golden[FAVOURABLE].to_numpy()
    labels = robustness.slice_labels(golden, spec.model_features, set(numeric),
                                     settings.slice_bins)
    report = {
        **_perturbation(params, model, golden, refit_rows, scores, truth, threshold),
        "slices": robustness.slice_scan(labels, (scores >= threshold) == truth,
                                        params.policy.min_slice_accuracy,
                                        settings.min_slice_rows, settings.slice_alpha),
        "evaluation_rows": rows,
        "binding": binding,
    }
    metrics = {"slices_below_floor": report["slices"]["slices_below_floor"]}
    if report["perturbation"] is not None:
        metrics |= {k: report["perturbation"][k] for k in ("flip_rate", "auc_drop")}
    return publish(layout, "robustness", report, metrics,
                   extra_metadata={"details": MetadataValue.md(robustness_table(report))})


@asset(group_name="evaluation", deps=[candidate_model, dataset_splits], kinds={"sklearn"},
       code_version=CODE_VERSION)
def reference_agreement_report(project: GovernanceProject) -> MaterializeResult:
    """The candidate's decision on every approved reference case; each disagreement listed."""
    from ..core.evidence import reference_decisions

    params, layout = project.params(), project.layout
    spec = params.active
    model, binding = load_candidate(layout, params)
    if spec.reference_decisions is None:
        report = {"file": None, "cases": 0, "agreed": 0, "agreement_rate": None,
                  "disagreements": [], "binding": binding}
    else:
        path = layout.root / spec.reference_decisions
        cases = reference_decisions.read_reference(path, spec)
        scores = model.predict_proba(model_inputs(model, cases))[:, 1]
        report = {"file": spec.reference_decisions, "sha256": sha256_of_file(path),
                  **reference_decisions.agreement(cases, scores, spec,
                                                  operating_threshold(layout)),
                  "binding": binding}
    metrics = {"cases": report["cases"], "agreed": report["agreed"]}
    if report["agreement_rate"] is not None:
        metrics["agreement_rate"] = report["agreement_rate"]
    return publish(layout, "reference_agreement", report, metrics,
                   extra_metadata={"details": MetadataValue.md(reference_table(report))})
