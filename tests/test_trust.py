"""Issue 20: the insider's attacks, each driven through the real CLI, the real Dagster graph
and real OpenSSH keys, and each refused or harmless.

The registry-level attacks run on a local registry folder (inside a git repository where the
witness matters); the verdict attacks on a real governed run of German credit, signed by the
pipeline key as CI would sign it.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import AssetSelection, DagsterInstance

from governance_assets.core.decide.verdicts import VerdictStore, current_fingerprint, standings
from governance_assets.core.files import read_json, write_json_atomic
from governance_assets.core.layout import Layout
from governance_assets.core.params import SignoffSpec, load_params
from governance_assets.core.record import audit, ledger, registry
from governance_assets.core.record.ledger import reading
from governance_assets.core.trust import signatures, signoff

from .conftest import check_results, make_project, materialized, run_graph, set_params
from .signing import PIPELINE, keys
from .test_ledger import register

__all__ = ["keys"]  # fixture, used by name

GOVERNANCE = [sys.executable, "-m", "governance_assets.cli"]
SPEC = SignoffSpec(approvers=["alice", "bob"], promoters=["dave"],
                   pipeline_signers=[PIPELINE], approval_expiry_days=30)
PROJECT_SIGNOFF = {"signoff__approvers": ["alice", "bob"], "signoff__promoters": ["dave"],
                   "signoff__pipeline_signers": [PIPELINE]}


def governance(root: Path, *args: str, env: dict | None = None, **options
               ) -> subprocess.CompletedProcess:
    """The real CLI in its own process, on the project at `root`."""
    return subprocess.run([*GOVERNANCE, "--root", str(root), *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=600, **options)


@pytest.fixture
def project(tmp_path, keys, monkeypatch):
    """A project in a git repository whose `staging` version a pipeline-signed run produced."""
    root = make_project(tmp_path / "project", **PROJECT_SIGNOFF)
    keys.install(root)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    monkeypatch.setenv(signatures.SIGNING_KEY_ENV, str(keys.path(PIPELINE)))
    reg = Layout(root).registry
    version = register(reg, tmp_path / "files", 1)
    registry.set_alias(reg, "staging", version, "gates passed")
    monkeypatch.delenv(signatures.SIGNING_KEY_ENV)
    return root, version


def trust_of(root: Path) -> signoff.Trust:
    return signoff.Trust.of(root, load_params(root).signoff)


def test_the_verifier_agrees_with_ssh_keygen_both_ways(keys, tmp_path):
    """In-process verification gives ssh-keygen's answer for both key types, either way."""
    for principal in ("alice", PIPELINE):
        message = b"ledger entry hash"
        armored = keys.signer(principal).sign(message)
        (tmp_path / "sig").write_text(armored)
        for content, valid in ((message, True), (b"ledger entry hasH", False)):
            checked = subprocess.run(
                ["ssh-keygen", "-Y", "verify", "-f", str(keys.allowed), "-I", principal,
                 "-n", signatures.NAMESPACE, "-s", str(tmp_path / "sig")],
                input=content, capture_output=True)
            assert (checked.returncode == 0) is valid, checked.stderr
            if valid:
                public = signatures.verify(content, armored)
                assert signatures.fingerprint(public) == keys.signer(principal).fingerprint
            else:
                with pytest.raises(signatures.SignatureError, match="does not match"):
                    signatures.verify(content, armored)
    with pytest.raises(signatures.SignatureError, match="namespace 'git'"):
        signatures.verify(message, keys.signer("alice").sign(message, namespace="git"))


def test_typed_names_and_unlisted_keys_grant_nothing(project, keys):
    root, version = project
    typed = governance(root, "approve", version, "--by", "alice", "--reason", "x")
    assert typed.returncode == 2 and "--key" in typed.stderr
    as_alice = governance(root, "approve", version, "--key", str(keys.path("mallory")),
                          "--reason", "x", env={ledger.USER_ENV: "alice"})
    assert as_alice.returncode == 1
    assert "is not in" in as_alice.stdout and "grants nothing" in as_alice.stdout
    no_role = governance(root, "approve", version, "--key", str(keys.path("carol")),
                         "--reason", "x")
    assert no_role.returncode == 1 and "carol" in no_role.stdout
    assert "approver role" in no_role.stdout
    rollback = governance(root, "rollback", "--key", str(keys.path("alice")), "--reason", "x")
    assert rollback.returncode == 1 and "promoter role" in rollback.stdout
    assert ledger.entries(Layout(root).registry, ("approval",)) == []


def test_the_run_signer_may_not_approve_its_own_candidate(project, keys):
    """Separation of duties compares signing principals: the pipeline principal is given the
    approver role here, and its approval of the run it signed is refused."""
    root, version = project
    set_params(root, signoff__approvers=["alice", PIPELINE])
    refused = governance(root, "approve", version, "--key", str(keys.path(PIPELINE)),
                         "--reason", "x")
    assert refused.returncode == 1 and "separation of duties" in refused.stdout


def test_a_signed_approval_and_request_move_production_end_to_end(project, keys):
    root, version = project
    reg = Layout(root).registry
    approved = governance(root, "approve", version, "--key", str(keys.path("alice")),
                          "--reason", "card and verdicts reviewed")
    assert approved.returncode == 0, approved.stdout
    assert f"by alice (key {keys.signer('alice').fingerprint})" in approved.stdout
    trust = trust_of(root)
    with pytest.raises(signoff.SignoffError, match="no signed promotion request"):
        signoff.promote_to_production(reg, version, trust)
    not_a_promoter = governance(root, "promote-production", "--key", str(keys.path("alice")))
    assert not_a_promoter.returncode == 1 and "promoter role" in not_a_promoter.stdout
    promoted = governance(root, "promote-production", "--key", str(keys.path("dave")))
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert "promotion request" in promoted.stdout and "by dave" in promoted.stdout
    move = registry.alias_entry(reg, "production")
    assert move["data"]["by"] == "dave" and move["data"]["approval"]["by"] == "alice"
    assert move["data"]["request"]["by"] == "dave"
    assert signoff.production_version(reg, lambda: trust) == version
    verified = governance(root, "verify")
    assert verified.returncode == 0, verified.stdout
    assert "TAMPERED" not in verified.stdout


def test_an_appended_unsigned_approval_counts_for_nothing(project, keys):
    """Without the HMAC key an insider can append a well-chained line; it carries no
    signature of an approver's key, so no reader acts on it."""
    root, version = project
    reg, trust = Layout(root).registry, trust_of(root)
    registered = registry.registration(reg, version)
    ledger.append(reg, "approval", {
        "version": version, "evidence_hash": signoff.evidence_hash(registered), "by": "alice",
        "reason": "forged", "at": "2026-12-04T00:00:00+00:00",
        "expires_at": "2099-01-01T00:00:00+00:00"})
    standing = signoff.approval_standing(reg, version, trust)
    assert not standing.valid and "a typed name grants nothing" in standing.summary()
    signoff.request_promotion(reg, version, keys.signer("dave"), trust)
    with pytest.raises(signoff.SignoffError, match="not signed by a key"):
        signoff.promote_to_production(reg, version, trust)
    listed = governance(root, "list")
    assert "approved by" not in listed.stdout


def test_a_forged_production_move_is_not_acted_on(project, keys):
    root, version = project
    reg, trust = Layout(root).registry, trust_of(root)
    registry.set_alias(reg, "production", version, "forged", move="promotion",
                       approval={"seq": 0, "hash": "0" * 64, "by": "alice"})
    with pytest.raises(signoff.SignoffError, match="cites no approval"):
        signoff.production_version(reg, lambda: trust)
    verified = governance(root, "verify")
    assert verified.returncode == 1 and "production move" in verified.stdout


def test_with_the_hmac_key_an_unkeyed_line_stops_every_reader(tmp_path, monkeypatch, keys):
    root = make_project(tmp_path / "project", **PROJECT_SIGNOFF)
    keys.install(root)
    reg = Layout(root).registry
    monkeypatch.setenv(ledger.KEY_ENV, "team secret")
    version = register(reg, tmp_path / "files", 1)
    registry.set_alias(reg, "staging", version, "gates passed")
    monkeypatch.delenv(ledger.KEY_ENV)
    reading.VERIFIED.clear()
    reading.INDEX_CACHE.clear()
    with pytest.raises(ledger.LedgerError, match="the ledger is HMAC-signed"):
        ledger.append(reg, "approval", {"version": version, "by": "alice"})
    lines = (reg / ledger.LEDGER_FILE).read_text().splitlines()
    last = json.loads(lines[-1])
    body = {"seq": last["seq"] + 1, "at": last["at"], "kind": "approval", "actor": {},
            "data": {"version": version, "by": "alice"}, "prev": last["hash"], "alg": "sha256"}
    forged = {**body, "hash": ledger.entry_hash(body, None)}
    (reg / ledger.LEDGER_FILE).write_text("\n".join([*lines, ledger.canonical(forged)]) + "\n")
    monkeypatch.setenv(ledger.KEY_ENV, "team secret")
    with pytest.raises(ledger.LedgerTampered, match="not HMAC-signed"):
        registry.get_alias(reg, "staging")
    listed = governance(root, "list", env={ledger.KEY_ENV: "team secret"})
    assert listed.returncode == 1 and "not HMAC-signed" in listed.stdout


def _rewrite(reg: Path, seq: int, change) -> None:
    lines = (reg / ledger.LEDGER_FILE).read_text().splitlines()
    entry = json.loads(lines[seq])
    change(entry)
    lines[seq] = ledger.canonical(entry)
    (reg / ledger.LEDGER_FILE).write_text("\n".join(lines) + "\n")


def test_an_edited_signed_entry_is_refused_on_read(project, keys):
    """Re-hashing an edited signed entry keeps the chain and the head, but not its signature:
    every reader refuses the ledger (skipping signature checks on read turns this red)."""
    root, version = project
    reg = Layout(root).registry
    approval = signoff.approve(reg, version, keys.signer("alice"), "reviewed", trust_of(root))

    def widen(entry: dict) -> None:
        entry["data"]["reason"] = "rubber stamp"
        body = {k: v for k, v in entry.items() if k not in ("hash", "sig")}
        entry["hash"] = ledger.entry_hash(body, None)

    _rewrite(reg, approval["seq"], widen)
    write_json_atomic(reg / ledger.HEAD_FILE,
                             {"seq": approval["seq"], "hash": json.loads(
                                 (reg / ledger.LEDGER_FILE).read_text().splitlines()[-1])["hash"]})
    subprocess.run(["git", "-C", str(root), "update-ref", "-d",
                    "refs/governance/ledger-head/registry"], check=True)
    with pytest.raises(ledger.LedgerTampered, match="signature does not verify"):
        signoff.approval_standing(reg, version, trust_of(root))
    assert governance(root, "list").returncode == 1


def test_an_entry_relinked_and_rehashed_is_caught_by_the_link_check(tmp_path):
    """An unsigned chain re-linked at one entry and re-hashed from there on, head file
    rewritten to match: only the previous-hash link check sees it."""
    reg = tmp_path / "registry"
    for number in range(6):
        ledger.append(reg, "verdict", {"gate": f"g{number}", "outcome": "pass"})
    lines = (reg / ledger.LEDGER_FILE).read_text().splitlines()
    previous = None
    for seq in range(2, len(lines)):
        entry = json.loads(lines[seq])
        entry["prev"] = "f" * 64 if seq == 2 else previous
        entry["hash"] = ledger.entry_hash({k: v for k, v in entry.items() if k != "hash"}, None)
        previous, lines[seq] = entry["hash"], ledger.canonical(entry)
    (reg / ledger.LEDGER_FILE).write_text("\n".join(lines) + "\n")
    write_json_atomic(reg / ledger.HEAD_FILE, {"seq": 5, "hash": previous})
    reading.VERIFIED.clear()
    report = audit.verify(reg)
    assert report.problems and "#2: its prev hash does not match" in report.problems[0]
    with pytest.raises(ledger.LedgerTampered, match="prev hash"):
        ledger.entries(reg, ("verdict",))


def test_a_registry_put_back_before_a_rejection_is_caught_by_the_witness(project, keys):
    root, version = project
    reg, trust = Layout(root).registry, trust_of(root)
    signoff.approve(reg, version, keys.signer("alice"), "looks fine", trust)
    saved = {name: (reg / name).read_bytes() for name in (ledger.LEDGER_FILE, ledger.HEAD_FILE)}
    signoff.reject(reg, version, keys.signer("bob"), "proxy for age found", trust)
    for name, data in saved.items():
        (reg / name).write_bytes(data)
    reading.VERIFIED.clear()
    with pytest.raises(ledger.LedgerTampered, match="older copy of the registry"):
        signoff.approval_standing(reg, version, trust)
    verified = governance(root, "verify")
    assert verified.returncode == 1 and "witness" in verified.stdout
    request = governance(root, "promote-production", "--key", str(keys.path("dave")))
    assert request.returncode == 1 and "older copy" in request.stdout


def test_a_lagging_head_is_repaired_by_the_next_writer(project, keys):
    """Head writes that failed after their entries were committed (a full disk) leave the
    head behind a verifying chain: the next writer repairs it, nobody calls it tampering."""
    root, version = project
    reg, trust = Layout(root).registry, trust_of(root)
    lagging = read_json(reg / ledger.HEAD_FILE)
    signoff.approve(reg, version, keys.signer("alice"), "first", trust)
    signoff.approve(reg, version, keys.signer("bob"), "second", trust)
    write_json_atomic(reg / ledger.HEAD_FILE, lagging)
    entry = signoff.reject(reg, version, keys.signer("bob"), "third thoughts", trust)
    assert read_json(reg / ledger.HEAD_FILE)["seq"] == entry["seq"]
    verified = governance(root, "verify")
    assert verified.returncode == 0, verified.stdout


def _file_size_limit(limit: int):
    """A real kernel limit on file size for the child (Python ignores SIGXFSZ, so a write
    past it fails with EFBIG): the ledger line cannot be written, as on a full disk."""
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_write_that_fails_commits_nothing_and_says_so_in_one_paragraph(project, keys):
    root, version = project
    reg = Layout(root).registry
    before = (reg / ledger.LEDGER_FILE).read_bytes()
    failed = governance(root, "approve", version, "--key", str(keys.path("alice")),
                        "--reason", "x", preexec_fn=_file_size_limit(len(before) + 10))
    assert failed.returncode == 4, failed.stdout + failed.stderr
    assert "nothing was committed" in failed.stdout and "Traceback" not in failed.stderr
    assert (reg / ledger.LEDGER_FILE).read_bytes() == before
    assert governance(root, "approve", version, "--key", str(keys.path("alice")),
                      "--reason", "x").returncode == 0
    assert governance(root, "verify").returncode == 0


# --- verdicts on a real governed run ----------------------------------------------------------

@pytest.fixture(scope="module")
def blocked_run(tmp_path_factory, keys):
    """A pipeline-signed run blocked by the DIR gate (min_disparate_impact 0.99)."""
    root = make_project(tmp_path_factory.mktemp("blocked") / "project",
                        policy__min_disparate_impact=0.99, **PROJECT_SIGNOFF)
    keys.install(root)
    previous = os.environ.get(signatures.SIGNING_KEY_ENV)
    os.environ[signatures.SIGNING_KEY_ENV] = str(keys.path(PIPELINE))
    try:
        with DagsterInstance.ephemeral() as instance:
            result = run_graph(root, instance)
    finally:
        os.environ.pop(signatures.SIGNING_KEY_ENV)
        if previous:
            os.environ[signatures.SIGNING_KEY_ENV] = previous
    assert check_results(result)["four_fifths_rule"].passed is False
    assert "staging_model" not in materialized(result)
    return root


@pytest.fixture
def blocked(blocked_run, tmp_path, keys, monkeypatch):
    root = tmp_path / "project"
    shutil.copytree(blocked_run, root)
    monkeypatch.setenv(signatures.SIGNING_KEY_ENV, str(keys.path(PIPELINE)))
    return root


def _stage_alone(root: Path):
    with DagsterInstance.ephemeral() as instance:
        return run_graph(root, instance, selection=AssetSelection.assets("staging_model"))


def test_an_edited_verdict_file_is_ignored_and_verify_names_it(blocked):
    root = blocked
    folder = Layout(root).registry / "verdicts" / "four_fifths_rule"
    for path in folder.glob("*.json"):
        record = json.loads(path.read_text())
        record["verdict"]["outcome"] = "pass"
        path.write_text(json.dumps(record))
    result = _stage_alone(root)
    assert "staging_model" not in materialized(result)
    assert registry.get_alias(Layout(root).registry, "staging") is None
    four_fifths = next(s for s in standings(load_params(root), Layout(root))
                       if s.gate.name == "four_fifths_rule")
    assert four_fifths.blocks and "edited after the gate ran" in four_fifths.reason
    verified = governance(root, "verify")
    assert verified.returncode == 1 and "verdicts/four_fifths_rule" in verified.stdout


def test_verdicts_refiled_for_a_swapped_model_are_not_acted_on_by_a_signed_run(
        blocked, keys, monkeypatch):
    """The insider swaps the candidate (and its recorded hash) and re-files a PASS of every
    gate under its fingerprint with the project's own functions, without the pipeline key:
    the signed run's guard acts on none of them (letting the guard read unsigned verdicts
    turns this red)."""
    root = blocked
    params, layout = load_params(root), Layout(root)
    layout.model.write_bytes(layout.model.read_bytes() + b"\0")
    digest = hashlib.sha256(layout.model.read_bytes()).hexdigest()
    meta = read_json(layout.model_meta)
    layout.model_meta.write_text(json.dumps({**meta, "sha256": digest}))
    monkeypatch.delenv(signatures.SIGNING_KEY_ENV)
    store = VerdictStore(layout)
    for item in standings(params, layout):
        now = current_fingerprint(params, layout, item.gate, digest)
        store.record(item.gate.name, {"outcome": "pass", "blocking": True, "value": 1.0,
                                      "threshold": 0.0, "message": "forged"}, now, {}, "forged")
    assert not any(s.blocks for s in standings(params, layout)), "the forgery is complete"
    monkeypatch.setenv(signatures.SIGNING_KEY_ENV, str(keys.path(PIPELINE)))
    refused = [s for s in standings(params, layout) if s.blocks]
    assert refused and all("not signed by a pipeline key" in s.reason for s in refused)
    result = _stage_alone(root)
    assert "staging_model" not in materialized(result)
    assert registry.get_alias(layout.registry, "staging") is None


def test_a_key_held_by_ssh_agent_signs_an_approval(project, keys, tmp_path):
    """`--key` given the public half: ssh-keygen signs with the key a real ssh-agent holds
    (the private file is not on disk any more)."""
    root, version = project
    private = tmp_path / "agent-key"
    shutil.copy(keys.path("bob"), private)
    shutil.copy(f"{keys.path('bob')}.pub", f"{private}.pub")
    private.chmod(0o600)
    socket = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if socket.exists():
                break
            subprocess.run(["sleep", "0.05"], check=True)
        env = {"SSH_AUTH_SOCK": str(socket)}
        subprocess.run(["ssh-add", "-q", str(private)], check=True, env={**os.environ, **env},
                       capture_output=True)
        private.unlink()
        approved = governance(root, "approve", version, "--key", f"{private}.pub",
                              "--reason", "reviewed on a hardware-backed agent", env=env)
        assert approved.returncode == 0, approved.stdout + approved.stderr
        assert "by bob" in approved.stdout
        assert signoff.approval_standing(Layout(root).registry, version,
                                         trust_of(root)).valid
    finally:
        agent.terminate()
        agent.wait()


def test_keys_init_makes_demo_keys_once_and_they_sign(tmp_path):
    """`governance keys init`: a key per approver and the pipeline, their lines added once to
    the allowed-signers file, and a demo approver's key then signs an approval."""
    root = make_project(tmp_path / "project")
    first = governance(root, "keys", "init")
    assert first.returncode == 0, first.stdout + first.stderr
    allowed = (root / "governance" / "allowed_signers").read_text().splitlines()
    principals = [line.split()[0] for line in allowed if line and not line.startswith("#")]
    spec = load_params(root).signoff
    assert principals == [*spec.approvers, *spec.pipeline_signers]
    assert governance(root, "keys", "init").returncode == 0
    assert (root / "governance" / "allowed_signers").read_text().splitlines() == allowed
    pipeline = root / ".governance-keys" / spec.pipeline_signers[0]
    reg = Layout(root).registry
    os.environ[signatures.SIGNING_KEY_ENV] = str(pipeline)
    try:
        version = register(reg, tmp_path / "files", 1)
    finally:
        del os.environ[signatures.SIGNING_KEY_ENV]
    approver = root / ".governance-keys" / spec.approvers[0]
    approved = governance(root, "approve", version, "--key", str(approver), "--reason", "ok")
    assert approved.returncode == 0 and f"by {spec.approvers[0]}" in approved.stdout
    assert (root / "governance" / "pipeline.pub.pem").read_text().startswith(
        "-----BEGIN PUBLIC KEY-----")
