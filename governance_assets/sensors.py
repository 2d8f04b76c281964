"""Schedules and sensors of the production loop; all start stopped, as Dagster's do.

- `batch_monitoring_schedule`: registers each new batch file as a partition and scores and
  monitors every batch whose current content was not yet monitored (or refused).
- `drift_research_sensor`: a drift ERROR in a batch launches the search-to-promotion path
  (`model_search` and everything downstream: a new search, not a refit of the old model).
  Dagster tags the run with the sensor's name, which core/decisions.trigger_from_tags records
  as trigger `drift` in the decision record; `governance/trigger` says it in the run's tags.
- `fairness_rollback_sensor`: a disparate-impact ERROR asks for production to be rolled back
  when params allow it and a previous production version exists (core/monitor/rollback.py).
- `weekly_compliance_report`: the production version's compliance report regenerated and
  entered in the ledger every week (core/report/periodic_compliance.py), so the check is
  visibly periodic.
- `alert_outbox_sensor`: re-sends the alerts still undelivered (core/monitor/outbox.py), oldest
  first, once the receiver is back, without waiting for the next batch to alert.
"""

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Failure,
    OpExecutionContext,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    job,
    op,
    schedule,
    sensor,
)

from .assets.monitoring import batch_partitions, pending_batches
from .core.monitor import batches
from .resources import AlertWebhook, GovernanceProject

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
    found = batches.scan(batches.folder(layout.root, params.monitoring.batch_folder,
                                        params.dataset))
    known = set(context.instance.get_dynamic_partitions(batch_partitions.name))
    new = sorted(set(found.batches) - known)
    if new:
        context.instance.add_dynamic_partitions(batch_partitions.name, new)
    pending = pending_batches(layout, found).pending
    if not pending:
        return SkipReason(f"no new batch in {params.monitoring.batch_folder}/{params.dataset}")
    return [RunRequest(run_key=f"{key}:{content}", partition_key=key,
                       tags={"governance/batch": key})
            for key, content in sorted(pending.items())]


def _new_monitoring(context: SensorEvaluationContext) -> tuple[list[tuple[str, dict]], str]:
    """Every batch_monitoring materialization since the cursor (not only the latest one, as an
    asset_sensor would): (batch, metadata) in order, and the new cursor."""
    after = int(context.cursor) if context.cursor else None
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=MONITORED, after_storage_id=after), limit=200,
        ascending=True).records
    events = []
    for record in records:
        materialization = record.asset_materialization
        events.append((str(materialization.partition),
                       {k: v.value for k, v in materialization.metadata.items()}))
    cursor = str(records[-1].storage_id) if records else (context.cursor or "")
    return events, cursor


@sensor(job=search_to_promotion_job, default_status=DefaultSensorStatus.STOPPED,
        minimum_interval_seconds=60,
        description="A monitored batch whose drift level is ERROR launches the search again.")
def drift_research_sensor(context: SensorEvaluationContext) -> SensorResult:
    events, cursor = _new_monitoring(context)
    drifted = [(batch, metadata) for batch, metadata in events
               if metadata.get("drift_level") == "ERROR"]
    if not drifted:
        return SensorResult(skip_reason=f"{len(events)} new monitored batch(es), none with a "
                                        "drift ERROR", cursor=cursor)
    batches_seen = ", ".join(batch for batch, _ in drifted)
    # One search for every drifted batch since the last tick: they share the same data.
    request = RunRequest(
        run_key=f"drift:{cursor}",
        tags={"governance/trigger": "drift", "governance/batch": batches_seen[:200],
              "governance/production_version": str(drifted[-1][1].get("production_version"))})
    return SensorResult(run_requests=[request], cursor=cursor)


@sensor(default_status=DefaultSensorStatus.STOPPED, minimum_interval_seconds=60,
        description="A disparate-impact ERROR in production rolls it back to the previous "
                    "approved production version, when params allow it (ledger entry).")
def fairness_rollback_sensor(context: SensorEvaluationContext, project: GovernanceProject
                             ) -> SensorResult:
    from .core.monitor import rollback
    from .core.record import registry
    from .core.trust import signoff

    events, cursor = _new_monitoring(context)
    root = project.layout.registry
    params = project.params()
    allowed = params.monitoring.rollback_on_fairness_breach
    trust = signoff.Trust.of(project.layout.root, params.signoff)
    reasons = []
    for batch, metadata in events:
        current = registry.get_alias(root, "production")
        if metadata.get("production_version") != current:
            reasons.append(f"{batch}: judged {metadata.get('production_version')}, no longer "
                           "production")
            continue
        previous = rollback.previous_production(root, trust)
        wanted, why = rollback.rollback_wanted(bool(metadata.get("fairness_breach")), allowed,
                                               current, previous)
        if wanted:
            entry = rollback.roll_back_production(root, trust, why, batch,
                                                  str(metadata.get("report")))
            context.log.warning(f"production rolled back: ledger entry {entry['seq']}")
            why = f"rolled back to {previous} (ledger entry {entry['seq']}): {why}"
        reasons.append(f"{batch}: {why}")
    return SensorResult(skip_reason="; ".join(reasons) or "no new monitored batch",
                        cursor=cursor)


@op(description="Regenerate the production version's compliance report from its registered "
                 "card and enter it in the ledger (kind compliance_report).")
def production_compliance_report(context: OpExecutionContext, project: GovernanceProject
                                 ) -> None:
    from .core.decide.decisions import trigger_from_tags
    from .core.report import periodic_compliance

    try:
        entry = periodic_compliance.production_report(
            project.layout, project.params(), trigger_from_tags(context.run.tags),
            context.run_id)
    except periodic_compliance.PeriodicComplianceError as error:
        raise Failure(description=str(error)) from error
    context.log.info(f"compliance report of {entry['data']['version']}: registry/"
                     f"{entry['data']['record']} (ledger #{entry['seq']})")


@job(description="The production version's compliance report, regenerated and recorded in the "
                 "ledger.")
def compliance_report_job():
    production_compliance_report()


weekly_compliance_report = ScheduleDefinition(
    name="weekly_compliance_report", job=compliance_report_job, cron_schedule="0 5 * * 1",
    default_status=DefaultScheduleStatus.STOPPED,
    description="Every Monday 05:00 UTC: the production version's compliance report, "
                "regenerated and entered in the ledger.")


@sensor(default_status=DefaultSensorStatus.STOPPED, minimum_interval_seconds=60,
        description="Alerts still undelivered are re-sent, oldest first, with their original "
                    "batch, time and id; one tick waits at most one delivery's bound.")
def alert_outbox_sensor(context: SensorEvaluationContext, project: GovernanceProject,
                        alerts: AlertWebhook) -> SkipReason:
    tried = alerts.resend(project.layout, project.params())
    for record in tried:
        context.log.info(f"alert {record['id']} (batch {record['batch']}): {record['status']}")
    sent = sum(record["status"] == "delivered" for record in tried)
    return SkipReason(f"{sent} of {len(tried)} undelivered alert(s) re-sent")


MONITORING_SCHEDULES = [batch_monitoring_schedule, weekly_compliance_report]
MONITORING_SENSORS = [drift_research_sensor, fairness_rollback_sensor, alert_outbox_sensor]
MONITORING_JOBS = [batch_monitoring_job, search_to_promotion_job, compliance_report_job]
