"""Everything Dagster loads: assets, gates, the whole-graph job and its schedule, the
monitoring jobs, schedule and sensors (sensors.py), the resources."""

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    Definitions,
    ScheduleDefinition,
    define_asset_job,
)

from .assets import GRAPH_ASSETS, PROMOTION_CHECKS
from .assets.monitoring import batch_monitoring, scored_batch
from .checks import GATE_CHECKS
from .executors import executor
from .resources import AlertWebhook, GovernanceProject
from .sensors import MONITORING_JOBS, MONITORING_SCHEDULES, MONITORING_SENSORS

governed_graph_job = define_asset_job(
    "governed_graph",
    # Production is approval-gated and moved on purpose, never by the scheduled graph; the
    # monitoring group is partitioned by batch and runs on its own schedule (sensors.py).
    selection=AssetSelection.all() - AssetSelection.groups("production", "monitoring"),
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
    assets=[*GRAPH_ASSETS, scored_batch, batch_monitoring],
    asset_checks=[*GATE_CHECKS, *PROMOTION_CHECKS],
    jobs=[governed_graph_job, *MONITORING_JOBS],
    schedules=[weekly_retraining, *MONITORING_SCHEDULES],
    sensors=MONITORING_SENSORS,
    resources={"project": GovernanceProject(), "alerts": AlertWebhook()},
    executor=executor(),
)
