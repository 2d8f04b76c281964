"""Group promotion: the decision (recorded either way), then the staging registry version.

Dagster blocks within a run, but selecting `staging_model` alone skips every upstream check and
DVC's run cache can restore reports without running Dagster. So both assets decide from the
verdict store: a gate counts only with a verdict whose fingerprint equals the current one.
"""

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)

from ..core import decisions, gate_table, markdown, registry
from ..core.environment import git_commit
from ..core.files import write_json_atomic
from ..core.layout import Layout
from ..core.ledger import LedgerError
from ..core.verdicts import Standing, refusals, standings
from ..resources import GovernanceProject
from .documentation import compliance_report, model_card
from .publishing import CODE_VERSION

REGISTERED_EVIDENCE = ("model_card.json", "model_card.md", "compliance.md", "compliance.html",
                       "compliance.json", "validation.json",
                       "splits.json", "search.json", "performance.json", "fairness.json",
                       "fairness_rates.png", "proxies.json", "explanation.json", "drift.json",
                       "drift.html", "decision.json", "robustness.json",
                       "reference_agreement.json")


def gate_table_markdown(items: list[Standing]) -> str:
    """The gate table as the UI shows it on the promotion assets."""
    return gate_table.gate_table_markdown([item.to_dict() for item in items])


def _record_decision(context: AssetExecutionContext, project: GovernanceProject,
                     items: list[Standing]) -> tuple[dict, object]:
    params, layout = project.params(), project.layout
    record = decisions.decide(params, layout, items, context.run_id,
                              decisions.trigger_from_tags(context.run.tags),
                              git_commit(layout.root))
    return record, decisions.write_decision(layout, record)


@asset(group_name="promotion", deps=[model_card, compliance_report], kinds={"json"},
       code_version=CODE_VERSION)
def promotion_decision(context: AssetExecutionContext, project: GovernanceProject
                       ) -> MaterializeResult:
    """Promote or blocked, with every verdict and its fingerprint: written for every candidate."""
    layout = project.layout
    items = standings(project.params(), layout)
    record, path = _record_decision(context, project, items)
    headline = ("PROMOTE: every blocking gate passed on the current inputs"
                if record["decision"] == decisions.PROMOTE else
                f"BLOCKED by {', '.join(record['refused_by'])}")
    return MaterializeResult(metadata={
        "decision": headline,
        "refusals": MetadataValue.md("\n".join(f"- {markdown.text(line)}"
                                                for line in record["refusals"])
                                     or "none"),
        "gates": MetadataValue.md(gate_table_markdown(items)),
        "candidate_sha256": record["candidate_sha256"] or "none",
        "standings_digest": record["standings_digest"],
        "record": MetadataValue.path(layout.relative(path))})


@asset_check(asset=promotion_decision, name="every_blocking_gate_passed", blocking=True,
             description="Every blocking gate has a PASS bound to the current policy, data, "
                         "candidate and code; otherwise staging_model is not built.")
def every_blocking_gate_passed(project: GovernanceProject) -> AssetCheckResult:
    items = standings(project.params(), project.layout)
    refused = refusals(items)
    return AssetCheckResult(
        passed=not refused,
        description="; ".join(refused) if refused else "every blocking gate passed",
        metadata={"refused_by": ", ".join(i.gate.name for i in items if i.blocks) or "none",
                  "gates": MetadataValue.md(gate_table_markdown(items))})


def _judged_hashes(items: list[Standing]) -> dict[str, str]:
    """The bytes the verdicts were bound to, by the name each file gets in the registry."""
    expected = {}
    for item in items:
        fingerprint = item.fingerprint
        if fingerprint is None:
            continue
        if fingerprint.candidate_sha256:
            expected[registry.MODEL_FILE] = fingerprint.candidate_sha256
        if fingerprint.evidence_sha256 and len(item.gate.evidence) == 1:
            expected[item.gate.evidence[0].rsplit("/", 1)[-1]] = fingerprint.evidence_sha256
    return expected


def _register(layout: Layout, items: list[Standing], run_id: str, dataset: str,
              policy_hash: str) -> dict:
    """Register the judged bytes, then move `staging` on a ledger entry naming the run, the
    decision record and every verdict record it rests on."""
    manifest = registry.register(
        layout.registry, layout.model,
        {name: layout.report(name) for name in REGISTERED_EVIDENCE},
        {"dataset": dataset, "policy_hash": policy_hash, "dagster_run_id": run_id,
         "decision": decisions.PROMOTE, "gates": [item.to_dict() for item in items]},
        expected=_judged_hashes(items))
    entry = registry.set_alias(
        layout.registry, "staging", manifest["version"],
        reason=f"all blocking gates passed (run {run_id})", move="promotion", run_id=run_id,
        decision_sha256=manifest["files"]["decision.json"],
        verdicts=[{"gate": item.gate.name, "fingerprint": item.fingerprint.key}
                  for item in items if item.fingerprint is not None])
    return {"version": manifest["version"], "alias": "staging",
            "model_sha256": manifest["model_sha256"],
            "registry": layout.relative(layout.registry / "versions" / manifest["version"]),
            "previous": entry["data"]["previous"], "run_id": run_id,
            "ledger_seq": entry["seq"], "ledger_hash": entry["hash"]}


@asset(group_name="promotion", deps=[promotion_decision], kinds={"registry"},
       code_version=CODE_VERSION)
def staging_model(context: AssetExecutionContext, project: GovernanceProject
                  ) -> MaterializeResult:
    """Registers exactly the judged bytes and points `staging` at them, or refuses.

    Re-decides from the verdict store (this asset may be selected alone), then copies model and
    evidence into the registry and re-hashes the copies against the verdicts' fingerprints.
    """
    params, layout = project.params(), project.layout
    items = standings(params, layout)
    refused = refusals(items)
    latest = decisions.latest_decision(layout)
    if refused or latest is None or latest["run_id"] != context.run_id:
        _record_decision(context, project, items)
    if refused:
        raise Failure(description="staging promotion refused:\n" + "\n".join(refused),
                      metadata={"refusals": MetadataValue.md(
                          "\n".join(f"- {line}" for line in refused)),
                          "gates": MetadataValue.md(gate_table_markdown(items))})
    try:
        record = _register(layout, items, context.run_id, params.dataset, params.policy_hash)
    except (registry.RegistryError, LedgerError) as error:
        raise Failure(description=f"staging promotion refused: {error}") from error
    write_json_atomic(layout.report("staging.json"), record)
    return MaterializeResult(metadata={
        "version": record["version"], "model_sha256": record["model_sha256"],
        "registry_path": MetadataValue.path(record["registry"]),
        "gates": MetadataValue.md(gate_table_markdown(items))})

