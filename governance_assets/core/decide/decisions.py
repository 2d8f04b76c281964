"""The decision record: what was decided about which candidate, under which inputs, and why.

Every run that reaches the gates writes one, promoted or blocked: `reports/decision.json` (the
latest) and `registry/decisions/` (the history, never overwritten). It is validated against
schemas/decision_record.schema.json before it is written.

A record carries the digest of the standings it was made on (the policy, and each gate's
state, outcome and fingerprint). It is the decision in force only while that digest equals the
current one: a policy tightened and then restored leaves the candidate and every file DVC sees
as they were, so only the standings tell that the latest record no longer holds.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from ..files import read_json, sha256_of_file, write_json_atomic
from ..layout import Layout
from ..params import Params, hash_values
from ..record import ledger
from ..report.card import gate_entry, validate_card
from ..trust.signatures import run_label
from .verdicts import (
    IntegrityError,
    Standing,
    candidate_sha256,
    code_version,
    data_version,
    refusals,
)

PROMOTE, BLOCKED = "promote", "blocked"
# Who ran it and when: in the run's record, not in what a registry version holds.
RUN_FIELDS = ("decided_at", "run_id", "trigger", "triggered_by", "git_commit",
              "run_signature", "allowed_signers_sha256")
SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "decision_record.schema.json"


class DecisionRecordError(RuntimeError):
    """A decision record failed its schema; it is not written."""


def trigger_from_tags(tags: dict[str, str] | None) -> str:
    tags = tags or {}
    if tags.get("governance/trigger") == "drift":  # set by the drift_research sensor
        return "drift"
    if "dagster/schedule_name" in tags:
        return "schedule"
    if "dagster/sensor_name" in tags:
        return "drift"
    if os.environ.get("CI"):
        return "ci"
    return "dvc" if os.environ.get("DVC_STAGE") or os.environ.get("GOVERNANCE_STAGE") \
        else "manual"


def _signers_digest(params: Params, layout: Layout) -> str | None:
    """Who may sign is policy too: the allowed-signers file's hash goes with each decision."""
    path = layout.root / params.signoff.allowed_signers
    return sha256_of_file(path) if path.is_file() else None


def decide(params: Params, layout: Layout, items: list[Standing], run_id: str | None,
           trigger: str, git_commit: str | None) -> dict:
    """The record for the current inputs: promote only when no blocking gate refuses."""
    try:
        candidate, problem = candidate_sha256(layout), None
    except IntegrityError as error:
        candidate, problem = None, str(error)
    refused = [item for item in items if item.blocks]
    rows = [item.to_dict() for item in items]
    return {
        "schema_version": "1.0",
        "decision": BLOCKED if refused or candidate is None else PROMOTE,
        "decided_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "run_id": run_id, "trigger": trigger, "triggered_by": ledger.identity(),
        "run_signature": run_label(),
        "allowed_signers_sha256": _signers_digest(params, layout),
        "dataset": params.dataset, "policy": params.policy.model_dump(mode="json"),
        "data_version": data_version(params, layout), "candidate_sha256": candidate,
        "candidate_problem": problem, "policy_hash": params.policy_hash,
        "code_version": code_version(), "git_commit": git_commit,
        "refused_by": [item.gate.name for item in refused] or
                      ([] if candidate else ["candidate_model"]),
        "refusals": refusals(items) or ([problem] if problem else []),
        "verdicts": rows,
        "standings_digest": standings_digest(rows, params.policy_hash),
    }


def gate_standings(rows: list[dict]) -> dict[str, list]:
    """Each gate as a decision depends on it: state, outcome, whether it blocks and the inputs
    judged (its fingerprint), but not when or in which run it was judged, so re-judging the
    same inputs changes nothing. `rows` are Standing.to_dict()s, as a record's `verdicts`."""
    return {row["name"]: [row["state"], row["outcome"], row["blocks_promotion"],
                          row["fingerprint"]] for row in rows}


def standings_digest(rows: list[dict], policy_hash: str) -> str:
    """One hash of the policy and every gate's standing: what a decision was made on."""
    return hash_values({"policy_hash": policy_hash, "gates": gate_standings(rows)})


def changed_since(record: dict, rows: list[dict], policy_hash: str) -> list[str]:
    """What differs between the standings a record was made on and the current ones: the
    gates whose standing moved, and `policy` when the policy's hash differs."""
    then, now = gate_standings(record.get("verdicts", [])), gate_standings(rows)
    changed = sorted(name for name in then.keys() | now.keys()
                     if then.get(name) != now.get(name))
    return changed + (["policy"] if record.get("policy_hash") != policy_hash else [])


def in_force(record: dict | None, rows: list[dict], policy_hash: str) -> bool:
    """The record was made on exactly the current standings (a record without a digest, from
    before digests were recorded, is not)."""
    return (record is not None
            and record.get("standings_digest") == standings_digest(rows, policy_hash))


def judged_decision(params: Params, layout: Layout, items: list[Standing]) -> dict:
    """The decision as a registry version holds it: what was decided on which evidence.

    No run id, clock, trigger or commit (the ledger and `registry/decisions/` keep who ran it
    and when), and a volatile gate's figure (latency) is left out as the card leaves it out,
    so the same candidate on the same evidence gives the same bytes and the same version.
    """
    record = decide(params, layout, items, None, "manual", None)
    return {**{key: value for key, value in record.items() if key not in RUN_FIELDS},
            "verdicts": [_judged_verdict(item) for item in items]}


def _judged_verdict(item: Standing) -> dict:
    row = {key: value for key, value in item.to_dict().items() if key != "judged_in_run"}
    entry = gate_entry(item)
    return {**row, "value": entry["value"], "message": entry["message"]}


def write_decision(layout: Layout, record: dict) -> Path:
    """Validate, then write the latest decision and append it to the history."""
    errors = validate_card(record, SCHEMA)
    if errors:
        raise DecisionRecordError("decision record invalid: " + "; ".join(errors[:5]))
    stamp = record["decided_at"].replace(":", "").replace("-", "")
    name = "-".join([stamp, (record["candidate_sha256"] or "none")[:12],
                     (record["run_id"] or "cli")[:8], record["decision"]])
    where = layout.registry / "decisions" / f"{name}.json"
    write_json_atomic(where, record)
    _ledger_decision(layout.registry, record, f"decisions/{name}.json", sha256_of_file(where))
    return write_json_atomic(layout.report("decision.json"), record)


def _ledger_decision(registry: Path, record: dict, where: str, digest: str) -> None:
    """The decision, and before it a policy entry when the policy differs from the last one."""
    with ledger.registry_lock(registry):
        last = ledger.last_entry(registry, "policy")
        signers = record.get("allowed_signers_sha256")
        if (last is None or last["data"]["policy_hash"] != record["policy_hash"]
                or last["data"].get("allowed_signers_sha256") != signers):
            before = last["data"]["policy"] if last else {}
            policy = record.get("policy", {})
            changed = sorted(k for k in before.keys() | policy.keys()
                             if before.get(k) != policy.get(k))
            if last is not None and last["data"].get("allowed_signers_sha256") != signers:
                changed.append("allowed signers file")
            ledger.append_locked(registry, "policy", {
                "policy_hash": record["policy_hash"], "policy": policy,
                "changed_keys": changed, "allowed_signers_sha256": signers,
                "previous_hash": last["data"]["policy_hash"] if last else None})
        ledger.append_locked(registry, "decision", {
            "decision": record["decision"], "run_id": record["run_id"],
            "trigger": record["trigger"], "candidate_sha256": record["candidate_sha256"],
            "policy_hash": record["policy_hash"], "refused_by": record["refused_by"],
            "standings_digest": record["standings_digest"], "record": where,
            "record_sha256": digest})


def latest_decision(layout: Layout) -> dict | None:
    path = layout.report("decision.json")
    return read_json(path) if path.is_file() else None
