"""The gates as Dagster asset checks: one per entry of core.gate_catalog, each wrapping a rule.

Every check records its verdict in the verdict store under the fingerprint of what it judged
(core.verdicts); the promotion guard counts only verdicts whose fingerprint equals the current
one. Gates on the data and the search stop the run with ERROR (nothing can be built without
their subject); gates on the candidate's reports fail with WARN and block promotion through
`every_blocking_gate_passed`, so a refused candidate still gets its card and decision record.
"""

from collections.abc import Callable

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
from .core.decide import gates
from .core.decide.gate_catalog import GATES, GATES_BY_NAME, STAGE_GROUPS, GateSpec
from .core.decide.verdicts import VerdictStore, bound_values, judged_fingerprint
from .core.files import read_json
from .core.model.search_view import trials_table
from .core.report.card import validate_card
from .resources import GovernanceProject

Evaluate = Callable[[GovernanceProject], gates.Verdict]


def as_check_result(verdict: gates.Verdict, fingerprint: dict, stops_the_run: bool,
                    details: str | None = None) -> AssetCheckResult:
    """ERROR stops the run's downstream assets; a gate on the candidate's reports fails with
    WARN so the card and the decision are still written, and the promotion check refuses."""
    metadata = {"outcome": verdict.outcome, "comparison": verdict.comparison,
                "blocks_promotion": verdict.blocks,
                "evidence": MetadataValue.path(verdict.evidence),
                "verdict": MetadataValue.json(verdict.to_dict()),
                "fingerprint": MetadataValue.json(fingerprint)}
    if details:
        metadata["what was judged"] = MetadataValue.md(details)
    for key in ("value", "threshold"):
        if getattr(verdict, key) is not None:
            metadata[key] = float(getattr(verdict, key))
    severity = AssetCheckSeverity.ERROR if verdict.blocking and stops_the_run else \
        AssetCheckSeverity.WARN
    effect = "" if verdict.acceptable else (
        "BLOCKS PROMOTION: " if verdict.blocks else "warning, does not block promotion: ")
    return AssetCheckResult(passed=verdict.acceptable, severity=severity,
                            description=effect + verdict.message, metadata=metadata)


def _role(spec: GateSpec) -> str:
    """What a failure does, in words: Dagster's own 'blocking' label only orders the steps."""
    if not spec.blocking:
        return "Warning only, never blocks promotion. "
    if spec.stops_the_run:
        return "Stops the run and blocks promotion. "
    return "Blocks promotion (via every_blocking_gate_passed); the card is still written. "


def _gate(spec: GateSpec, evaluate: Evaluate) -> AssetChecksDefinition:
    # blocking=True for every gate: downstream steps then wait for the verdict; only an ERROR
    # (a gate that stops the run) keeps them from running.
    @asset_check(asset=spec.asset, name=spec.name, description=_role(spec) + spec.description,
                 blocking=True)
    def _check(context: AssetCheckExecutionContext, project: GovernanceProject
               ) -> AssetCheckResult:
        params, layout = project.params(), project.layout
        verdict = evaluate(project)
        fingerprint = judged_fingerprint(params, layout, spec)
        VerdictStore(layout).record(spec.name, verdict.to_dict(), fingerprint,
                                    bound_values(params, layout, spec), context.run.run_id)
        shown = DETAILS[spec.name](project, verdict) if spec.name in DETAILS else None
        return as_check_result(verdict, fingerprint.to_dict(), spec.stops_the_run, shown)

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


def _latency(project: GovernanceProject) -> gates.Verdict:
    path = project.layout.runtime("latency.json")
    return gates.latency(read_json(path)["latency_ms"], project.params().policy,
                         project.layout.relative(path))


def _carbon(project: GovernanceProject) -> gates.Verdict:
    path = project.layout.runtime("carbon.json")
    params = project.params()
    return gates.carbon_budget({**read_json(path), "external": params.active.external},
                               params.policy, project.layout.relative(path))


def _search_reproducible(project: GovernanceProject) -> gates.Verdict:
    """The search replayed from the recorded seed, space and splits (timings skipped: they
    never reach the sampler), compared on its deterministic columns and champion."""
    from .core.model import search, search_trace

    layout, params = project.layout, project.params()
    recorded, path = _evidence(project, "search")
    if recorded.get("external"):
        return gates.search_reproducible(recorded, recorded, path)
    again = search.run_search(read_split(layout, "train"), read_split(layout, "validation"),
                              params, measure_latency=False)
    rerun = {"champion_trial_id": search.replay_champion(again, recorded["trials"]),
             "trials": search_trace.comparable(search_trace.trace(again, params)["trials"])}
    return gates.search_reproducible(
        {**recorded, "trials": search_trace.comparable(recorded["trials"])}, rerun, path)


def _golden_disjoint(project: GovernanceProject) -> gates.Verdict:
    """Recomputed from the split files themselves, not trusted from the manifest."""
    from .core.data.splits import SPLIT_NAMES, golden_overlap

    frames = {name: read_split(project.layout, name) for name in SPLIT_NAMES}
    overlap = golden_overlap(frames, project.params().active)
    return gates.golden_disjoint(overlap, project.layout.relative(project.layout.splits_dir))


def _card_valid(project: GovernanceProject) -> gates.Verdict:
    layout = project.layout
    card_path = layout.report("model_card.json")
    return gates.card_valid(validate_card(read_json(card_path), layout.card_schema),
                            layout.relative(card_path))


EVALUATE: dict[str, Evaluate] = {
    "schema": _report_gate(gates.schema, "validation"),
    "label_sanity": _report_gate(gates.label_sanity, "validation"),
    "sensitive_groups": _report_gate(gates.group_sizes, "validation"),
    "outlier_screen": _policy_gate(gates.outlier_screen, "validation"),
    "golden_test_disjoint": _golden_disjoint,
    "feasible_trial": _report_gate(gates.feasible_trial, "search"),
    "search_reproducible": _search_reproducible,
    "carbon_budget": _carbon,
    "performance_floor": _policy_gate(gates.performance_floor, "performance"),
    "decision_skill": _policy_gate(gates.decision_skill, "performance"),
    "adverse_refusal": _policy_gate(gates.adverse_refusal, "performance"),
    "favourable_approval": _policy_gate(gates.favourable_approval, "performance"),
    "no_regression": _policy_gate(gates.no_regression, "performance"),
    "latency_budget": _latency,
    "four_fifths_rule": _policy_gate(gates.four_fifths, "fairness"),
    "equalized_odds": _policy_gate(gates.equalized_odds, "fairness"),
    "demographic_parity": _policy_gate(gates.demographic_parity, "fairness"),
    "counterfactual_flip": _policy_gate(gates.counterfactual_flip, "fairness"),
    "protected_influence": _policy_gate(gates.protected_influence, "explanation"),
    "drift_psi": _policy_gate(gates.drift_psi, "drift"),
    "drifted_share": _policy_gate(gates.drifted_share, "drift"),
    "model_card_valid": _card_valid,
    "personal_data": _report_gate(gates.personal_data, "validation"),
    "retention": _report_gate(gates.retention, "validation"),
    "perturbation_flips": _policy_gate(gates.perturbation_flips, "robustness"),
    "perturbation_auc_drop": _policy_gate(gates.perturbation_auc_drop, "robustness"),
    "slice_performance": _policy_gate(gates.slice_performance, "robustness"),
    "reference_agreement": _policy_gate(gates.reference_agreement, "reference_agreement"),
}


Details = Callable[[GovernanceProject, gates.Verdict], str]


def _markdown(render: Callable[[dict], str], evidence_name: str, section: str | None = None
              ) -> Details:
    """A Markdown table of the gate's evidence, shown on the check in the UI."""
    def details(project: GovernanceProject, verdict: gates.Verdict) -> str:
        report = _evidence(project, evidence_name)[0]
        return render(report.get(section, {}) if section else report)

    return details


def _statistic(key: str) -> Details:
    def table(project: GovernanceProject, verdict: gates.Verdict) -> str:
        from .core.evidence import fairness_view

        report, _ = _evidence(project, "fairness")
        return fairness_view.statistic_table(report, key, verdict.threshold, verdict.comparison)

    return table


def _flip_table(project: GovernanceProject, verdict: gates.Verdict) -> str:
    from .core.evidence import fairness_view

    return fairness_view.counterfactual_table(_evidence(project, "fairness")[0])


def _influence_table(project: GovernanceProject, verdict: gates.Verdict) -> str:
    from .core.report import markdown

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

GATE_CHECKS: list[AssetChecksDefinition] = [_gate(spec, EVALUATE[spec.name]) for spec in GATES]


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
