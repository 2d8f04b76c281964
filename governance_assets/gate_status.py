"""What the Dagster instance says about every gate: the one source the guard, card and CLI read.

A gate counts only if its latest evaluation targeted the latest materialization of its asset,
and that materialization was built from the current data versions of everything upstream.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from dagster import (
    AssetChecksDefinition,
    AssetKey,
    AssetsDefinition,
    DagsterInstance,
    EventLogRecord,
)

from .core.gates import PASS

DATA_VERSION_TAG = "dagster/data_version"
INPUT_VERSION_TAG = "dagster/input_data_version/"
CURRENT = "current"


@dataclass(frozen=True)
class GateStatus:
    gate: str
    asset: str
    blocking: bool
    state: str
    verdict: dict | None
    run_id: str | None

    @property
    def passed(self) -> bool:
        return self.state == CURRENT and self.verdict is not None and \
            self.verdict["outcome"] == PASS

    @property
    def blocks(self) -> bool:
        verdict_blocks = self.verdict["blocking"] if self.verdict else True
        return self.blocking and verdict_blocks and not self.passed

    @property
    def label(self) -> str:
        if self.state != CURRENT:
            return "NOT RUN"
        return "PASS" if self.passed else self.verdict["outcome"].upper()

    def to_dict(self) -> dict:
        verdict = self.verdict or {}
        return {"name": self.gate, "asset": self.asset, "value": verdict.get("value"),
                "threshold": verdict.get("threshold"), "comparison": verdict.get("comparison"),
                "verdict": self.label, "outcome": verdict.get("outcome"),
                "blocking": self.blocking, "blocks_promotion": self.blocks,
                "state": self.state, "message": verdict.get("message", self.state),
                "evidence": verdict.get("evidence"), "run_id": self.run_id}


def _latest(instance: DagsterInstance, key: AssetKey) -> EventLogRecord | None:
    records = instance.fetch_materializations(key, limit=1).records
    return records[0] if records else None


def asset_states(instance: DagsterInstance, assets: Sequence[AssetsDefinition]
                 ) -> dict[AssetKey, str]:
    """'current', 'never materialized', or why the latest materialization is out of date."""
    versions: dict[AssetKey, str | None] = {}
    states: dict[AssetKey, str] = {}
    for asset in assets:
        record = _latest(instance, asset.key)
        if record is None:
            versions[asset.key], states[asset.key] = None, "never materialized"
            continue
        tags = record.asset_materialization.tags or {}
        versions[asset.key] = tags.get(DATA_VERSION_TAG)
        states[asset.key] = CURRENT
        for parent in sorted(asset.dependency_keys, key=lambda key: key.to_user_string()):
            name = parent.to_user_string()
            if states.get(parent) != CURRENT:
                states[asset.key] = f"out of date: upstream {name} is not current"
                break
            if tags.get(INPUT_VERSION_TAG + name) != versions[parent]:
                states[asset.key] = f"out of date: {name} changed since it was built"
                break
    return states


def gate_statuses(instance: DagsterInstance, assets: Sequence[AssetsDefinition],
                  checks: Sequence[AssetChecksDefinition]) -> list[GateStatus]:
    states = asset_states(instance, assets)
    statuses = []
    for check in checks:
        spec = next(iter(check.check_specs))
        statuses.append(_status(instance, spec, states.get(spec.asset_key, "not in the graph")))
    return statuses


def _status(instance: DagsterInstance, spec, asset_state: str) -> GateStatus:
    asset = spec.asset_key.to_user_string()
    record = instance.get_latest_asset_check_evaluation_record(spec.key)
    evaluation = record.event.dagster_event.event_specific_data \
        if record and record.event and record.event.dagster_event else None
    if evaluation is None or not hasattr(evaluation, "passed"):  # planned, never evaluated
        return GateStatus(spec.name, asset, spec.blocking, "not evaluated", None,
                          record.run_id if record else None)
    verdict = evaluation.metadata["verdict"].value
    latest = _latest(instance, spec.asset_key)
    target = evaluation.target_materialization_data
    if asset_state != CURRENT:
        state = asset_state
    elif latest is None or target is None or target.storage_id != latest.storage_id:
        state = f"evaluated on an earlier materialization of {asset}"
    else:
        state = CURRENT
    return GateStatus(spec.name, asset, spec.blocking, state, verdict, record.run_id)


def refusals(statuses: Sequence[GateStatus]) -> list[str]:
    """Why promotion must be refused: one line per blocking gate that did not pass."""
    lines = []
    for status in statuses:
        if status.blocks:
            verdict = status.verdict or {}
            lines.append(f"{status.gate} on {status.asset}: {status.label} ({status.state})"
                         + (f" - {verdict['message']}" if verdict else ""))
    return lines
