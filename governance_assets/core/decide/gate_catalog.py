"""Every gate the pipeline has: the asset it judges, the stage that runs it, what it reads.

This is the one place that owns the list of gates. The Dagster checks are built from it, the
promotion guard and the card read it, and `dvc.yaml`'s params are tested against it. What a gate
reads (params keys and evidence files) is what its verdict is bound to: change any of it and the
verdict no longer counts.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass

from ..params import ACTIVE_DATASET

# Dotted paths a reader (and the generated gate reference) follows from a gate to its code.
DECIDE = "governance_assets.core.decide."
CORE = "governance_assets.core."

STAGES = ("prepare", "train", "evaluate", "document", "promote")
STAGE_GROUPS = {"prepare": "data", "train": "training", "evaluate": "evaluation",
                "document": "documentation", "promote": "promotion",
                "promote_production": "production"}
# Approval-gated: a DVC stage of its own that `governance run` (dvc repro promote) never runs.
PRODUCTION_STAGE = "promote_production"

# Every verdict depends on which dataset block is active and how it was split.
COMMON_KEYS = ("dataset", ACTIVE_DATASET, "split")
SPLIT_FILES = tuple(f"data/prepared/splits/{name}.parquet"
                    for name in ("train", "validation", "golden_test", "current"))
LATENCY_EVIDENCE = "reports/runtime/latency.json"
CARBON_EVIDENCE = "reports/runtime/carbon.json"


@dataclass(frozen=True)
class GateSpec:
    name: str
    asset: str
    # The DVC stage whose Dagster run judges the gate. Gates on the candidate's reports are
    # judged in `document`, not in `evaluate` that computes the reports: a change to a threshold
    # alone re-judges the evidence without computing it again (evaluate lists only the params
    # its reports read).
    stage: str
    description: str
    reads: tuple[str, ...]
    evidence: tuple[str, ...]
    blocking: bool = True
    needs_candidate: bool = True
    # A volatile gate measures the machine (latency): its evidence is a runtime file that is not
    # content-bound, and the deterministic card carries its outcome but not its figure.
    volatile: bool = False
    reads_production_alias: bool = False
    _: KW_ONLY
    # The function in core/decide that judges the evidence and policy into a verdict, and the
    # function that computes the statistic it reads (tests resolve both; checks.py calls `rule`).
    rule: str
    computes: str

    @property
    def keys(self) -> tuple[str, ...]:
        return COMMON_KEYS + self.reads


def _data(name: str, description: str, rule: str, computes: str, reads: tuple[str, ...] = (),
          blocking: bool = True) -> GateSpec:
    return GateSpec(name, "validated_dataset", "prepare", description, reads,
                    ("reports/validation.json",), blocking, needs_candidate=False,
                    rule=DECIDE + "data_gates." + rule, computes=CORE + "data." + computes)


def _decision_rate(name: str, cases: str, threshold_key: str) -> GateSpec:
    return GateSpec(name, "performance_report", "document",
                    f"Share of {cases} >= {threshold_key} (per sensitive group when "
                    "policy.decision_quality_per_group).",
                    (threshold_key, *_GROUP_RATE_KEYS), PERFORMANCE_EVIDENCE,
                    rule=DECIDE + "model_gates." + name, computes=GOLDEN_METRICS)


def _robustness(name: str, description: str, threshold_key: str, computes: str) -> GateSpec:
    return GateSpec(name, "robustness_report", "document", description,
                    (threshold_key, *_ROBUSTNESS_KEYS), (ROBUSTNESS_EVIDENCE,),
                    rule=DECIDE + "assurance_gates." + name,
                    computes=CORE + "evidence.robustness." + computes)


_FAIRNESS_KEYS = ("model.decision_threshold", "fairness", "policy.min_group_size",
                  "policy.min_rate_denominator", "policy.insufficient_evidence",
                  "policy.trivial_selection_margin",
                  "policy.intersection_insufficient_evidence", "policy.straddling_interval",
                  "policy.max_disparate_impact")
_PROXY_KEYS = ("fairness", "policy.proxy_min_association")
FAIRNESS_EVIDENCE = ("reports/fairness.json",)
PROXY_EVIDENCE = "reports/proxies.json"

_ROBUSTNESS_KEYS = ("model.decision_threshold", "robustness")
# What the search holds each trial to: the policy's floors and its own constraints, under the
# policy's group minimums (core/model/search.py).
_DECISION_FLOORS = ("policy.min_balanced_accuracy", "policy.min_adverse_refusal_rate",
                    "policy.min_favourable_approval_rate")
_SEARCH_KEYS = ("model", "policy.min_auc", *_DECISION_FLOORS, "policy.min_group_size",
                "policy.min_rate_denominator", "policy.max_perturbation_auc_drop",
                "robustness", "split.seed")
PERFORMANCE_EVIDENCE = ("reports/performance.json",)
_PERFORMANCE_KEYS = ("model.decision_threshold", "evaluation.bootstrap_rounds")
_GROUP_RATE_KEYS = (*_PERFORMANCE_KEYS, "policy.decision_quality_per_group",
                    "policy.min_rate_denominator")
ROBUSTNESS_EVIDENCE = "reports/robustness.json"
# The evidently page is judged with the figures it was computed with: a reviewer reads it from
# the registry, so its bytes are bound to the drift verdicts like the JSON's.
DRIFT_EVIDENCE = ("reports/drift.json", "reports/drift.html")

VALIDATE = "validation.validate"
SEARCH = CORE + "model.search.run_search"
GOLDEN_METRICS = CORE + "evidence.performance.golden_metrics"
FAIRNESS_REPORT = CORE + "evidence.fairness.fairness_report"
DRIFT_REPORT = CORE + "evidence.drift.drift_report"

GATES: tuple[GateSpec, ...] = (
    _data("schema", "Required columns present, numeric columns numeric and finite, file not "
          "empty.", "schema", VALIDATE),
    _data("label_sanity", "Every label is declared and both classes occur.", "label_sanity",
          VALIDATE),
    _data("sensitive_groups", "Every sensitive feature can be built and each group has "
          "policy.min_group_size rows (policy.small_groups: fail, report as insufficient "
          "evidence, or merge).", "group_sizes", VALIDATE,
          ("policy.min_group_size", "policy.small_groups")),
    _data("outlier_screen", "Share of extreme or duplicate rows (poisoning screen); warns only.",
          "outlier_screen", "validation.screen_poisoning", ("policy.max_outlier_share",),
          blocking=False),
    GateSpec("golden_test_disjoint", "dataset_splits", "prepare",
             "No golden-test row, by id or by content, is in train or validation.", (),
             (*SPLIT_FILES, "reports/splits.json"), needs_candidate=False,
             rule=DECIDE + "data_gates.golden_disjoint",
             computes=CORE + "data.splits.golden_overlap"),
    GateSpec("feasible_trial", "model_search", "train", "At least one trial met the "
             "constraints.", _SEARCH_KEYS, ("reports/search.json",), needs_candidate=False,
             rule=DECIDE + "model_gates.feasible_trial", computes=SEARCH),
    # Constraint-aware search (issue 9): the same seed reproduces the trace; energy budget.
    GateSpec("search_reproducible", "model_search", "train",
             "Replayed from the recorded seed and space, the sampler proposes the same trials "
             "and the champion and runner-up refit to the same figures; warns only.",
             _SEARCH_KEYS, ("reports/search.json",),
             blocking=False, needs_candidate=False,
             rule=DECIDE + "model_gates.search_reproducible", computes=SEARCH),
    GateSpec("carbon_budget", "candidate_model", "train",
             "Energy of search + refit (codecarbon) <= policy.max_energy_kwh; not applicable "
             "when no budget is set.", ("policy.max_energy_kwh",), (CARBON_EVIDENCE,),
             volatile=True, rule=DECIDE + "model_gates.carbon_budget",
             computes=CORE + "model.carbon.combine"),
    GateSpec("performance_floor", "performance_report", "document",
             "Golden-test AUC >= policy.min_auc.",
             ("policy.min_auc", "model.decision_threshold", "evaluation.bootstrap_rounds"),
             ("reports/performance.json",), rule=DECIDE + "model_gates.performance_floor",
             computes=GOLDEN_METRICS),
    # Decision quality at the operating threshold (issue 19): better than no model, refuses
    # a share of the truly unfavourable and approves a share of the truly favourable.
    GateSpec("decision_skill", "performance_report", "document",
             "Golden-test balanced accuracy >= policy.min_balanced_accuracy, its interval "
             "clear of the no-skill 0.5 that any constant decision scores.",
             ("policy.min_balanced_accuracy", "policy.insufficient_evidence",
              *_PERFORMANCE_KEYS), PERFORMANCE_EVIDENCE,
             rule=DECIDE + "model_gates.decision_skill", computes=GOLDEN_METRICS),
    _decision_rate("adverse_refusal", "truly unfavourable golden cases refused",
                   "policy.min_adverse_refusal_rate"),
    _decision_rate("favourable_approval", "truly favourable golden cases approved",
                   "policy.min_favourable_approval_rate"),
    GateSpec("no_regression", "performance_report", "document",
             "Upper 95% bound of the paired-bootstrap AUC drop vs production <= "
             "policy.max_regression; not applicable with no production version.",
             ("policy.max_regression", "evaluation.bootstrap_rounds"),
             ("reports/performance.json",), reads_production_alias=True,
             rule=DECIDE + "model_gates.no_regression",
             computes=CORE + "evidence.performance.paired_auc_regression"),
    GateSpec("latency_budget", "performance_report", "document",
             "Median over warm repeats of the p99 single-row latency <= policy.max_latency_ms.",
             ("policy.max_latency_ms", "evaluation.latency_rows", "evaluation.latency_repeats"),
             (LATENCY_EVIDENCE,), volatile=True, rule=DECIDE + "model_gates.latency",
             computes=CORE + "evidence.performance.latency_ms"),
    GateSpec("four_fifths_rule", "fairness_report", "document",
             "Every group's selection rate >= policy.min_disparate_impact x the highest group's, "
             "for each sensitive attribute and intersection (two-sided against the largest "
             "group when policy.max_disparate_impact is set).",
             ("policy.min_disparate_impact", *_FAIRNESS_KEYS), FAIRNESS_EVIDENCE,
             rule=DECIDE + "fairness_gates.four_fifths", computes=FAIRNESS_REPORT),
    GateSpec("equalized_odds", "fairness_report", "document",
             "Largest TPR/FPR gap <= policy.max_equalized_odds_difference, per attribute and "
             "intersection.", ("policy.max_equalized_odds_difference", *_FAIRNESS_KEYS),
             FAIRNESS_EVIDENCE, rule=DECIDE + "fairness_gates.equalized_odds",
             computes=FAIRNESS_REPORT),
    GateSpec("demographic_parity", "fairness_report", "document",
             "Selection-rate gap <= policy.max_demographic_parity_difference; warns only.",
             ("policy.max_demographic_parity_difference", *_FAIRNESS_KEYS),
             FAIRNESS_EVIDENCE, blocking=False,
             rule=DECIDE + "fairness_gates.demographic_parity", computes=FAIRNESS_REPORT),
    GateSpec("counterfactual_flip", "fairness_report", "document",
             "Share of golden decisions that change when only the sensitive attribute (and, by "
             "policy.flip_test_swaps, its proxies) changes <= "
             "policy.max_counterfactual_flip_rate.",
             ("policy.max_counterfactual_flip_rate", "policy.flip_test_swaps",
              "model.decision_threshold", "policy.trivial_selection_margin",
              "policy.insufficient_evidence", *_PROXY_KEYS),
             (*FAIRNESS_EVIDENCE, PROXY_EVIDENCE),
             rule=DECIDE + "fairness_gates.counterfactual_flip",
             computes=CORE + "evidence.counterfactual.flip_report"),
    GateSpec("protected_influence", "explanation_report", "document",
             "Share of mean |SHAP| on sensitive inputs, declared proxies and detected proxies "
             "<= policy.max_protected_influence.",
             ("policy.max_protected_influence", "explain", *_PROXY_KEYS),
             ("reports/explanation.json", PROXY_EVIDENCE),
             rule=DECIDE + "fairness_gates.protected_influence",
             computes=CORE + "evidence.explain.global_importance"),
    GateSpec("drift_psi", "drift_report", "document", "No feature's PSI above policy.max_psi.",
             ("policy.max_psi",), DRIFT_EVIDENCE, needs_candidate=False,
             rule=DECIDE + "data_gates.drift_psi", computes=DRIFT_REPORT),
    GateSpec("drifted_share", "drift_report", "document",
             "Share of drifted features <= policy.max_drifted_share.",
             ("policy.max_psi", "policy.max_drifted_share"), DRIFT_EVIDENCE,
             needs_candidate=False, rule=DECIDE + "data_gates.drifted_share",
             computes=DRIFT_REPORT),
    GateSpec("model_card_valid", "model_card", "document", "The governance record validates "
             "against schemas/model_card.schema.json.", (), ("reports/model_card.json",),
             rule=DECIDE + "assurance_gates.card_valid",
             computes=CORE + "report.card.validate_card"),
    _data("personal_data", "No column holds undeclared direct identifiers (e-mail, phone, "
          "payment card, IBAN, national ID, names) or near-unique values.", "personal_data",
          "personal_data.screen", ("policy.max_identifier_values", "policy.max_distinct_share",
           "policy.national_id_patterns")),
    _data("retention", "Rows older than policy.max_record_age_days are dropped or block, as "
          "policy.retention_action says.", "retention", "retention.check",
          ("policy.max_record_age_days", "policy.retention_action")),
    _robustness("perturbation_flips", "Share of golden-test decisions that flip under seeded "
                "perturbation <= policy.max_flip_rate.", "policy.max_flip_rate",
                "perturbation_test"),
    _robustness("perturbation_auc_drop", "Golden-test AUC lost under the same perturbation <= "
                "policy.max_perturbation_auc_drop.", "policy.max_perturbation_auc_drop",
                "perturbation_test"),
    _robustness("slice_performance", "No single-feature or pair slice has accuracy "
                "significantly (Holm) below policy.min_slice_accuracy.",
                "policy.min_slice_accuracy", "slice_scan"),
    GateSpec("reference_agreement", "reference_agreement_report", "document",
             "Agreement with the approved reference decisions >= "
             "policy.min_reference_agreement.",
             ("policy.min_reference_agreement", "model.decision_threshold"),
             ("reports/reference_agreement.json",),
             rule=DECIDE + "assurance_gates.reference_agreement",
             computes=CORE + "evidence.reference_decisions.agreement"),
)

GATES_BY_NAME = {gate.name: gate for gate in GATES}
# The fairness gates: every gate whose rule is in fairness_gates.py (selection rates, error-rate
# gaps, the flip test, protected influence). A published version is `fairness_verified` only
# when each of them passed (core/publish/publishable.py).
FAIRNESS_GATES = tuple(gate.name for gate in GATES
                       if gate.rule.startswith(DECIDE + "fairness_gates."))
# The data validation's finding families (core/data/validation_report.py) and the gate each
# one's findings are judged by.
FINDING_GATES = {"schema": "schema", "labels": "label_sanity", "groups": "sensitive_groups",
                 "outliers": "outlier_screen", "personal_data": "personal_data",
                 "retention": "retention"}


def gates_of_stage(stage: str) -> list[GateSpec]:
    return [gate for gate in GATES if gate.stage == stage]
