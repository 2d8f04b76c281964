"""OpenLineage events for the governed graph, read from a finished Dagster run's event log.

One consumer serves both drivers. `governance stage` (what `governance run` and `dvc repro`
call) sends its run's events as soon as its materialization returns; runs started in `dagster
dev` (the UI, the weekly schedule) are sent by two run-status sensors, which skip the runs a
stage already sent. The events are built after the run because a gate is a separate step
that runs after its asset: only then is an asset's COMPLETE able to carry its verdicts. Each
event keeps the time Dagster recorded (a step's start, its materialization, the run's end).

Configuration is OpenLineage's own (OPENLINEAGE_URL, OPENLINEAGE_CONFIG, openlineage.yml in the
working directory or ~/.openlineage, OPENLINEAGE__TRANSPORT__*; OPENLINEAGE_DISABLED=true turns
it off). Without it nothing is sent and openlineage-python is not imported (`configured`).
"""

from __future__ import annotations

import os
import sys
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from dagster import (
    AssetKey,
    DagsterEvent,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    EventLogEntry,
    RunStatusSensorContext,
    run_status_sensor,
)

from .assets import GRAPH_ASSETS
from .core.layout import Layout
from .core.params import load_params
from .core.record.asset_files import files_of
from .resources import GovernanceProject

if TYPE_CHECKING:
    from openlineage.client.event_v2 import RunEvent

    from .core.record.lineage_events import GateVerdict

STAGE_TAG = "governance/stage"
NAMESPACE_VARIABLE = "OPENLINEAGE_NAMESPACE"
CONFIG_FILE = "openlineage.yml"
ASSET_OF_STEP = {definition.op.name: definition.key.to_user_string()
                 for definition in GRAPH_ASSETS}
UPSTREAM = {key.to_user_string(): sorted(dep.to_user_string() for dep in deps)
            for definition in GRAPH_ASSETS for key, deps in definition.asset_deps.items()}


def configured(env: Mapping[str, str] = os.environ) -> bool:
    """Whether OpenLineage is configured the ways its client reads (a cheap look at the
    environment and two files), so an unconfigured run imports and sends nothing."""
    if env.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OPENLINEAGE_URL") or any(k.startswith("OPENLINEAGE__TRANSPORT") for k in env):
        return True
    files = [env.get("OPENLINEAGE_CONFIG"), Path.cwd() / CONFIG_FILE,
             Path.home() / ".openlineage" / CONFIG_FILE]
    return any(path and Path(path).is_file() for path in files)


@dataclass
class RunLog:
    """What one Dagster run did to each asset of the graph, from its event log."""

    started: dict[str, datetime] = field(default_factory=dict)
    materialized: dict[str, datetime] = field(default_factory=dict)
    data_versions: dict[str, str] = field(default_factory=dict)
    failed: dict[str, tuple[datetime, str]] = field(default_factory=dict)
    verdicts: dict[str, list[GateVerdict]] = field(default_factory=lambda: defaultdict(list))
    run_started: datetime | None = None
    run_ended: datetime | None = None
    run_failure: str | None = None

    def read(self, entry: EventLogEntry) -> None:
        event = entry.dagster_event
        handler = READERS.get(event.event_type) if event else None
        if handler:
            handler(self, event, _time(entry.timestamp), ASSET_OF_STEP.get(entry.step_key or ""))

    def _run_started(self, _event: DagsterEvent, at: datetime, _asset: str | None) -> None:
        self.run_started = at

    def _run_ended(self, event: DagsterEvent, at: datetime, _asset: str | None) -> None:
        self.run_ended = at
        if event.event_type == DagsterEventType.RUN_FAILURE:
            self.run_failure = event.message or "the run failed"

    def _step_started(self, _event: DagsterEvent, at: datetime, asset: str | None) -> None:
        if asset:
            self.started[asset] = at

    def _step_failed(self, event: DagsterEvent, at: datetime, asset: str | None) -> None:
        if asset:
            self.failed[asset] = (at, _error_line(event.step_failure_data.error))

    def _materialized(self, event: DagsterEvent, at: datetime, _asset: str | None) -> None:
        """When the asset was materialized, and its data version (raw_dataset's: the md5)."""
        name = event.asset_key.to_user_string()
        self.materialized[name] = at
        version = event.step_materialization_data.materialization.tags.get(
            "dagster/data_version")
        if version is not None:
            self.data_versions[name] = str(version)

    def _judged(self, event: DagsterEvent, _at: datetime, _asset: str | None) -> None:
        evaluation = event.event_specific_data
        self.verdicts[evaluation.asset_key.to_user_string()].append(_verdict(evaluation))

    def failed_gates(self, which: Callable[[GateVerdict], bool]) -> list[str]:
        return [f"{v.gate} on {asset}" for asset, verdicts in self.verdicts.items()
                for v in verdicts if not v.passed and which(v)]

    def stopped_by(self) -> str:
        """Why the run stopped: the gates that stopped it (ERROR severity) and the failed gates
        that refused promotion through them, else the steps that failed."""
        stopping = self.failed_gates(lambda v: v.severity == "ERROR")
        refusing = self.failed_gates(lambda v: v.blocks_promotion and v.severity != "ERROR")
        if stopping:
            refused = f" (promotion refused by {', '.join(refusing)})" if refusing else ""
            return "blocked by gate " + ", ".join(stopping) + refused
        return self.run_failure or "a step failed: " + (", ".join(self.failed) or "see the run")


READERS = {DagsterEventType.RUN_START: RunLog._run_started,
           DagsterEventType.RUN_SUCCESS: RunLog._run_ended,
           DagsterEventType.RUN_FAILURE: RunLog._run_ended,
           DagsterEventType.STEP_START: RunLog._step_started,
           DagsterEventType.STEP_FAILURE: RunLog._step_failed,
           DagsterEventType.ASSET_MATERIALIZATION: RunLog._materialized,
           DagsterEventType.ASSET_CHECK_EVALUATION: RunLog._judged}


def _time(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, timezone.utc)


def _error_line(error) -> str:
    cause = error.cause or error
    return (cause.message or cause.cls_name or "step failed").strip().splitlines()[0]


def _verdict(evaluation) -> GateVerdict:
    from .core.record.lineage_events import GateVerdict

    def scalar(key: str):
        value = evaluation.metadata.get(key)
        return None if value is None else value.value

    return GateVerdict(gate=evaluation.check_name, passed=evaluation.passed,
                       severity=evaluation.severity.value,
                       description=evaluation.description or "",
                       outcome=scalar("outcome"), value=scalar("value"),
                       threshold=scalar("threshold"),
                       blocks_promotion=scalar("blocks_promotion"))


def run_events(instance: DagsterInstance, run_id: str, root: Path) -> list[RunEvent]:
    """START and COMPLETE or FAIL for the run and for every graph asset it meant to build.

    An asset whose gates failed was still built: COMPLETE, the failed verdicts in its facets.
    An asset the run did not build because a gate stopped it gets FAIL naming that gate; it
    never started, so it has no START. The run itself ends FAIL when Dagster's run failed."""
    from openlineage.client.event_v2 import RunState

    from .core.record import lineage_events as events

    run = instance.get_run_by_id(run_id)
    log = RunLog()
    for entry in instance.all_logs(run_id):
        log.read(entry)
    planned = _planned_assets(instance, run)
    if not planned:
        return []
    parent = events.ParentRun(run_id, _job_name(run.tags, run.job_name))
    namespace = os.environ.get(NAMESPACE_VARIABLE, events.DEFAULT_NAMESPACE)
    ended = log.run_ended or max([*log.materialized.values(), *log.started.values()],
                                 default=datetime.now(timezone.utc))
    sent = [events.parent_event(parent, namespace, RunState.START, log.run_started or ended)]
    datasets = _Datasets(instance, root, log)
    for asset in planned:
        outputs = datasets.outputs_of(asset) if asset in log.materialized else ()
        asset_run = events.AssetRun(asset, parent, namespace, datasets.inputs_of(asset),
                                    outputs, tuple(log.verdicts[asset]))
        if asset in log.started:
            sent.append(events.start(asset_run, log.started[asset]))
        if asset in log.materialized:
            sent.append(events.complete(asset_run, log.materialized[asset]))
        elif asset in log.failed:
            sent.append(events.fail(asset_run, *log.failed[asset]))
        else:
            sent.append(events.fail(asset_run, ended, f"{asset} was not materialized in Dagster "
                                                      f"run {run_id}: {log.stopped_by()}"))
    if run.status == DagsterRunStatus.SUCCESS:
        sent.append(events.parent_event(parent, namespace, RunState.COMPLETE, ended))
    else:
        sent.append(events.parent_event(parent, namespace, RunState.FAIL, ended,
                                        log.stopped_by()))
    return sent


def _planned_assets(instance: DagsterInstance, run) -> list[str]:
    """The graph assets whose steps the run's plan holds, in graph order."""
    plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
    steps = {step.key for step in plan.steps}
    return [asset for step, asset in ASSET_OF_STEP.items() if step in steps]


def _job_name(tags: Mapping[str, str], job_name: str) -> str:
    """A DVC stage's run is named for the stage (`stage.prepare`), others for their job."""
    stage = tags.get(STAGE_TAG)
    return f"stage.{stage}" if stage else job_name


class _Datasets:
    """The files each asset wrote (outputs) and read (its upstream assets' files); the raw
    file's version is raw_dataset's data version, the DVC md5 of the file."""

    def __init__(self, instance: DagsterInstance, root: Path, log: RunLog) -> None:
        self._instance, self._log = instance, log
        self._layout, self._raw_path = Layout(root), load_params(root).active.path

    def outputs_of(self, asset: str) -> tuple:
        from .core.record.lineage_events import file_dataset

        version = self._data_version(asset) if asset == "raw_dataset" else None
        return tuple(file_dataset(path, version)
                     for path in files_of(asset, self._layout, self._raw_path))

    def inputs_of(self, asset: str) -> tuple:
        return tuple(data for upstream in UPSTREAM.get(asset, [])
                     for data in self.outputs_of(upstream))

    def _data_version(self, asset: str) -> str | None:
        if asset in self._log.data_versions:
            return self._log.data_versions[asset]
        latest = self._instance.get_latest_materialization_event(AssetKey(asset))
        tags = latest.asset_materialization.tags if latest and latest.asset_materialization \
            else {}
        return tags.get("dagster/data_version")


def emit_run(instance: DagsterInstance, run_id: str, root: Path) -> int:
    """Send the run's events where OpenLineage's configuration says; the number sent. A
    lineage backend that is down costs the run one warning, never its result."""
    if not configured():
        return 0
    from openlineage.client import OpenLineageClient

    sent = 0
    try:
        client = OpenLineageClient()
        for event in run_events(instance, run_id, root):
            client.emit(event)
            sent += 1
        client.close()
    except Exception as error:  # noqa: BLE001 (lineage is a copy of the record, not the record)
        print(f"OpenLineage: {sent} event(s) of run {run_id} sent, then: {error}",
              file=sys.stderr, flush=True)
    return sent


def _sensor_status() -> DefaultSensorStatus:
    """Running when OpenLineage is configured where `dagster dev` starts, else stopped."""
    return DefaultSensorStatus.RUNNING if configured() else DefaultSensorStatus.STOPPED


def _emit_unless_a_stage_did(context: RunStatusSensorContext,
                             project: GovernanceProject) -> None:
    if STAGE_TAG not in context.dagster_run.tags:
        emit_run(context.instance, context.dagster_run.run_id, project.layout.root)


@run_status_sensor(run_status=DagsterRunStatus.SUCCESS, name="openlineage_after_success",
                   default_status=_sensor_status(),
                   description="Sends the OpenLineage events of a run that succeeded.")
def openlineage_after_success(context: RunStatusSensorContext,
                              project: GovernanceProject) -> None:
    _emit_unless_a_stage_did(context, project)


@run_status_sensor(run_status=DagsterRunStatus.FAILURE, name="openlineage_after_failure",
                   default_status=_sensor_status(),
                   description="Sends the OpenLineage events of a run a gate or a step stopped.")
def openlineage_after_failure(context: RunStatusSensorContext,
                              project: GovernanceProject) -> None:
    _emit_unless_a_stage_did(context, project)


LINEAGE_SENSORS = [openlineage_after_success, openlineage_after_failure]
