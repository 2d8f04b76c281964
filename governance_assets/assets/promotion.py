"""Group promotion: the staging registry version, guarded by the instance's gate record."""

from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from ..core import registry
from ..core.files import write_json_atomic
from ..resources import GovernanceProject
from .documentation import compliance_report, model_card

REGISTERED_EVIDENCE = ("model_card.json", "model_card.md", "compliance.md", "validation.json",
                       "splits.json", "search.json", "performance.json", "fairness.json",
                       "explanation.json", "drift.json", "drift.html")


@asset(group_name="promotion", deps=[model_card, compliance_report], kinds={"registry"})
def staging_model(context: AssetExecutionContext, project: GovernanceProject
                  ) -> MaterializeResult:
    """Registers the candidate and points `staging` at it, only if every blocking gate passed.

    Dagster blocks within a run; selecting this asset alone skips upstream checks, so the guard
    re-reads every gate from the instance and refuses unless each passed on the current data.
    """
    from ..assets import GRAPH_ASSETS
    from ..checks import GATE_CHECKS
    from ..gate_status import gate_statuses, refusals

    layout = project.layout
    statuses = gate_statuses(context.instance, GRAPH_ASSETS, GATE_CHECKS)
    refused = refusals(statuses)
    if refused:
        raise Failure(description="staging promotion refused:\n" + "\n".join(refused),
                      metadata={"refusals": MetadataValue.json(refused)})
    params = project.params()
    manifest = registry.register(
        layout.registry, layout.model,
        {name: layout.report(name) for name in REGISTERED_EVIDENCE},
        {"dataset": params.dataset, "policy_hash": params.policy_hash,
         "dagster_run_id": context.run_id,
         "gates": [s.to_dict() for s in statuses]})
    state = registry.set_alias(layout.registry, "staging", manifest["version"],
                               reason=f"all blocking gates passed (run {context.run_id})")
    record = {"version": manifest["version"], "alias": "staging",
              "model_sha256": manifest["model_sha256"],
              "registry": layout.relative(layout.registry / "versions" / manifest["version"]),
              "previous": state["history"][-1]["previous"], "run_id": context.run_id}
    write_json_atomic(layout.report("staging.json"), record)
    return MaterializeResult(metadata={
        "version": manifest["version"], "model_sha256": manifest["model_sha256"],
        "registry_path": MetadataValue.path(record["registry"])})
