"""Production promotion: moves `production` to the staging version only on a valid approval.

Not part of the governed-graph job or of `governance run`: it is materialized on purpose (UI,
`governance promote-production`, or `dvc repro promote_production`), and whichever driver
launches it, the asset itself refuses without an approval of the staging version's exact
evidence. The blocking check then names the approval production rests on.
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

from ..core.record import registry
from ..core.record.ledger import LedgerError
from ..core.report import markdown
from ..core.trust import signoff
from ..resources import GovernanceProject
from .promotion import staging_model
from .publishing import CODE_VERSION


def _staging_version(project: GovernanceProject) -> str:
    version = registry.get_alias(project.layout.registry, "staging")
    if version is None:
        raise Failure(description="production promotion refused: `staging` points at nothing; "
                                  "run `governance run` until a candidate passes its gates")
    return version


@asset(group_name="production", deps=[staging_model], kinds={"registry"},
       code_version=CODE_VERSION)
def production_model(context: AssetExecutionContext, project: GovernanceProject
                     ) -> MaterializeResult:
    """Points `production` at the staging version, resting on a valid human approval."""
    root = project.layout.registry
    version = _staging_version(project)
    try:
        trust = signoff.Trust.of(project.layout.root, project.params().signoff)
        entry = signoff.promote_to_production(root, version, trust, run_id=context.run_id)
    except (signoff.SignoffError, LedgerError) as error:
        raise Failure(description=str(error)) from error
    approval = signoff.approval_standing(root, version, trust).approval
    return MaterializeResult(metadata={
        "version": version, "approved_by": approval["data"]["by"],
        "promoted_by": entry["data"]["by"],
        "approval_reason": approval["data"]["reason"],
        "approval_ledger_entry": f"#{approval['seq']} {approval['hash'][:16]}",
        "production_ledger_entry": f"#{entry['seq']} {entry['hash'][:16]}",
        "evidence_hash": approval["data"]["evidence_hash"]})


@asset_check(asset=production_model, name="production_approval", blocking=True,
             description="production rests on an unexpired approval, signed by a key of a "
                         "principal with the approver role, of exactly the evidence the "
                         "registry holds, and on a promoter's signed request.")
def production_approval(project: GovernanceProject) -> AssetCheckResult:
    root = project.layout.registry
    try:
        trust = signoff.Trust.of(project.layout.root, project.params().signoff)
        version = signoff.production_version(root, lambda: trust)
    except (signoff.SignoffError, LedgerError) as error:
        return AssetCheckResult(passed=False, description=str(error))
    if version is None:
        return AssetCheckResult(passed=False, description="`production` points at nothing")
    standing = signoff.approval_standing(root, version, trust)
    return AssetCheckResult(
        passed=standing.valid, description=standing.summary(),
        metadata={"version": version,
                  "approved_by": standing.approval["data"]["by"] if standing.valid else "none",
                  "refusals": MetadataValue.md("\n".join(f"- {markdown.text(r)}"
                                                         for r in standing.refusals) or "none")})
