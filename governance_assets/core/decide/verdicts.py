"""What a valid verdict is: a gate's outcome bound to the exact inputs it judged.

A verdict is recorded under its fingerprint: the hash of the params values the gate read, the
data version and candidate sha256 its evidence was computed on, the code version and the sha256
of the evidence file itself. The guard, the card and the CLI recompute the fingerprint from the
files as they are now and count only the verdict recorded under exactly that fingerprint. Any
other verdict of the gate is STALE: shown with what changed, never counted. The store lives in
the registry folder (history, not a DVC out), so DVC never deletes it and a policy reverted to
one judged before finds its verdict again without re-running anything.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from functools import cache
from pathlib import Path

from ..files import md5_of_file, read_json, sha256_of_file, write_json_atomic
from ..layout import Layout
from ..params import Params, hash_values
from ..record import ledger
from ..record.registry import get_alias
from ..trust import signatures, signoff
from .blocking import blocks_promotion
from .gate_catalog import GATES, GateSpec

CURRENT, STALE, NOT_EVALUATED = "current", "stale", "not evaluated"
PACKAGE = Path(__file__).resolve().parents[2]


@cache
def code_version() -> str:
    """Hash of the package's source and schemas: the code every verdict was computed by."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*")):
        if path.suffix in (".py", ".json") and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(PACKAGE)).encode())
            digest.update(sha256_of_file(path).encode())
    return digest.hexdigest()[:16]


class IntegrityError(RuntimeError):
    """A file's bytes are not the bytes recorded for it; the message names file and hashes."""


@dataclass(frozen=True)
class Fingerprint:
    policy_hash: str
    data_version: str | None
    candidate_sha256: str | None
    code_version: str
    evidence_sha256: str | None

    @property
    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:24]

    def to_dict(self) -> dict:
        return asdict(self)


def evidence_sha256(layout: Layout, gate: GateSpec) -> str | None:
    """One hash for the gate's evidence files; None for a volatile gate or missing evidence."""
    if gate.volatile:
        return None
    paths = [layout.root / relative for relative in gate.evidence]
    if not all(path.is_file() for path in paths):
        return None
    return combined_sha256({path.name: sha256_of_file(path) for path in paths})


def combined_sha256(hashes: dict[str, str]) -> str:
    """The evidence hash of files by name: a lone file's own sha256, else a hash of them all
    in the gate's order (so a registered copy can be checked against a verdict file by file)."""
    if len(hashes) == 1:
        return next(iter(hashes.values()))
    digest = hashlib.sha256()
    for name, sha256 in hashes.items():
        digest.update(name.encode() + sha256.encode())
    return digest.hexdigest()


def binding_source(gate: GateSpec) -> str:
    """The JSON file that records which data and candidate the evidence was computed on."""
    first = gate.evidence[0]
    return first if first.endswith(".json") else "reports/splits.json"


def read_binding(layout: Layout, gate: GateSpec) -> dict:
    path = layout.root / binding_source(gate)
    return read_json(path).get("binding", {}) if path.is_file() else {}


def bound_values(params: Params, layout: Layout, gate: GateSpec) -> dict[str, object]:
    """The params values (and registry state) the gate's verdict depends on."""
    values = params.values_at(gate.keys)
    if gate.reads_production_alias:
        values["registry.production"] = get_alias(layout.registry, "production")
    return values


def judged_fingerprint(params: Params, layout: Layout, gate: GateSpec) -> Fingerprint:
    """What a check is judging: the inputs its evidence says it was computed on."""
    binding = read_binding(layout, gate)
    return Fingerprint(hash_values(bound_values(params, layout, gate)),
                       binding.get("data_version"),
                       binding.get("candidate_sha256") if gate.needs_candidate else None,
                       code_version(), evidence_sha256(layout, gate))


def validation_inputs_hash(params: Params) -> str:
    """Everything a validation verdict depends on besides the raw bytes: rules, spec, code."""
    keys = tuple(dict.fromkeys(k for gate in GATES if gate.asset == "validated_dataset"
                               for k in gate.keys))
    return hash_values({**params.values_at(keys), "code_version": code_version()})


def data_version(params: Params, layout: Layout) -> str:
    """The active raw file's md5: the same hash DVC records for it in dvc.lock."""
    return md5_of_file(layout.root / params.active.path)


def validation_binding(params: Params, layout: Layout) -> dict[str, str]:
    """What a validation record is bound to: the raw bytes, and its rules, spec and code."""
    return {"data_version": data_version(params, layout),
            "validation_inputs": validation_inputs_hash(params)}


def verified_candidate(layout: Layout) -> tuple[bytes, str]:
    """The candidate's bytes, read once, and their sha256, only if it is the one recorded when
    it was trained. Whoever loads the model loads these bytes: nothing is read again between
    the check and the load, so a file swapped after training is never loaded, never promoted.
    """
    if not layout.model.is_file() or not layout.model_meta.is_file():
        raise IntegrityError(f"{layout.relative(layout.model)} or "
                             f"{layout.relative(layout.model_meta)} is missing: train first")
    recorded = read_json(layout.model_meta)["sha256"]
    data = layout.model.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != recorded:
        raise IntegrityError(
            f"{layout.relative(layout.model)}: sha256 {actual[:12]}… does not match "
            f"{recorded[:12]}… recorded at training in {layout.relative(layout.model_meta)}; "
            "refusing to load or promote it (re-run training to replace it)")
    return data, actual


def candidate_sha256(layout: Layout) -> str:
    """The candidate's sha256, only if it equals the one recorded when it was trained."""
    return verified_candidate(layout)[1]


def current_fingerprint(params: Params, layout: Layout, gate: GateSpec,
                        candidate: str | None) -> Fingerprint:
    """The fingerprint a verdict must have to count now, from the files as they are."""
    return Fingerprint(hash_values(bound_values(params, layout, gate)),
                       data_version(params, layout),
                       candidate if gate.needs_candidate else None,
                       code_version(), evidence_sha256(layout, gate))


class VerdictStore:
    """registry/verdicts/<gate>/<fingerprint key>.json, plus latest.json for the STALE view."""

    def __init__(self, layout: Layout, signed_by: Callable[[dict], str | None] | None = None):
        """`signed_by`: in a signed run, why a verdict entry is not the pipeline's (None: it
        is); the guard of a signed run acts only on verdicts a pipeline key signed."""
        self.root = layout.registry / "verdicts"
        self.signed_by = signed_by

    def record(self, gate: str, verdict: dict, fingerprint: Fingerprint,
               values: dict[str, object], run_id: str | None) -> dict:
        """The verdict file, then its ledger entry carrying the file's sha256: the guard acts
        on a file only while it is byte-for-byte the one the (signed) ledger entry names."""
        entry = {"gate": gate, "verdict": verdict, "fingerprint": fingerprint.to_dict(),
                 "fingerprint_key": fingerprint.key, "bound_values": values,
                 "run_id": run_id,
                 "judged_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        path = self.root / gate / f"{fingerprint.key}.json"
        write_json_atomic(path, entry)
        write_json_atomic(self.root / gate / "latest.json", entry)
        ledger.append(self.root.parent, "verdict", {
            "gate": gate, "outcome": verdict.get("outcome"), "value": verdict.get("value"),
            "threshold": verdict.get("threshold"), "fingerprint": fingerprint.key,
            "record_sha256": sha256_of_file(path), "run_id": run_id})
        return entry

    def lookup(self, gate: str, fingerprint: Fingerprint) -> tuple[dict | None, str]:
        """The verdict recorded under this fingerprint, or None and why it does not count."""
        path = self.root / gate / f"{fingerprint.key}.json"
        if not path.is_file():
            return None, ""
        entry = ledger.last_entry(self.root.parent, "verdict", gate=gate,
                                  fingerprint=fingerprint.key)
        if entry is None or entry["data"].get("record_sha256") is None:
            return None, (f"verdict file {layout_name(path)} has no ledger entry naming its "
                          "sha256: never acted on")
        if sha256_of_file(path) != entry["data"]["record_sha256"]:
            return None, (f"verdict file {layout_name(path)} is not the one ledger "
                          f"#{entry['seq']} recorded (edited after the gate ran): ignored")
        if self.signed_by is not None:
            refusal = self.signed_by(entry)
            if refusal:
                return None, f"verdict of ledger #{entry['seq']}: {refusal}"
        return read_json(path), ""

    def latest(self, gate: str) -> dict | None:
        path = self.root / gate / "latest.json"
        return read_json(path) if path.is_file() else None


def layout_name(path: Path) -> str:
    return "/".join(path.parts[-4:])


@dataclass(frozen=True)
class Standing:
    """A gate as the guard sees it now: a current verdict, a stale one, or none."""

    gate: GateSpec
    state: str
    record: dict | None
    fingerprint: Fingerprint | None
    reason: str

    @property
    def verdict(self) -> dict | None:
        return self.record["verdict"] if self.record else None

    @property
    def outcome(self) -> str | None:
        return self.verdict["outcome"] if self.state == CURRENT and self.verdict else None

    @property
    def label(self) -> str:
        if self.state != CURRENT:
            return self.state.upper()
        return self.outcome.upper()

    @property
    def blocks(self) -> bool:
        """Whether the gate holds promotion back now (core.decide.blocking decides)."""
        recorded = bool(self.verdict and self.verdict["blocking"])
        return blocks_promotion(self.gate, self.outcome, recorded)

    def to_dict(self) -> dict:
        verdict = self.verdict or {}
        return {"name": self.gate.name, "asset": self.gate.asset, "stage": self.gate.stage,
                "verdict": self.label, "state": self.state, "outcome": self.outcome,
                "value": verdict.get("value") if self.state == CURRENT else None,
                "threshold": verdict.get("threshold"), "comparison": verdict.get("comparison"),
                "blocking": self.gate.blocking, "blocks_promotion": self.blocks,
                "message": verdict.get("message") if self.state == CURRENT else self.reason,
                "evidence": list(self.gate.evidence),
                "fingerprint": self.fingerprint.to_dict() if self.fingerprint else None,
                "judged_in_run": self.record.get("run_id") if self.record else None}


def _what_changed(key: str, old: object, new: object) -> str:
    """One params key's change, short: a block (a whole dataset) names the keys that differ
    instead of printing both blocks."""
    if isinstance(old, dict) and isinstance(new, dict):
        differ = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        return f"{key} changed in {', '.join(differ)}"
    shown = [repr(v) if len(repr(v)) <= 60 else repr(v)[:57] + "..." for v in (old, new)]
    return f"{key} was {shown[0]}, now {shown[1]}"


def _why_stale(latest: dict, now: Fingerprint, values: dict[str, object]) -> str:
    """Name what changed since the latest verdict, so a reader knows what to re-run."""
    then = latest["fingerprint"]
    changes = [_what_changed(key, old, values.get(key))
               for key, old in latest["bound_values"].items() if values.get(key) != old]
    labels = {"data_version": "data", "candidate_sha256": "candidate",
              "code_version": "code", "evidence_sha256": "evidence file"}
    for field, label in labels.items():
        if then[field] != getattr(now, field):
            changes.append(f"{label} changed ({str(then[field])[:10]} -> "
                           f"{str(getattr(now, field))[:10]})")
    outcome = latest["verdict"]["outcome"].upper()
    return (f"last verdict ({outcome}) judged other inputs: "
            + ("; ".join(changes) or "inputs differ"))


def standing(params: Params, layout: Layout, gate: GateSpec, candidate: str | None,
             candidate_problem: str | None, store: VerdictStore) -> Standing:
    if gate.needs_candidate and candidate is None:
        return Standing(gate, NOT_EVALUATED, store.latest(gate.name), None,
                        candidate_problem or "no candidate model")
    now = current_fingerprint(params, layout, gate, candidate)
    found, problem = store.lookup(gate.name, now)
    if found is not None:
        return Standing(gate, CURRENT, found, now, "")
    latest = store.latest(gate.name)
    if problem:
        return Standing(gate, NOT_EVALUATED, latest, now, problem)
    if latest is None:
        return Standing(gate, NOT_EVALUATED, None, now, "never evaluated")
    if now.evidence_sha256 is None and not gate.volatile:
        return Standing(gate, NOT_EVALUATED, latest, now,
                        f"evidence {', '.join(gate.evidence)} is missing")
    return Standing(gate, STALE, latest, now,
                    _why_stale(latest, now, bound_values(params, layout, gate)))


def standings(params: Params, layout: Layout, gates: tuple[GateSpec, ...] = GATES
              ) -> list[Standing]:
    """Every gate's standing against the files as they are now; a run signed by a pipeline
    key counts only verdicts a pipeline key signed."""
    store = VerdictStore(layout, _pipeline_check(params, layout))
    try:
        candidate, problem = candidate_sha256(layout), None
    except IntegrityError as error:
        candidate, problem = None, str(error)
    return [standing(params, layout, gate, candidate, problem, store) for gate in gates]


def _pipeline_check(params: Params, layout: Layout) -> Callable[[dict], str | None] | None:
    if signatures.pipeline_signer() is None:
        return None
    trust = signoff.Trust.of(layout.root, params.signoff)

    def refusal(entry: dict) -> str | None:
        if trust.pipeline_signed(entry):
            return None
        return ("not signed by a pipeline key (signoff.pipeline_signers), although this run "
                "is signed: ignored")
    return refusal


def refusals(items: list[Standing]) -> list[str]:
    """Why promotion must be refused: one line per blocking gate without a current PASS."""
    lines = []
    for item in items:
        if item.blocks:
            detail = item.verdict["message"] if item.state == CURRENT else item.reason
            lines.append(f"{item.gate.name} on {item.gate.asset}: {item.label} - {detail}")
    return lines
