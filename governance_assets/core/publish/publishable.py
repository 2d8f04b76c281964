"""Whether a registry version may leave the project, and what goes with it when it does.

A version is published only while promotion would count its gates now: the guard's own
standings (core/decide/verdicts.py) must refuse nothing, and the version's registered decision
record must have been made on exactly those standings (core/decide/decisions.py `in_force`).
So a gate that failed, went stale (policy, data, code or candidate changed since) or was never
judged refuses publication with the lines promotion prints, and a version other than the one
the current verdicts judged is refused naming what changed. No second judgement is written here.

What is published is read from the registry once and checked against the ledger's sha256
before use: the files, the verdicts of the version's decision record and the tags made from
them. Nothing here imports MLflow (core/publish/mlflow_registry.py does).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from ..decide import decisions
from ..decide.blocking import shown_as_passed
from ..decide.gate_catalog import FAIRNESS_GATES
from ..decide.verdicts import refusals, standings
from ..layout import Layout
from ..params import Params
from ..record import registry, storage
from ..trust import signoff

# The files published beside the model: the card (Markdown and JSON), the decision record and
# the EU AI Act compliance report, as the version holds them.
ARTIFACTS = ("model_card.md", "model_card.json", "decision.json", "compliance.json",
             "compliance.md", "compliance.html")
GATE_TAG = "governance.gate."


class NotPublishable(RuntimeError):
    """The version may not be published; `reasons` are the lines promotion would print."""

    def __init__(self, version: str, reasons: list[str]):
        self.version, self.reasons = version, reasons
        super().__init__(f"version {version} is not published:\n"
                         + "\n".join(f"  {line}" for line in reasons))


@dataclass(frozen=True)
class Publishable:
    """A version that may be published: its ledger registration and its verified files."""

    version: str
    registered: dict
    files: dict[str, bytes]

    @property
    def decision(self) -> dict:
        return json.loads(self.files["decision.json"])

    @property
    def model_card(self) -> dict:
        return json.loads(self.files["model_card.json"])

    @property
    def ledger_entry(self) -> str:
        """The registration's place in the ledger as SEQ:HASH (what `verify --anchor` takes)."""
        return f"{self.registered['seq']}:{self.registered['hash']}"

    @property
    def evidence_hash(self) -> str:
        return signoff.evidence_hash(self.registered)

    def tags(self) -> dict[str, str]:
        """The tags the MLflow model version and run carry: who the version is in this
        project's ledger, what was decided, and each gate's verdict."""
        data = self.registered["data"]
        threshold = self.model_card.get("champion", {}).get("decision_threshold")
        return {
            "governance.version": self.version,
            "governance.evidence_hash": self.evidence_hash,
            "governance.ledger_entry": self.ledger_entry,
            "governance.decision": str(data.get("decision")),
            "governance.model_sha256": data["model_sha256"],
            "governance.policy_hash": str(data.get("policy_hash")),
            "governance.dataset": str(data.get("dataset")),
            "governance.decision_threshold": "" if threshold is None else str(threshold),
            "fairness_verified": "true" if fairness_verified(self.decision) else "false",
            **gate_tags(self.decision),
        }


def gate_tags(decision: dict) -> dict[str, str]:
    """One tag per gate verdict of a decision record: governance.gate.<gate> = PASS, FAIL,..."""
    return {f"{GATE_TAG}{row['name']}": row["verdict"] for row in decision["verdicts"]}


def fairness_verified(decision: dict) -> bool:
    """Every fairness gate (gate_catalog.FAIRNESS_GATES) is in the record and passed (or had
    nothing to judge, as Dagster shows a pass); insufficient evidence is not verification."""
    outcomes = {row["name"]: row.get("outcome") for row in decision["verdicts"]}
    return all(shown_as_passed(outcomes.get(name)) for name in FAIRNESS_GATES)


def judge(params: Params, layout: Layout, version: str) -> Publishable:
    """The version, if promotion would count every gate of it now; else NotPublishable with
    promotion's reasons. An unknown version is a RegistryError."""
    item = registered_version(layout.registry, version)
    if not signoff.passed_gates(item.registered):
        raise NotPublishable(version, [f"version {version} did not pass its gates (decision "
                                       f"{item.registered['data'].get('decision')!r})"])
    items = standings(params, layout)
    refused = refusals(items)
    if refused:
        raise NotPublishable(version, refused)
    rows = [standing.to_dict() for standing in items]
    if not decisions.in_force(item.decision, rows, params.policy_hash):
        changed = decisions.changed_since(item.decision, rows, params.policy_hash)
        raise NotPublishable(version, [
            f"version {version} was decided on other standings than the current ones (STALE: "
            f"{', '.join(changed) or 'its record has no standings digest'} changed since); "
            "only the version the current verdicts judged is published: re-run the pipeline "
            "on this version's inputs, or publish the version it registers"])
    return item


def registered_version(root: storage.RegistryPath, version: str) -> Publishable:
    """The version as the ledger registered it, with its published files read once and
    checked; NotPublishable when any of its files was changed. Not a judgement of its gates."""
    registered = registry.registration(root, version)
    if registered is None:
        raise registry.RegistryError(f"unknown version {version}: not in the registry's ledger")
    bad = signoff.tampered_files(root, registered)
    if bad:
        raise NotPublishable(version, [f"version {version}: {'; '.join(bad)}"])
    return Publishable(version, registered,
                       {name: verified_bytes(root, registered, name) for name in ARTIFACTS})


def verified_bytes(root: storage.RegistryPath, registered: dict, name: str) -> bytes:
    """A version's file, read once, only if its sha256 is the one the ledger recorded."""
    version = registered["data"]["version"]
    expected = registered["data"]["files"].get(name)
    if expected is None:
        raise registry.RegistryError(f"version {version} holds no {name}")
    data = storage.read_or_none(root / "versions" / version / name)
    if data is None or hashlib.sha256(data).hexdigest() != expected:
        raise registry.RegistryError(f"version {version}: {name} is missing or its sha256 "
                                     "differs from the ledger's; it is not published")
    return data
