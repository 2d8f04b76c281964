"""The gates: one Dagster asset check per policy rule, each a thin wrapper of core.gates.

Blocking checks fail with ERROR severity and stop everything downstream in the run. A verdict
of insufficient evidence under policy.insufficient_evidence=warn fails with WARN and does not.
"""

from collections.abc import Callable

from dagster import (
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    MetadataValue,
    asset_check,
)

from .assets import (
    dataset_splits,
    drift_report,
    explanation_report,
    fairness_report,
    model_card,
    model_search,
    performance_report,
    validated_dataset,
)
from .assets.publishing import read_split
from .core import gates
from .core.card import validate_card
from .core.files import read_json
from .resources import GovernanceProject

Evaluate = Callable[[GovernanceProject], gates.Verdict]


def as_check_result(verdict: gates.Verdict) -> AssetCheckResult:
    metadata = {"outcome": verdict.outcome, "comparison": verdict.comparison,
                "evidence": MetadataValue.path(verdict.evidence),
                "verdict": MetadataValue.json(verdict.to_dict())}
    for key in ("value", "threshold"):
        if getattr(verdict, key) is not None:
            metadata[key] = float(getattr(verdict, key))
    severity = AssetCheckSeverity.ERROR if verdict.blocking else AssetCheckSeverity.WARN
    return AssetCheckResult(passed=verdict.passed, severity=severity,
                            description=verdict.message, metadata=metadata)


def _gate(asset, name: str, description: str, evaluate: Evaluate, blocking: bool = True
          ) -> AssetChecksDefinition:
    @asset_check(asset=asset, name=name, description=description, blocking=blocking)
    def _check(project: GovernanceProject) -> AssetCheckResult:
        return as_check_result(evaluate(project))

    return _check


def _evidence(project: GovernanceProject, name: str) -> tuple[dict, str]:
    path = project.layout.report(f"{name}.json")
    return read_json(path), project.layout.relative(path)


def _policy_gate(rule, evidence_name: str) -> Evaluate:
    def evaluate(project: GovernanceProject) -> gates.Verdict:
        report, path = _evidence(project, evidence_name)
        return rule(report, project.params().policy, path)

    return evaluate


def _report_gate(rule, evidence_name: str) -> Evaluate:
    def evaluate(project: GovernanceProject) -> gates.Verdict:
        return rule(*_evidence(project, evidence_name))

    return evaluate


def _golden_disjoint(project: GovernanceProject) -> gates.Verdict:
    """Recomputed from the split files themselves, not trusted from the manifest."""
    from .core.splits import SPLIT_NAMES, golden_overlap

    frames = {name: read_split(project.layout, name) for name in SPLIT_NAMES}
    overlap = golden_overlap(frames, project.params().active)
    return gates.golden_disjoint(overlap, project.layout.relative(project.layout.splits_dir))


def _card_valid(project: GovernanceProject) -> gates.Verdict:
    layout = project.layout
    card_path = layout.report("model_card.json")
    return gates.card_valid(validate_card(read_json(card_path), layout.card_schema),
                            layout.relative(card_path))


GATE_CHECKS: list[AssetChecksDefinition] = [
    _gate(validated_dataset, "schema", "Required columns present, numeric columns numeric, "
          "file not empty.", _report_gate(gates.schema, "validation")),
    _gate(validated_dataset, "label_sanity", "Every label is declared and both classes occur.",
          _report_gate(gates.label_sanity, "validation")),
    _gate(validated_dataset, "sensitive_groups", "Every sensitive feature can be built and each "
          "group has policy.min_group_size rows.", _report_gate(gates.group_sizes, "validation")),
    _gate(validated_dataset, "outlier_screen", "Share of extreme or duplicate rows (poisoning "
          "screen); warns only.", _policy_gate(gates.outlier_screen, "validation"),
          blocking=False),
    _gate(dataset_splits, "golden_test_disjoint", "No golden-test row, by id or by content, is "
          "in train or validation.", _golden_disjoint),
    _gate(model_search, "feasible_trial", "At least one trial met the constraints.",
          _report_gate(gates.feasible_trial, "search")),
    _gate(performance_report, "performance_floor", "Golden-test AUC >= policy.min_auc.",
          _policy_gate(gates.performance_floor, "performance")),
    _gate(performance_report, "no_regression", "Not worse than production by more than "
          "policy.max_regression (paired bootstrap).",
          _policy_gate(gates.no_regression, "performance")),
    _gate(performance_report, "latency_budget", "p99 single-row latency <= "
          "policy.max_latency_ms.", _policy_gate(gates.latency, "performance")),
    _gate(fairness_report, "four_fifths_rule", "Every group's selection rate >= "
          "policy.min_disparate_impact x the highest group's.",
          _policy_gate(gates.four_fifths, "fairness")),
    _gate(fairness_report, "equalized_odds", "Largest TPR/FPR gap <= "
          "policy.max_equalized_odds_difference.",
          _policy_gate(gates.equalized_odds, "fairness")),
    _gate(fairness_report, "demographic_parity", "Selection-rate gap <= "
          "policy.max_demographic_parity_difference; warns only.",
          _policy_gate(gates.demographic_parity, "fairness"), blocking=False),
    _gate(explanation_report, "protected_influence", "Share of mean |SHAP| on protected "
          "features and proxies <= policy.max_protected_influence.",
          _policy_gate(gates.protected_influence, "explanation")),
    _gate(drift_report, "drift_psi", "No feature's PSI above policy.max_psi.",
          _policy_gate(gates.drift_psi, "drift")),
    _gate(drift_report, "drifted_share", "Share of drifted features <= "
          "policy.max_drifted_share.", _policy_gate(gates.drifted_share, "drift")),
    _gate(model_card, "model_card_valid", "The governance record validates against "
          "schemas/model_card.schema.json.", _card_valid),
]
