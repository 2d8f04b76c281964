"""Everything Dagster loads: assets, gates, the whole-graph job and its schedule, one job per
DVC stage, the monitoring jobs, schedule and sensors (sensors.py), the OpenLineage sensors
(lineage.py), the resources."""

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    Definitions,
    ScheduleDefinition,
    define_asset_job,
)

from .assets import GRAPH_ASSETS, PROMOTION_CHECKS
from .assets.monitoring import batch_monitoring, scored_batch
from .checks import GATE_CHECKS, stage_selection
from .core.decide.gate_catalog import PRODUCTION_STAGE, STAGE_GROUPS, STAGES
from .executors import executor
from .lineage import LINEAGE_SENSORS
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

# The job each DVC stage runs (`governance stage NAME`), named after the stage: the UI's runs
# list says which stage a run was, and `dg launch --job NAME` runs the same slice.
STAGE_JOBS = {
    name: define_asset_job(
        name, selection=stage_selection(name),
        description=f"The `{name}` stage: the {STAGE_GROUPS[name]} group and the gates it "
                    "judges (gate_catalog), as `governance stage` runs it.")
    for name in (*STAGES, PRODUCTION_STAGE)
}

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
    jobs=[governed_graph_job, *STAGE_JOBS.values(), *MONITORING_JOBS],
    schedules=[weekly_retraining, *MONITORING_SCHEDULES],
    sensors=[*MONITORING_SENSORS, *LINEAGE_SENSORS],
    resources={"project": GovernanceProject(), "alerts": AlertWebhook()},
    executor=executor(),
)
