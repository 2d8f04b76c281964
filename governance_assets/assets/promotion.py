"""Group promotion: the decision (recorded either way), then the staging registry version.

Dagster blocks within a run, but selecting `staging_model` alone skips every upstream check and
DVC's run cache can restore reports without running Dagster. So both assets decide from the
verdict store: a gate counts only with a verdict whose fingerprint equals the current one.
"""

import tempfile
from pathlib import Path

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    AssetObservation,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)

from ..core.decide import decisions, gate_table
from ..core.decide.verdicts import Standing, refusals, standings
from ..core.files import sha256_of_file, write_json_atomic
from ..core.layout import Layout
from ..core.params import Params
from ..core.record import registry, version_files
from ..core.record.ledger import LedgerError
from ..core.report import markdown
from ..core.report.environment import git_commit
from ..resources import GovernanceProject
from .documentation import compliance_report, model_card
from .publishing import CODE_VERSION


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


def staging_holds(layout: Layout) -> str:
    """Which version `staging` points at now and the run that moved it there, as the ledger
    records it: what a refused candidate leaves in place."""
    entry = registry.alias_entry(layout.registry, "staging")
    if entry is None:
        return "no version yet"
    return f"{entry['data']['version']} ({entry['data']['reason']})"


def _staging_unchanged(run_id: str, headline: str, staging: str,
                       items: list[Standing]) -> AssetObservation:
    """What staging_model's page shows after a refusal: a refused run does not materialize
    it, so without this its page shows the registered version's all-PASS gates as the latest
    metadata. The observation says which version staging still holds and why this run's
    candidate did not replace it."""
    return AssetObservation(asset_key=AssetKey("staging_model"), metadata={
        "staging": staging, "latest_decision": f"{headline} (run {run_id})",
        "gates": MetadataValue.md(
            f"Run {markdown.code(run_id)} refused its candidate; staging {markdown.text(staging)}."
            "\n\n" + gate_table_markdown(items))})


@asset(group_name="promotion", deps=[model_card, compliance_report], kinds={"json"},
       code_version=CODE_VERSION)
def promotion_decision(context: AssetExecutionContext, project: GovernanceProject
                       ) -> MaterializeResult:
    """Promote or blocked, with every verdict and its fingerprint: written for every candidate."""
    layout = project.layout
    items = standings(project.params(), layout)
    record, path = _record_decision(context, project, items)
    promoted = record["decision"] == decisions.PROMOTE
    headline = ("PROMOTE: every blocking gate passed on the current inputs" if promoted else
                f"BLOCKED by {', '.join(record['refused_by'])}")
    staging = (f"before this decision: {staging_holds(layout)}; staging_model moves it to this "
               "candidate" if promoted else
               f"still {staging_holds(layout)}; this candidate is not registered")
    if not promoted:
        context.log_event(_staging_unchanged(context.run_id, headline, staging, items))
    return MaterializeResult(metadata={
        "decision": headline,
        "staging": staging,
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


def _register(params: Params, layout: Layout, items: list[Standing], run_id: str) -> dict:
    """Register the judged bytes and the views rendered from them, then move `staging` on a
    ledger entry naming the run, its decision record and every verdict record it rests on."""
    expected = version_files.judged_hashes(layout, items)
    unbound = version_files.unbound(expected)
    if unbound:
        raise registry.RegistryError(f"no current verdict binds {', '.join(unbound)}; "
                                     "registering them would register bytes no gate judged")
    with tempfile.TemporaryDirectory(prefix="governance-views-") as folder:
        views = version_files.render(params, layout, items, expected, Path(folder))
        manifest = registry.register(
            layout.registry, layout.model,
            {**{name: layout.report(name) for name in version_files.JUDGED}, **views},
            {"dataset": params.dataset, "policy_hash": params.policy_hash,
             "dagster_run_id": run_id, "decision": decisions.PROMOTE},
            expected=expected)
    entry = registry.set_alias(
        layout.registry, "staging", manifest["version"],
        reason=f"all blocking gates passed (run {run_id})", move="promotion", run_id=run_id,
        decision_sha256=sha256_of_file(layout.report("decision.json")),
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
    A run whose candidate is refused does not materialize it: the metadata below is then that
    of the version staging still holds; the refusal, its reasons and that version are on
    promotion_decision and, as an observation, in this asset's Events.
    """
    params, layout = project.params(), project.layout
    items = standings(params, layout)
    refused = refusals(items)
    latest = decisions.latest_decision(layout)
    if refused or latest is None or latest["run_id"] != context.run_id:
        _record_decision(context, project, items)
    if refused:
        raise Failure(description=f"staging promotion refused; staging still holds "
                                  f"{staging_holds(layout)}:\n" + "\n".join(refused),
                      metadata={"staging": staging_holds(layout),
                                "refusals": MetadataValue.md(
                          "\n".join(f"- {markdown.text(line)}" for line in refused)),
                          "gates": MetadataValue.md(gate_table_markdown(items))})
    try:
        record = _register(params, layout, items, context.run_id)
    except (registry.RegistryError, LedgerError) as error:
        raise Failure(description=f"staging promotion refused: {error}") from error
    write_json_atomic(layout.report("staging.json"), record)
    return MaterializeResult(metadata={
        "version": record["version"], "model_sha256": record["model_sha256"],
        "registry_path": MetadataValue.path(record["registry"]),
        "registered_by_run": context.run_id,
        # The same keys a refusal's observation sets, so none of its words outlive it here.
        "staging": f"{record['version']}, registered by this run",
        "latest_decision": f"PROMOTE (run {context.run_id})",
        "gates": MetadataValue.md(
            f"The verdicts {markdown.code(record['version'])} was registered on, in run "
            f"{markdown.code(context.run_id)}. A later run that refuses its candidate does not "
            "materialize this asset: its reasons and the version staging still holds are on "
            "promotion_decision.\n\n" + gate_table_markdown(items))})

