"""Schedules and sensors of the production loop; all start stopped, as Dagster's do.

- `batch_monitoring_schedule`: registers each new batch file as a partition and scores and
  monitors every batch whose current content was not yet monitored (or refused).
- `drift_research_sensor`: a drift ERROR in a batch launches the search-to-promotion path
  (`model_search` and everything downstream: a new search, not a refit of the old model).
  Dagster tags the run with the sensor's name, which core/decisions.trigger_from_tags records
  as trigger `drift` in the decision record; `governance/trigger` says it in the run's tags.
- `fairness_rollback_sensor`: a disparate-impact ERROR asks for production to be rolled back
  when params allow it and a previous production version exists (core/rollback.py).
"""

from dagster import (
    AssetKey,
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    EventLogEntry,
    RunRequest,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SkipReason,
    asset_sensor,
    define_asset_job,
    schedule,
)

from .assets.monitoring import batch_partitions, pending_batches
from .core import batches
from .resources import GovernanceProject

MONITORED = AssetKey("batch_monitoring")

batch_monitoring_job = define_asset_job(
    "batch_monitoring_job", selection=AssetSelection.groups("monitoring"),
    partitions_def=batch_partitions,
    description="Validate, score (production + shadow), log and monitor one batch.")

search_to_promotion_job = define_asset_job(
    "search_to_promotion",
    selection=AssetSelection.assets("model_search").downstream(),
    description="A new search and everything after it: candidate, every gate, card, decision, "
                "staging.")


@schedule(job=batch_monitoring_job, cron_schedule="0 7 * * *",
          default_status=DefaultScheduleStatus.STOPPED,
          description="Daily 07:00 UTC: every new or changed batch file is scored and monitored.")
def batch_monitoring_schedule(context: ScheduleEvaluationContext, project: GovernanceProject):
    params, layout = project.params(), project.layout
    files = batches.list_batches(batches.folder(layout.root, params.monitoring.batch_folder,
                                                params.dataset))
    known = set(context.instance.get_dynamic_partitions(batch_partitions.name))
    new = sorted(set(files) - known)
    if new:
        context.instance.add_dynamic_partitions(batch_partitions.name, new)
    pending = pending_batches(layout, files)
    if not pending:
        return SkipReason(f"no new batch in {params.monitoring.batch_folder}/{params.dataset}")
    return [RunRequest(run_key=f"{key}:{content}", partition_key=key,
                       tags={"governance/batch": key})
            for key, content in sorted(pending.items())]


def _metadata(event: EventLogEntry) -> dict:
    materialization = event.asset_materialization
    return {key: value.value for key, value in materialization.metadata.items()}


@asset_sensor(asset_key=MONITORED, job=search_to_promotion_job,
              default_status=DefaultSensorStatus.STOPPED,
              description="A batch whose drift level is ERROR launches the search again.")
def drift_research_sensor(context: SensorEvaluationContext, asset_event: EventLogEntry):
    metadata = _metadata(asset_event)
    batch = asset_event.asset_materialization.partition
    if metadata.get("drift_level") != "ERROR":
        return SkipReason(f"batch {batch}: drift level {metadata.get('drift_level')}, no search")
    return RunRequest(
        run_key=f"drift:{batch}:{asset_event.storage_id}",
        tags={"governance/trigger": "drift", "governance/batch": str(batch),
              "governance/production_version": str(metadata.get("production_version"))})


@asset_sensor(asset_key=MONITORED, default_status=DefaultSensorStatus.STOPPED,
              description="A disparate-impact ERROR in production asks for a rollback to the "
                          "previous production version, when params allow it.")
def fairness_rollback_sensor(context: SensorEvaluationContext, asset_event: EventLogEntry,
                             project: GovernanceProject):
    from .core import registry, rollback

    metadata = _metadata(asset_event)
    batch = str(asset_event.asset_materialization.partition)
    root = project.layout.registry
    current = registry.get_alias(root, "production")
    previous = rollback.previous_production(root, current)
    wanted, why = rollback.rollback_wanted(
        bool(metadata.get("fairness_breach")),
        project.params().monitoring.rollback_on_fairness_breach, current, previous)
    if not wanted:
        return SkipReason(f"batch {batch}: {why}")
    entry = rollback.request_rollback(root, current, previous, why, batch,
                                      str(metadata.get("report")))
    context.log.warning(f"rollback requested: {entry}")
    return SkipReason(f"batch {batch}: rollback requested ({entry['status']}): {why}")


MONITORING_SCHEDULES = [batch_monitoring_schedule]
MONITORING_SENSORS = [drift_research_sensor, fairness_rollback_sensor]
MONITORING_JOBS = [batch_monitoring_job, search_to_promotion_job]
