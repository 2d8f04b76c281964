"""The gates as Dagster asset checks: one per entry of core.gate_catalog, each calling its rule.

Every check records its verdict in the verdict store under the fingerprint of what it judged
(core.decide.verdicts); the promotion guard counts only verdicts whose fingerprint equals the
current one. What a verdict does is asked of core.decide.blocking: gates on the data and the
search stop the run with ERROR (nothing can be built without their subject); gates on the
candidate's reports fail with WARN and block promotion through `every_blocking_gate_passed`,
so a refused candidate still gets its card and decision record.
"""

from collections.abc import Callable
from dataclasses import dataclass

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetSelection,
    MetadataValue,
    asset_check,
)

from .assets.assurance import reference_table, robustness_table
from .assets.publishing import read_split
from .core.data.personal_data import findings_table
from .core.data.retention import retention_table
from .core.decide import assurance_gates, data_gates, fairness_gates, model_gates
from .core.decide.blocking import (
    blocks_promotion,
    check_severity,
    what_a_failure_does,
    what_this_verdict_does,
)
from .core.decide.gate_catalog import GATES, GATES_BY_NAME, STAGE_GROUPS, GateSpec
from .core.decide.gate_table import judged_figures
from .core.decide.rule_verdict import Verdict
from .core.decide.verdicts import VerdictStore, bound_values, judged_fingerprint
from .core.files import read_json
from .core.model.search_view import trials_table
from .core.report import markdown
from .core.report.card import validate_card
from .resources import GovernanceProject

Rule = Callable[..., Verdict]


@dataclass(frozen=True)
class Judge:
    """A gate's rule and how its arguments are read from the project (evidence, policy)."""

    rule: Rule
    arguments: Callable[[GovernanceProject], tuple]

    def __call__(self, project: GovernanceProject) -> Verdict:
        return self.rule(*self.arguments(project))


def as_check_result(verdict: Verdict, fingerprint: dict, spec: GateSpec,
                    details: str | None = None) -> AssetCheckResult:
    """ERROR stops the run's downstream assets; a gate on the candidate's reports fails with
    WARN so the card and the decision are still written, and the promotion check refuses
    (core.decide.blocking decides which)."""
    metadata = {"outcome": verdict.outcome, "comparison": verdict.comparison,
                "blocks_promotion": blocks_promotion(spec, verdict.outcome, verdict.blocking),
                "evidence": MetadataValue.path(verdict.evidence),
                "verdict": MetadataValue.json(verdict.to_dict()),
                "fingerprint": MetadataValue.json(fingerprint)}
    if details:
        metadata["what was judged"] = MetadataValue.md(details)
    for key in ("value", "threshold"):
        if getattr(verdict, key) is not None:
            metadata[key] = float(getattr(verdict, key))
    severity = AssetCheckSeverity[check_severity(spec, verdict.blocking)]
    return AssetCheckResult(passed=verdict.acceptable, severity=severity,
                            description=check_description(verdict, spec), metadata=metadata)


def check_description(verdict: Verdict, spec: GateSpec) -> str:
    """What the UI shows (as Markdown) for an evaluation: what this verdict does, the rule's
    message as written, the value against its threshold, and what a failure of the gate does."""
    effect = what_this_verdict_does(spec, verdict.outcome, verdict.blocking)
    figures = judged_figures(verdict.value, verdict.comparison, verdict.threshold)
    return (f"{effect}{markdown.text(verdict.message)}\n\n{figures} "
            f"On a failure: {what_a_failure_does(spec)}")


def _gate(spec: GateSpec, judge: Judge) -> AssetChecksDefinition:
    # blocking=True for every gate: downstream steps then wait for the verdict; only an ERROR
    # (a gate that stops the run) keeps them from running.
    @asset_check(asset=spec.asset, name=spec.name,
                 description=f"{what_a_failure_does(spec)} {spec.description}", blocking=True)
    def _check(context: AssetCheckExecutionContext, project: GovernanceProject
               ) -> AssetCheckResult:
        params, layout = project.params(), project.layout
        verdict = judge(project)
        fingerprint = judged_fingerprint(params, layout, spec)
        VerdictStore(layout).record(spec.name, verdict.to_dict(), fingerprint,
                                    bound_values(params, layout, spec), context.run.run_id)
        shown = DETAILS[spec.name](project, verdict) if spec.name in DETAILS else None
        return as_check_result(verdict, fingerprint.to_dict(), spec, shown)

    return _check


def _evidence(project: GovernanceProject, name: str) -> tuple[dict, str]:
    path = project.layout.report(f"{name}.json")
    return read_json(path), project.layout.relative(path)


def _with_policy(evidence_name: str) -> Callable[[GovernanceProject], tuple]:
    """The rule reads the evidence file and the policy."""
    def arguments(project: GovernanceProject) -> tuple:
        report, path = _evidence(project, evidence_name)
        return report, project.params().policy, path

    return arguments


def _report_only(evidence_name: str) -> Callable[[GovernanceProject], tuple]:
    """The rule reads the evidence file alone."""
    def arguments(project: GovernanceProject) -> tuple:
        return _evidence(project, evidence_name)

    return arguments


def _latency(project: GovernanceProject) -> tuple:
    path = project.layout.runtime("latency.json")
    return (read_json(path)["latency_ms"], project.params().policy,
            project.layout.relative(path))


def _carbon(project: GovernanceProject) -> tuple:
    path = project.layout.runtime("carbon.json")
    params = project.params()
    return ({**read_json(path), "external": params.active.external}, params.policy,
            project.layout.relative(path))


def _search_replayed(project: GovernanceProject) -> tuple:
    """The recorded search against its replay: the sampler told the recorded outcomes, the
    champion and runner-up refitted from the recorded seed, space and splits."""
    from .core.model.search_replay import replay

    layout, params = project.layout, project.params()
    recorded, path = _evidence(project, "search")
    if recorded.get("external"):
        return recorded, recorded, path
    return (*replay(recorded, read_split(layout, "train"), read_split(layout, "validation"),
                    params), path)


def _golden_overlap(project: GovernanceProject) -> tuple:
    """Recomputed from the split files themselves, not trusted from the manifest."""
    from .core.data.splits import SPLIT_NAMES, golden_overlap

    frames = {name: read_split(project.layout, name) for name in SPLIT_NAMES}
    overlap = golden_overlap(frames, project.params().active)
    return overlap, project.layout.relative(project.layout.splits_dir)


def _card_errors(project: GovernanceProject) -> tuple:
    layout = project.layout
    card_path = layout.report("model_card.json")
    return (validate_card(read_json(card_path), layout.card_schema),
            layout.relative(card_path))


JUDGES: dict[str, Judge] = {
    "schema": Judge(data_gates.schema, _report_only("validation")),
    "label_sanity": Judge(data_gates.label_sanity, _report_only("validation")),
    "sensitive_groups": Judge(data_gates.group_sizes, _report_only("validation")),
    "outlier_screen": Judge(data_gates.outlier_screen, _with_policy("validation")),
    "golden_test_disjoint": Judge(data_gates.golden_disjoint, _golden_overlap),
    "feasible_trial": Judge(model_gates.feasible_trial, _report_only("search")),
    "search_reproducible": Judge(model_gates.search_reproducible, _search_replayed),
    "carbon_budget": Judge(model_gates.carbon_budget, _carbon),
    "performance_floor": Judge(model_gates.performance_floor, _with_policy("performance")),
    "decision_skill": Judge(model_gates.decision_skill, _with_policy("performance")),
    "adverse_refusal": Judge(model_gates.adverse_refusal, _with_policy("performance")),
    "favourable_approval": Judge(model_gates.favourable_approval, _with_policy("performance")),
    "no_regression": Judge(model_gates.no_regression, _with_policy("performance")),
    "latency_budget": Judge(model_gates.latency, _latency),
    "four_fifths_rule": Judge(fairness_gates.four_fifths, _with_policy("fairness")),
    "equalized_odds": Judge(fairness_gates.equalized_odds, _with_policy("fairness")),
    "demographic_parity": Judge(fairness_gates.demographic_parity, _with_policy("fairness")),
    "counterfactual_flip": Judge(fairness_gates.counterfactual_flip, _with_policy("fairness")),
    "protected_influence": Judge(fairness_gates.protected_influence,
                                 _with_policy("explanation")),
    "drift_psi": Judge(data_gates.drift_psi, _with_policy("drift")),
    "drifted_share": Judge(data_gates.drifted_share, _with_policy("drift")),
    "model_card_valid": Judge(assurance_gates.card_valid, _card_errors),
    "personal_data": Judge(data_gates.personal_data, _report_only("validation")),
    "retention": Judge(data_gates.retention, _report_only("validation")),
    "perturbation_flips": Judge(assurance_gates.perturbation_flips, _with_policy("robustness")),
    "perturbation_auc_drop": Judge(assurance_gates.perturbation_auc_drop,
                                   _with_policy("robustness")),
    "slice_performance": Judge(assurance_gates.slice_performance, _with_policy("robustness")),
    "reference_agreement": Judge(assurance_gates.reference_agreement,
                                 _with_policy("reference_agreement")),
}


Details = Callable[[GovernanceProject, Verdict], str]


def _markdown(render: Callable[[dict], str], evidence_name: str, section: str | None = None
              ) -> Details:
    """A Markdown table of the gate's evidence, shown on the check in the UI."""
    def details(project: GovernanceProject, verdict: Verdict) -> str:
        report = _evidence(project, evidence_name)[0]
        return render(report.get(section, {}) if section else report)

    return details


def _statistic(key: str) -> Details:
    def table(project: GovernanceProject, verdict: Verdict) -> str:
        from .core.evidence import fairness_view

        report, _ = _evidence(project, "fairness")
        return fairness_view.statistic_table(report, key, verdict.threshold, verdict.comparison)

    return table


def _flip_table(project: GovernanceProject, verdict: Verdict) -> str:
    from .core.evidence import fairness_view

    return fairness_view.counterfactual_table(_evidence(project, "fairness")[0])


def _influence_table(project: GovernanceProject, verdict: Verdict) -> str:
    explanation, _ = _evidence(project, "explanation")
    protected = set(explanation["protected_features"])
    rows = [[r["feature"], r["share"]] for r in explanation["global_importance"]
            if r["feature"] in protected]
    return markdown.table(["sensitive input or proxy", "share of mean |SHAP|"],
                          rows or [["none among the model's inputs", 0.0]])


# Markdown on the check's page: what the gate judged, so a reviewer needs no file path.
DETAILS: dict[str, Details] = {
    "feasible_trial": _markdown(trials_table, "search"),
    "four_fifths_rule": _statistic("disparate_impact_ratio_min"),
    "equalized_odds": _statistic("equalized_odds_difference"),
    "demographic_parity": _statistic("demographic_parity_difference"),
    "counterfactual_flip": _flip_table,
    "protected_influence": _influence_table,
    "personal_data": _markdown(findings_table, "validation", "personal_data"),
    "retention": _markdown(retention_table, "validation", "retention"),
    "perturbation_flips": _markdown(robustness_table, "robustness"),
    "perturbation_auc_drop": _markdown(robustness_table, "robustness"),
    "slice_performance": _markdown(robustness_table, "robustness"),
    "reference_agreement": _markdown(reference_table, "reference_agreement"),
}

GATE_CHECKS: list[AssetChecksDefinition] = [_gate(spec, JUDGES[spec.name]) for spec in GATES]


def stage_selection(stage: str) -> AssetSelection:
    """What one DVC stage's Dagster run executes: its group's assets and checks, except the
    gates another stage judges, plus the gates it judges on other groups' assets (gate_catalog
    says which stage judges a gate). Dagster runs a blocking check before the assets
    downstream of its asset, so the card is written after the gates it reports."""
    judged_here, judged_elsewhere = [], []
    for check in GATE_CHECKS:
        name = next(iter(check.check_keys)).name
        (judged_here if GATES_BY_NAME[name].stage == stage else judged_elsewhere).append(check)
    return ((AssetSelection.groups(STAGE_GROUPS[stage]) - AssetSelection.checks(*judged_elsewhere))
            | AssetSelection.checks(*judged_here))
