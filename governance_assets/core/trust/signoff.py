"""Human sign-off bound to evidence and signed by real keys; production promotion and rollback.

An approval names a registry version and the hash of its evidence (every file the ledger
recorded for it: the model, the judged reports and the pages rendered from them) and is an
SSH signature (core/trust/signatures.py) by a key the allowed-signers file gives to a principal
with the approver role (core/trust/authority.py). It counts
only while that evidence is still what the registry holds, it has not expired, no later signed
rejection voids it, and (with separation of duties) its principal did not sign the run that
registered the version. Production moves on a signed promotion request by a promoter, citing
both; a rollback is signed by a promoter or, from monitoring, by the pipeline key. A typed name
(`GOVERNANCE_USER`, an OS account) grants nothing anywhere here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ..files import sha256_of_file
from ..params import SignoffSpec
from ..record import ledger, registry
from ..record.storage import RegistryPath
from .authority import AllowedSigners, AuthorityError, signed_by, with_role
from .signatures import Signer, pipeline_signer

PRODUCTION = "production"
REQUEST_VALID_FOR = timedelta(hours=1)


class SignoffError(RuntimeError):
    """An approval, promotion or rollback was refused; the message says why."""


@dataclass(frozen=True)
class Trust:
    """The rules and the keys: params' sign-off section and the allowed-signers file it names."""

    spec: SignoffSpec
    signers: AllowedSigners

    @classmethod
    def of(cls, project: Path, spec: SignoffSpec) -> Trust:
        try:
            return cls(spec, AllowedSigners.load(project / spec.allowed_signers))
        except AuthorityError as error:
            raise SignoffError(str(error)) from error

    @property
    def promoters(self) -> list[str]:
        return self.spec.promoters or self.spec.approvers

    def pipeline_signed(self, entry: dict) -> str | None:
        """The pipeline principal that signed this entry, if one did."""
        return with_role(entry, self.signers, self.spec.pipeline_signers)


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


def run_signature(registered: dict, trust: Trust) -> str:
    """Who signed the run that registered a version, in words the card and CLI print."""
    principal = trust.pipeline_signed(registered)
    if principal:
        return f"signed by the pipeline key of {principal}"
    if registered.get("signer"):
        return "signed by a key that is not a pipeline signer (signoff.pipeline_signers)"
    return "unsigned local run (no GOVERNANCE_SIGNING_KEY)"


def _acting_principal(signer: Signer, trust: Trust, role: list[str], name: str, key: str,
                      moment: datetime) -> str:
    """The principal a key acts as for a role, or the refusal naming key, file and role."""
    principals = trust.signers.principals(signer.fingerprint, moment)
    if not principals:
        raise SignoffError(f"the key {signer.key} ({signer.fingerprint}) is not in "
                           f"{trust.signers.path} for namespace governance: it grants nothing")
    holder = next((p for p in principals if p in role), None)
    if holder is None:
        raise SignoffError(f"{', '.join(principals)} (key {signer.fingerprint}) does not have "
                           f"the {name} role (signoff.{key}: {role or 'empty'})")
    return holder


def _duty_refusal(principal: str, registered: dict, trust: Trust) -> str | None:
    if trust.spec.separation_of_duties and principal in signed_by(registered, trust.signers):
        return (f"{principal} signed the run that produced version "
                f"{registered['data']['version']}; separation of duties "
                "(signoff.separation_of_duties) needs another reviewer")
    return None


def _run_refusal(registered: dict, trust: Trust) -> str | None:
    if trust.spec.require_signed_run and not trust.pipeline_signed(registered):
        return (f"version {registered['data']['version']} comes from an "
                f"{run_signature(registered, trust)}; signoff.require_signed_run needs a run "
                "signed by a pipeline key (GOVERNANCE_SIGNING_KEY of a principal in "
                "signoff.pipeline_signers; `governance keys init` makes a demo one)")
    return None


def _sign(root: RegistryPath, kind: str, version: str, signer: Signer, reason: str,
          trust: Trust, now: datetime | None) -> dict:
    if not reason.strip():
        raise SignoffError(f"{kind} of {version} refused: give a reason (--reason)")
    registered = _registered(root, version)
    moment = now or datetime.now(timezone.utc)
    principal = _acting_principal(signer, trust, trust.spec.approvers, "approver",
                                  "approvers", moment)
    refusal = _duty_refusal(principal, registered, trust)
    if refusal:
        raise SignoffError(f"{kind} of {version} refused: {refusal}")
    bad = tampered_files(root, registered)
    if bad:
        raise SignoffError(f"{kind} of {version} refused: its files are not the registered "
                           f"evidence ({'; '.join(bad)})")
    data = {"version": version, "evidence_hash": evidence_hash(registered), "by": principal,
            "reason": reason, "at": moment.isoformat(timespec="seconds")}
    if kind == "approval":
        data["expires_at"] = (moment + timedelta(days=trust.spec.approval_expiry_days)
                              ).isoformat(timespec="seconds")
    return ledger.append(root, kind, data, signer)


def approve(root: RegistryPath, version: str, signer: Signer, reason: str, trust: Trust,
            now: datetime | None = None) -> dict:
    """Record a signed approval of this version's exact evidence, or refuse with the reason."""
    return _sign(root, "approval", version, signer, reason, trust, now)


def reject(root: RegistryPath, version: str, signer: Signer, reason: str, trust: Trust,
           now: datetime | None = None) -> dict:
    """Record a signed rejection; it voids every earlier approval of the version."""
    return _sign(root, "rejection", version, signer, reason, trust, now)


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
            return (f"approved by {data['by']} at {data['at']} (signed, ledger "
                    f"#{self.approval['seq']}, expires {data['expires_at']}): {data['reason']}")
        return "; ".join(self.refusals) or f"no approval of version {self.version}"


def _approval_refusal(entry: dict, registered: dict, trust: Trust,
                      moment: datetime) -> str | None:
    data, where = entry["data"], f"approval #{entry['seq']} by {entry['data']['by']}"
    principal = with_role(entry, trust.signers, trust.spec.approvers)
    if principal is None or principal != data["by"]:
        return (f"{where} is not signed by a key that {trust.signers.path} gives to an "
                f"approver (signoff.approvers: {trust.spec.approvers}): a typed name grants "
                "nothing")
    if data["evidence_hash"] != evidence_hash(registered):
        return (f"{where} approved evidence {data['evidence_hash'][:12]}…, not this version's "
                f"{evidence_hash(registered)[:12]}…")
    if datetime.fromisoformat(data["expires_at"]) <= moment:
        return (f"{where} expired at {data['expires_at']} "
                f"(signoff.approval_expiry_days: {trust.spec.approval_expiry_days})")
    refusal = _duty_refusal(principal, registered, trust)
    return f"{where}: {refusal}" if refusal else None


def _signs(root: RegistryPath, version: str) -> list[dict]:
    return [e for e in ledger.entries(root, ("approval", "rejection"))
            if e["data"]["version"] == version]


def approval_standing(root: RegistryPath, version: str, trust: Trust,
                      now: datetime | None = None) -> ApprovalStanding:
    """The newest approval of this version that still counts, with every reason others don't."""
    registered = _registered(root, version)
    moment = now or datetime.now(timezone.utc)
    bad = tampered_files(root, registered)
    if bad:
        return ApprovalStanding(version, None, (f"version {version}: {'; '.join(bad)}",))
    run = _run_refusal(registered, trust)
    if run:
        return ApprovalStanding(version, None, (run,))
    refusals: list[str] = []
    signs = _signs(root, version)
    rolled_back = _last_rollback_from(root, version)
    for entry in reversed(signs):
        if rolled_back and entry["seq"] < rolled_back["seq"]:
            refusals.append(f"approval #{entry['seq']} predates the rollback away from "
                            f"{version} (ledger #{rolled_back['seq']}): approve it again")
            break
        if entry["kind"] == "rejection":
            if with_role(entry, trust.signers, trust.spec.approvers):
                refusals.append(f"rejected by {entry['data']['by']} at {entry['data']['at']} "
                                f"(ledger #{entry['seq']}): {entry['data']['reason']}")
                break
            refusals.append(f"rejection #{entry['seq']} is not signed by an approver's key: "
                            "ignored")
            continue
        refusal = _approval_refusal(entry, registered, trust, moment)
        if refusal is None:
            return ApprovalStanding(version, entry, tuple(refusals))
        refusals.append(refusal)
    if not signs:
        refusals.append(f"no approval of version {version} in the ledger; a reviewer runs "
                        f"`governance approve {version} --key KEY --reason ...`")
    return ApprovalStanding(version, None, tuple(refusals))


def _last_rollback_from(root: RegistryPath, version: str) -> dict | None:
    """A rollback away from a version voids the approvals given before it."""
    moves = [m for m in registry.alias_history(root) if m["data"].get("rolled_back") == version]
    return moves[-1] if moves else None


def passed_gates(registered: dict) -> bool:
    return registered["data"].get("decision") == "promote"


def request_promotion(root: RegistryPath, version: str, signer: Signer, trust: Trust,
                      now: datetime | None = None) -> dict:
    """A promoter's signed request to move production to this version's exact evidence; the
    production asset acts on it (whichever driver launches the asset)."""
    registered = _registered(root, version)
    moment = now or datetime.now(timezone.utc)
    principal = _acting_principal(signer, trust, trust.promoters, "promoter", "promoters",
                                  moment)
    return ledger.append(root, "promotion_request", {
        "version": version, "evidence_hash": evidence_hash(registered), "by": principal,
        "at": moment.isoformat(timespec="seconds"),
        "expires_at": (moment + REQUEST_VALID_FOR).isoformat(timespec="seconds")}, signer)


def _used_requests(root: RegistryPath) -> set[int]:
    return {m["data"]["request"]["seq"] for m in registry.alias_history(root, PRODUCTION)
            if isinstance(m["data"].get("request"), dict)}


def _open_request(root: RegistryPath, registered: dict, trust: Trust,
                  moment: datetime) -> dict:
    """The newest unused, unexpired promotion request for this evidence signed by a promoter."""
    version, used = registered["data"]["version"], _used_requests(root)
    for entry in reversed(ledger.entries(root, ("promotion_request",))):
        data = entry["data"]
        if (data["version"] == version and entry["seq"] not in used
                and data["evidence_hash"] == evidence_hash(registered)
                and datetime.fromisoformat(data["expires_at"]) > moment
                and with_role(entry, trust.signers, trust.promoters) == data["by"]):
            return entry
    raise SignoffError(f"no signed promotion request for version {version}: a promoter "
                       f"(signoff.promoters, else approvers: {trust.promoters}) runs "
                       "`governance promote-production --key KEY` (a request counts for "
                       f"{REQUEST_VALID_FOR.seconds // 60} minutes, once)")


def promote_to_production(root: RegistryPath, version: str, trust: Trust,
                          run_id: str | None = None, now: datetime | None = None) -> dict:
    """Move `production` to a version that passed its gates, holds a valid approval and a
    promoter's signed request; the move cites both."""
    registered = _registered(root, version)
    if not passed_gates(registered):
        raise SignoffError(f"version {version} did not pass its gates (decision "
                           f"{registered['data'].get('decision')!r}); it cannot go to production")
    moment = now or datetime.now(timezone.utc)
    with ledger.registry_lock(root):
        standing = approval_standing(root, version, trust, moment)
        if not standing.valid:
            raise SignoffError(f"production promotion of {version} refused: "
                               f"{standing.summary()}")
        if registry.get_alias(root, PRODUCTION) == version:
            return registry.alias_entry(root, PRODUCTION)
        request, approval = _open_request(root, registered, trust, moment), standing.approval
        return registry.set_alias_locked(
            root, PRODUCTION, version, f"approved by {approval['data']['by']}, promoted by "
            f"{request['data']['by']}", move="promotion", by=request["data"]["by"],
            run_id=run_id, approval=cite(approval), request=cite(request),
            evidence_hash=approval["data"]["evidence_hash"])


def cite(entry: dict) -> dict:
    """How a move names the entry it rests on."""
    return {"seq": entry["seq"], "hash": entry["hash"], "by": entry["data"]["by"]}


def _was_approved(root: RegistryPath, version: str, trust: Trust) -> bool:
    """A signed approval of the version's evidence that no later signed rejection voided
    (expiry aside: it was valid when production moved, and a rollback must not wait)."""
    registered = registry.registration(root, version)
    if registered is None or not passed_gates(registered) or tampered_files(root, registered):
        return False
    signs = [e for e in _signs(root, version)
             if with_role(e, trust.signers, trust.spec.approvers) == e["data"]["by"]]
    if not signs or signs[-1]["kind"] != "approval":
        return False
    return signs[-1]["data"]["evidence_hash"] == evidence_hash(registered)


def rollback_target(root: RegistryPath, trust: Trust, alias: str = PRODUCTION) -> str | None:
    """The newest earlier holder of the alias that passed its gates and stays approved; a
    version rolled back from is never a target again."""
    moves = registry.alias_history(root, alias)
    current = registry.get_alias(root, alias)
    abandoned = {m["data"].get("rolled_back") for m in moves} | {current}
    for move in reversed(moves):
        version = move["data"]["version"]
        if version not in abandoned and _was_approved(root, version, trust):
            return version
    return None


def rollback(root: RegistryPath, trust: Trust, signer: Signer | None, reason: str,
             alias: str = PRODUCTION, monitoring: bool = False) -> dict:
    """Move the alias back to its previous approved version, signed by a promoter's key or
    (monitoring) by the pipeline key; the entry names who and why."""
    moment = datetime.now(timezone.utc)
    if monitoring:
        signer = signer or pipeline_signer()
        by = _monitoring_principal(signer, trust, moment)
    elif signer is None:
        raise SignoffError("a rollback is signed: give the promoter's key (--key)")
    else:
        by = _acting_principal(signer, trust, trust.promoters, "promoter", "promoters", moment)
    with ledger.registry_lock(root):
        current = registry.get_alias(root, alias)
        target = rollback_target(root, trust, alias)
        if target is None:
            raise SignoffError(f"nothing to roll {alias!r} back to: no earlier version of it "
                               "passed its gates and stays approved")
        return registry.set_alias_locked(root, alias, target, reason, signer=signer,
                                         move="rollback", by=by, rolled_back=current)


def _monitoring_principal(signer: Signer | None, trust: Trust, moment: datetime) -> str:
    if signer is None:
        if trust.spec.require_signed_run:
            raise SignoffError("monitoring cannot roll back production without the pipeline "
                               "key (GOVERNANCE_SIGNING_KEY): signoff.require_signed_run")
        return "monitoring (unsigned local run)"
    return _acting_principal(signer, trust, trust.spec.pipeline_signers, "pipeline",
                             "pipeline_signers", moment)


def _cited(root: RegistryPath, citation: object, kind: str) -> dict | None:
    if not isinstance(citation, dict):
        return None
    found = [e for e in ledger.entries(root, (kind,)) if e["seq"] == citation.get("seq")]
    return found[0] if found and found[0]["hash"] == citation.get("hash") else None


def move_problem(root: RegistryPath, move: dict, trust: Trust) -> str | None:
    """Why a production alias entry does not stand on signed grounds (None: it does)."""
    data = move["data"]
    if data.get("move") == "promotion":
        approval = _cited(root, data.get("approval"), "approval")
        request = _cited(root, data.get("request"), "promotion_request")
        if approval is None or approval["data"]["version"] != data["version"] or \
                with_role(approval, trust.signers, trust.spec.approvers) is None:
            return "it cites no approval of that version signed by an approver's key"
        if request is None or request["data"]["version"] != data["version"] or \
                with_role(request, trust.signers, trust.promoters) is None:
            return "it cites no promotion request signed by a promoter's key"
        return None
    if data.get("move") == "rollback":
        signer_roles = trust.promoters + trust.spec.pipeline_signers
        if with_role(move, trust.signers, signer_roles):
            return None
        if move.get("signer") is None and not trust.spec.require_signed_run:
            return None
        return "the rollback is not signed by a promoter's or the pipeline's key"
    return f"its move {data.get('move')!r} is neither a signed promotion nor a rollback"


def production_version(root: RegistryPath, trust: Callable[[], Trust]) -> str | None:
    """The version production points at, only if that move stands on signed grounds: what
    scores batches and what a candidate is compared with is never a forged alias line.
    `trust` is asked for only when production points somewhere."""
    move = registry.alias_entry(root, PRODUCTION)
    if move is None:
        return None
    problem = move_problem(root, move, trust())
    if problem:
        raise SignoffError(f"`production` points at {move['data']['version']} (ledger "
                           f"#{move['seq']}), but {problem}: it is not acted on")
    return move["data"]["version"]
