"""Everything Dagster loads: assets, gates, the whole-graph job, its schedule, the resource."""

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

governed_graph_job = define_asset_job(
    "governed_graph",
    # Production is approval-gated and moved on purpose, never by the scheduled graph.
    selection=AssetSelection.all() - AssetSelection.groups("production"),
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
    # One process per run: a subprocess per step re-imports the package (about 6 s each here).
    executor=in_process_executor,
)
