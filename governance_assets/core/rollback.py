"""Automatic rollback on a fairness breach in production: when it is wanted, and the request.

The decision is here (pure); moving the `production` alias belongs to the registry's rollback
(issue 10), called from `request_rollback` only. Until that is wired, the request is recorded
in registry/monitoring/rollback_requests.jsonl with status `requested` for a human to act on.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from .registry import alias_history

REQUESTS = Path("monitoring") / "rollback_requests.jsonl"


def previous_production(registry_root: Path, current: str | None) -> str | None:
    """The last version `production` pointed at before the current one (approved back then)."""
    earlier = [entry["version"] for entry in alias_history(registry_root)
               if entry["alias"] == "production" and entry["version"] != current]
    return earlier[-1] if earlier else None


def rollback_wanted(fairness_breach: bool, allowed: bool, current: str | None,
                    previous: str | None) -> tuple[bool, str]:
    """Roll back only on a breach, when params allow it and there is somewhere to go."""
    if not fairness_breach:
        return False, "no fairness breach"
    if not allowed:
        return False, ("fairness breach, but monitoring.rollback_on_fairness_breach is false: "
                       "a human decides")
    if current is None:
        return False, "fairness breach, but no production version is set"
    if previous is None:
        return False, f"fairness breach on {current}, but no previous production version exists"
    return True, f"fairness breach on production {current}; previous version {previous}"


def request_rollback(registry_root: Path, current: str, target: str, reason: str,
                     batch: str, evidence: str) -> dict:
    """The one place production is rolled back from monitoring.

    Wire issue 10's registry rollback here (it moves the alias and writes the ledger entry);
    until then the request is appended to registry/monitoring/rollback_requests.jsonl.
    """
    entry = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
             "action": "rollback_production", "from_version": current, "to_version": target,
             "reason": reason, "batch": batch, "evidence": evidence,
             "status": "requested: registry rollback not wired (see core/rollback.py)"}
    path = registry_root / REQUESTS
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as requests:
        requests.write(json.dumps(entry) + "\n")
    return entry
