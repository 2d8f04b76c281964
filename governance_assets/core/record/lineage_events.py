"""OpenLineage run events for the governed graph, built from plain values (no Dagster here).

Each asset materialization is one OpenLineage run of a job named after the asset, a child (the
`parent` facet) of the Dagster run that materialized it. Its datasets are the files it read and
wrote (asset_files.py): the raw file carries its DVC md5 as its version, the tabular ones their
columns and types, and the run carries the gate verdicts judged on the asset in the same run, as
this project's `governance_gates` facet and as OpenLineage's standard `test` facet.

openlineage-python is imported by this module only: the Dagster side imports it only when
OpenLineage is configured (governance_assets/lineage.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import attr
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    RunFacet,
    dataset_version_dataset,
    error_message_run,
    job_type_job,
    parent_run,
    schema_dataset,
    test_run,
)
from openlineage.client.naming.dataset import LocalFileSystem

from .asset_files import is_tabular

PRODUCER = "https://github.com/governance-assets/governance-assets"
GATES_FACET = "governance_gates"
GATES_FACET_SCHEMA = PRODUCER + "/blob/main/docs/lineage.md#the-gate-verdict-facet"
DEFAULT_NAMESPACE = "governance"


@dataclass(frozen=True)
class GateVerdict:
    """One asset check's result as Dagster recorded it: passed, severity (ERROR stops the run,
    WARN does not) and the gate's own outcome, value and threshold."""

    gate: str
    passed: bool
    severity: str
    description: str = ""
    outcome: str | None = None
    value: float | None = None
    threshold: float | None = None
    blocks_promotion: bool | None = None

    def to_dict(self) -> dict:
        return {"gate": self.gate, "passed": self.passed, "severity": self.severity,
                "outcome": self.outcome, "value": self.value, "threshold": self.threshold,
                "blocks_promotion": self.blocks_promotion, "description": self.description}


@dataclass(frozen=True)
class FileDataset:
    """A file an asset read or wrote; `version` is set where the file's hash is its data
    version (the raw file: its DVC md5)."""

    path: Path
    version: str | None = None
    columns: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ParentRun:
    """The Dagster run (or DVC stage) that materialized the asset."""

    run_id: str
    job: str


@dataclass(frozen=True)
class AssetRun:
    """One asset materialization as OpenLineage sees it: a run of the job named for the asset."""

    asset: str
    parent: ParentRun
    namespace: str = DEFAULT_NAMESPACE
    inputs: tuple[FileDataset, ...] = ()
    outputs: tuple[FileDataset, ...] = ()
    verdicts: tuple[GateVerdict, ...] = field(default=())

    @property
    def run_id(self) -> str:
        """Stable for the pair (Dagster run, asset), so START and COMPLETE name one run."""
        return str(uuid.uuid5(uuid.UUID(self.parent.run_id), self.asset))


@attr.define
class GovernanceGatesRunFacet(RunFacet):
    """The gate verdicts (Dagster asset check results) judged on this asset in this run."""

    gates: list[dict]

    @staticmethod
    def _get_schema() -> str:
        return GATES_FACET_SCHEMA


def start(run: AssetRun, at: datetime) -> RunEvent:
    return _event(run, RunState.START, at, {})


def complete(run: AssetRun, at: datetime) -> RunEvent:
    return _event(run, RunState.COMPLETE, at, _verdict_facets(run.verdicts))


def fail(run: AssetRun, at: datetime, message: str) -> RunEvent:
    facets = {**_verdict_facets(run.verdicts),
              "errorMessage": error_message_run.ErrorMessageRunFacet(
                  message=message, programmingLanguage="python")}
    return _event(run, RunState.FAIL, at, facets)


def parent_event(parent: ParentRun, namespace: str, state: RunState, at: datetime,
                 message: str | None = None) -> RunEvent:
    """The Dagster run itself: START, then COMPLETE, or FAIL when a gate or a step stopped it."""
    facets = ({"errorMessage": error_message_run.ErrorMessageRunFacet(
        message=message, programmingLanguage="python")} if message else {})
    return RunEvent(eventType=state, eventTime=_iso(at), producer=PRODUCER,
                    run=Run(runId=parent.run_id, facets=facets),
                    job=_job(namespace, parent.job, "JOB"))


def schema_of(path: Path) -> tuple[tuple[str, str], ...]:
    """Column names and Arrow types of a Parquet file (its footer) or a CSV (its header and the
    types Arrow infers from the first block), so a large file costs one block, not a read."""
    import pyarrow.csv
    import pyarrow.parquet

    if path.suffix == ".parquet":
        schema = pyarrow.parquet.read_schema(path)
    else:
        with pyarrow.csv.open_csv(path) as reader:
            schema = reader.schema
    return tuple((name, str(schema.field(name).type)) for name in schema.names)


def file_dataset(path: Path, version: str | None = None) -> FileDataset:
    """A file with its schema when it is a table."""
    return FileDataset(path, version, schema_of(path) if is_tabular(path) else ())


def _event(run: AssetRun, state: RunState, at: datetime, facets: dict) -> RunEvent:
    parent = parent_run.ParentRunFacet(
        run=parent_run.Run(runId=run.parent.run_id),
        job=parent_run.Job(namespace=run.namespace, name=run.parent.job))
    return RunEvent(
        eventType=state, eventTime=_iso(at), producer=PRODUCER,
        run=Run(runId=run.run_id, facets={"parent": parent, **facets}),
        job=_job(run.namespace, run.asset, "ASSET"),
        inputs=[InputDataset(**_dataset(data)) for data in run.inputs],
        outputs=[OutputDataset(**_dataset(data)) for data in run.outputs])


def _job(namespace: str, name: str, job_type: str) -> Job:
    kind = job_type_job.JobTypeJobFacet(processingType="BATCH", integration="DAGSTER",
                                        jobType=job_type)
    return Job(namespace=namespace, name=name, facets={"jobType": kind})


def _dataset(data: FileDataset) -> dict:
    naming = LocalFileSystem(path=str(data.path))
    facets: dict = {}
    if data.version is not None:
        facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=data.version)
    if data.columns:
        facets["schema"] = schema_dataset.SchemaDatasetFacet(fields=[
            schema_dataset.SchemaDatasetFacetFields(name=name, type=kind, ordinal_position=i)
            for i, (name, kind) in enumerate(data.columns, start=1)])
    return {"namespace": naming.get_namespace(), "name": naming.get_name(), "facets": facets}


def _verdict_facets(verdicts: tuple[GateVerdict, ...]) -> dict:
    """The verdicts twice: whole, in this project's terms, and as OpenLineage's `test` facet,
    which lineage backends already display."""
    if not verdicts:
        return {}
    tests = [test_run.TestExecution(
        name=v.gate, status="pass" if v.passed else "fail", severity=v.severity.lower(),
        type="governance_gate", description=v.description,
        expected=None if v.threshold is None else str(v.threshold),
        actual=None if v.value is None else str(v.value)) for v in verdicts]
    return {GATES_FACET: GovernanceGatesRunFacet(gates=[v.to_dict() for v in verdicts],
                                                 producer=PRODUCER),
            "test": test_run.TestRunFacet(tests=tests)}


def _iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat()
