"""Automatic rollback on a fairness breach in production: when it is wanted, and doing it.

The decision is pure; the move is the registry's rollback (core/signoff.rollback), which goes
to the newest earlier production version that passed its gates and stays approved, and writes
the ledger entry naming who asked and why.
"""

from __future__ import annotations

from pathlib import Path

from ..trust import signoff

MONITORING_IDENTITY = "monitoring (fairness_rollback_sensor)"


def previous_production(registry_root: Path, trust: signoff.Trust) -> str | None:
    """Where a rollback of `production` would go: an earlier, approved, gate-passing holder."""
    return signoff.rollback_target(registry_root, trust, signoff.PRODUCTION)


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
        return False, (f"fairness breach on {current}, but no earlier production version "
                       "passed its gates and stays approved")
    return True, f"fairness breach on production {current}; previous version {previous}"


def roll_back_production(registry_root: Path, trust: signoff.Trust, reason: str, batch: str,
                         evidence: str) -> dict:
    """The one place monitoring moves production: signed by the pipeline key, the ledger
    entry says why and on what evidence."""
    return signoff.rollback(registry_root, trust, None,
                            f"{MONITORING_IDENTITY}: {reason} (batch {batch}; evidence "
                            f"{evidence})", monitoring=True)
