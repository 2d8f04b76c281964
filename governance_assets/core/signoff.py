"""Human sign-off bound to evidence, production promotion and rollback.

An approval names a registry version and the hash of its evidence (model sha256 + card +
decision record with every verdict). It counts only while that evidence is still what the
registry holds, it has not expired, its author still has the approver role, no later rejection
voids it, and (with separation of duties) it is not by the identity that triggered the run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from . import ledger, registry
from .files import sha256_of_file
from .params import SignoffSpec
from .storage import RegistryPath

PRODUCTION = "production"


class SignoffError(RuntimeError):
    """An approval, promotion or rollback was refused; the message says why."""


def evidence_hash(registered: dict) -> str:
    """sha256 over every file hash the ledger recorded for a version, by name: the model, the
    judged reports and every page `governance show` points a reviewer at, so an approval
    covers exactly what the reviewer could read."""
    files = registered["data"]["files"]
    return hashlib.sha256(ledger.canonical(files).encode()).hexdigest()


def tampered_files(root: RegistryPath, registered: dict) -> list[str]:
    """Files of a version whose bytes are missing or differ from the ledger's sha256."""
    folder = root / "versions" / registered["data"]["version"]
    bad = []
    for name, expected in registered["data"]["files"].items():
        path = folder / name
        if not path.is_file():
            bad.append(f"{name} missing")
        elif sha256_of_file(path) != expected:
            bad.append(f"{name} sha256 differs from the ledger")
    return bad


def _registered(root: RegistryPath, version: str) -> dict:
    try:
        return registry._ledgered(root, version)
    except registry.RegistryError as error:
        raise SignoffError(str(error)) from error


def _trigger(registered: dict) -> str:
    return registered["actor"]["name"]


def _role_refusal(by: str, allowed: list[str], role: str, key: str) -> str | None:
    if allowed and by not in allowed:
        return f"{by!r} does not have the {role} role (signoff.{key}: {allowed})"
    if not allowed and role == "approver":
        return "no one has the approver role (signoff.approvers is empty in params.yaml)"
    return None


def _duty_refusal(by: str, registered: dict, spec: SignoffSpec) -> str | None:
    if spec.separation_of_duties and by == _trigger(registered):
        return (f"{by!r} triggered the run that produced version "
                f"{registered['data']['version']}; separation of duties "
                "(signoff.separation_of_duties) needs another reviewer")
    return None


def _sign(root: RegistryPath, kind: str, version: str, by: str, reason: str, spec: SignoffSpec,
          now: datetime | None) -> dict:
    if not reason.strip():
        raise SignoffError(f"{kind} of {version} refused: give a reason (--reason)")
    registered = _registered(root, version)
    refusal = (_role_refusal(by, spec.approvers, "approver", "approvers")
               or _duty_refusal(by, registered, spec))
    if refusal:
        raise SignoffError(f"{kind} of {version} refused: {refusal}")
    bad = tampered_files(root, registered)
    if bad:
        raise SignoffError(f"{kind} of {version} refused: its files are not the registered "
                           f"evidence ({'; '.join(bad)})")
    moment = now or datetime.now(timezone.utc)
    data = {"version": version, "evidence_hash": evidence_hash(registered), "by": by,
            "reason": reason, "at": moment.isoformat(timespec="seconds")}
    if kind == "approval":
        data["expires_at"] = (moment + timedelta(days=spec.approval_expiry_days)
                              ).isoformat(timespec="seconds")
    return ledger.append(root, kind, data)


def approve(root: RegistryPath, version: str, by: str, reason: str, spec: SignoffSpec,
            now: datetime | None = None) -> dict:
    """Record an approval of this version's exact evidence, or refuse with the reason."""
    return _sign(root, "approval", version, by, reason, spec, now)


def reject(root: RegistryPath, version: str, by: str, reason: str, spec: SignoffSpec,
           now: datetime | None = None) -> dict:
    """Record a rejection; it voids every earlier approval of the version."""
    return _sign(root, "rejection", version, by, reason, spec, now)


@dataclass(frozen=True)
class ApprovalStanding:
    """The approval a version's production promotion may rest on, and why others do not count."""

    version: str
    approval: dict | None
    refusals: tuple[str, ...]

    @property
    def valid(self) -> bool:
        return self.approval is not None

    def summary(self) -> str:
        if self.approval:
            data = self.approval["data"]
            return (f"approved by {data['by']} at {data['at']} (ledger #{self.approval['seq']}, "
                    f"expires {data['expires_at']}): {data['reason']}")
        return "; ".join(self.refusals) or f"no approval of version {self.version}"


def _approval_refusal(entry: dict, registered: dict, spec: SignoffSpec,
                      moment: datetime) -> str | None:
    data, where = entry["data"], f"approval #{entry['seq']} by {entry['data']['by']}"
    if data["evidence_hash"] != evidence_hash(registered):
        return (f"{where} approved evidence {data['evidence_hash'][:12]}…, not this version's "
                f"{evidence_hash(registered)[:12]}…")
    if datetime.fromisoformat(data["expires_at"]) <= moment:
        return (f"{where} expired at {data['expires_at']} "
                f"(signoff.approval_expiry_days: {spec.approval_expiry_days})")
    refusal = (_role_refusal(data["by"], spec.approvers, "approver", "approvers")
               or _duty_refusal(data["by"], registered, spec))
    return f"{where}: {refusal}" if refusal else None


def approval_standing(root: RegistryPath, version: str, spec: SignoffSpec,
                      now: datetime | None = None) -> ApprovalStanding:
    """The newest approval of this version that still counts, with every reason others don't."""
    registered = _registered(root, version)
    moment = now or datetime.now(timezone.utc)
    refusals: list[str] = []
    bad = tampered_files(root, registered)
    if bad:
        return ApprovalStanding(version, None, (f"version {version}: {'; '.join(bad)}",))
    signs = [e for e in ledger.entries(root, ("approval", "rejection"))
             if e["data"]["version"] == version]
    rolled_back = _last_rollback_from(root, version)
    for entry in reversed(signs):
        if rolled_back and entry["seq"] < rolled_back["seq"]:
            refusals.append(f"approval #{entry['seq']} predates the rollback away from "
                            f"{version} (ledger #{rolled_back['seq']}): approve it again")
            break
        if entry["kind"] == "rejection":
            refusals.append(f"rejected by {entry['data']['by']} at {entry['data']['at']} "
                            f"(ledger #{entry['seq']}): {entry['data']['reason']}")
            break
        refusal = _approval_refusal(entry, registered, spec, moment)
        if refusal is None:
            return ApprovalStanding(version, entry, tuple(refusals))
        refusals.append(refusal)
    if not signs:
        refusals.append(f"no approval of version {version} in the ledger; a reviewer runs "
                        f"`governance approve {version} --by NAME --reason ...`")
    return ApprovalStanding(version, None, tuple(refusals))


def _last_rollback_from(root: RegistryPath, version: str) -> dict | None:
    """A rollback away from a version voids the approvals given before it."""
    moves = [m for m in registry.alias_history(root) if m["data"].get("rolled_back") == version]
    return moves[-1] if moves else None


def passed_gates(registered: dict) -> bool:
    return registered["data"].get("decision") == "promote"


def promote_to_production(root: RegistryPath, version: str, spec: SignoffSpec,
                          by: str | None = None, run_id: str | None = None,
                          now: datetime | None = None) -> dict:
    """Move `production` to a version that passed its gates and holds a valid approval."""
    by = by or ledger.identity()["name"]
    registered = _registered(root, version)
    if not passed_gates(registered):
        raise SignoffError(f"version {version} did not pass its gates (decision "
                           f"{registered['data'].get('decision')!r}); it cannot go to production")
    refusal = _role_refusal(by, spec.promoters, "promoter", "promoters")
    if refusal:
        raise SignoffError(f"production promotion of {version} refused: {refusal}")
    with ledger.registry_lock(root):
        standing = approval_standing(root, version, spec, now)
        if not standing.valid:
            raise SignoffError(f"production promotion of {version} refused: "
                               f"{standing.summary()}")
        if registry.get_alias(root, PRODUCTION) == version:
            return registry.alias_entry(root, PRODUCTION)
        approval = standing.approval
        return registry.set_alias_locked(
            root, PRODUCTION, version, f"approved by {approval['data']['by']}",
            move="promotion", by=by, run_id=run_id,
            approval={"seq": approval["seq"], "hash": approval["hash"],
                      "by": approval["data"]["by"]},
            evidence_hash=approval["data"]["evidence_hash"])


def _was_approved(root: RegistryPath, version: str) -> bool:
    """An approval of the version's evidence that no later rejection voided (expiry aside:
    it was valid when production moved, and a rollback must not wait for a reviewer)."""
    registered = registry.registration(root, version)
    if registered is None or not passed_gates(registered) or tampered_files(root, registered):
        return False
    signs = [e for e in ledger.entries(root, ("approval", "rejection"))
             if e["data"]["version"] == version]
    if not signs or signs[-1]["kind"] != "approval":
        return False
    return signs[-1]["data"]["evidence_hash"] == evidence_hash(registered)


def rollback_target(root: RegistryPath, alias: str = PRODUCTION) -> str | None:
    """The newest earlier holder of the alias that passed its gates and stays approved; a
    version rolled back from is never a target again."""
    moves = registry.alias_history(root, alias)
    current = registry.get_alias(root, alias)
    abandoned = {m["data"].get("rolled_back") for m in moves} | {current}
    for move in reversed(moves):
        version = move["data"]["version"]
        if version not in abandoned and _was_approved(root, version):
            return version
    return None


def rollback(root: RegistryPath, alias: str = PRODUCTION, by: str | None = None,
             reason: str = "rollback") -> dict:
    """Move the alias back to its previous approved version (what a monitoring sensor calls)."""
    by = by or ledger.identity()["name"]
    with ledger.registry_lock(root):
        current = registry.get_alias(root, alias)
        target = rollback_target(root, alias)
        if target is None:
            raise SignoffError(f"nothing to roll {alias!r} back to: no earlier version of it "
                               "passed its gates and stays approved")
        return registry.set_alias_locked(root, alias, target, reason, move="rollback", by=by,
                                         rolled_back=current)
