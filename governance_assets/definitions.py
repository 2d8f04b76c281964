"""Everything Dagster loads: assets, gates, the whole-graph job, its schedule, the resource."""

import os

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    Definitions,
    ScheduleDefinition,
    define_asset_job,
    in_process_executor,
)

from .assets import GRAPH_ASSETS, PROMOTION_CHECKS
from .checks import GATE_CHECKS
from .resources import GovernanceProject


def _executor():
    """In one process by default: a subprocess per step re-imports the package (about 6 s each
    here). `GOVERNANCE_EXECUTOR=celery` sends each step to Celery workers instead, with broker
    and backend from the environment (deploy/postgres-celery/, README "Scale-out")."""
    if os.environ.get("GOVERNANCE_EXECUTOR", "in_process") != "celery":
        return in_process_executor
    from dagster_celery import celery_executor

    return celery_executor.configured({"broker": {"env": "GOVERNANCE_CELERY_BROKER"},
                                       "backend": {"env": "GOVERNANCE_CELERY_BACKEND"}})


governed_graph_job = define_asset_job(
    "governed_graph",
    selection=AssetSelection.all(),
    description="data -> training -> evaluation -> documentation -> decision -> staging, "
                "with every gate.",
)

weekly_retraining = ScheduleDefinition(
    name="weekly_retraining",
    job=governed_graph_job,
    cron_schedule="0 6 * * 1",
    default_status=DefaultScheduleStatus.STOPPED,
    description="Re-materializes the whole governed graph every Monday 06:00 UTC.",
)

defs = Definitions(
    assets=GRAPH_ASSETS,
    asset_checks=[*GATE_CHECKS, *PROMOTION_CHECKS],
    jobs=[governed_graph_job],
    schedules=[weekly_retraining],
    resources={"project": GovernanceProject()},
    executor=_executor(),
)
