"""Human sign-off bound to evidence and signed by real keys, production promotion and rollback:
core rules, the Dagster asset on a real instance, and the CLI in a real process.

Every action is an SSH signature by a key ssh-keygen made (tests/signing.py); roles name
principals of the allowed-signers file, so a typed name grants nothing. The core rules run on
every registry backend (tests/registry_backends.py); the Dagster asset also on memory:// (one
process), the CLI and the lock also on a file:// URL named by GOVERNANCE_REGISTRY, as a
deployment on object storage would name its bucket."""

import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from dagster import DagsterInstance, materialize

from governance_assets.assets import GRAPH_ASSETS, PROMOTION_CHECKS
from governance_assets.core.params import SignoffSpec
from governance_assets.core.record import ledger, registry, storage
from governance_assets.core.trust import signoff
from governance_assets.resources import GovernanceProject

from .conftest import REPO, check_results, make_project, set_params
from .registry_backends import backend, location, registry_root, root_for
from .signing import PIPELINE, keys
from .test_ledger import register

__all__ = ["backend", "keys", "registry_root"]  # fixtures, used by name

SPEC = SignoffSpec(approvers=["alice", "bob"], pipeline_signers=[PIPELINE],
                   approval_expiry_days=30)
GOVERNANCE = REPO / ".venv" / "bin" / "governance"


def spec(**changes) -> SignoffSpec:
    return SPEC.model_copy(update=changes)


def signed_run(root, keys, folder, constant: int, by: str = PIPELINE) -> str:
    """A version registered by a run whose entries `by`'s key signed (GOVERNANCE_SIGNING_KEY)."""
    with keys.signing(by):
        return register(root, folder, constant)


@pytest.fixture
def staged(tmp_path, registry_root, keys):
    """A registry whose staging version comes from a run signed by the pipeline key."""
    root = registry_root
    version = signed_run(root, keys, tmp_path / "a", 1)
    registry.set_alias(root, "staging", version, "gates passed")
    return root, version


def promote(root, version, keys, trust, promoter: str = "bob", **at) -> dict:
    """A promoter's signed request, then the move that acts on it."""
    signoff.request_promotion(root, version, keys.signer(promoter), trust)
    return signoff.promote_to_production(root, version, trust, **at)


def test_a_signed_approval_lets_production_move_and_names_whose_it_is(staged, keys):
    root, version = staged
    trust = keys.trust(SPEC)
    approval = signoff.approve(root, version, keys.signer("alice"),
                               "reviewed card and verdicts", trust)
    assert approval["signer"]["key"] == keys.signer("alice").fingerprint
    request = signoff.request_promotion(root, version, keys.signer("bob"), trust)
    entry = signoff.promote_to_production(root, version, trust)
    assert registry.get_alias(root, "production") == version
    assert signoff.production_version(root, lambda: trust) == version
    assert entry["data"]["approval"] == {"seq": approval["seq"], "hash": approval["hash"],
                                         "by": "alice"}
    assert entry["data"]["request"] == {"seq": request["seq"], "hash": request["hash"],
                                        "by": "bob"}
    assert signoff.approval_standing(root, version, trust).valid


def test_without_approval_production_does_not_move(staged, keys):
    root, version = staged
    trust = keys.trust(SPEC)
    with pytest.raises(signoff.SignoffError, match="no approval of version"):
        promote(root, version, keys, trust)
    assert registry.get_alias(root, "production") is None


def test_an_approval_without_a_promoters_signed_request_does_not_move_production(staged, keys):
    root, version = staged
    trust = keys.trust(SPEC)
    signoff.approve(root, version, keys.signer("alice"), "ok", trust)
    with pytest.raises(signoff.SignoffError, match="no signed promotion request"):
        signoff.promote_to_production(root, version, trust)
    ledger.append(root, "promotion_request", {  # the shape of a request, but unsigned
        "version": version, "evidence_hash": signoff.evidence_hash(
            registry.registration(root, version)), "by": "bob",
        "at": "2026-01-01T00:00:00+00:00", "expires_at": "2999-01-01T00:00:00+00:00"})
    with pytest.raises(signoff.SignoffError, match="no signed promotion request"):
        signoff.promote_to_production(root, version, trust)
    assert registry.get_alias(root, "production") is None
    promote(root, version, keys, trust)
    assert registry.get_alias(root, "production") == version


def test_an_approval_of_other_evidence_does_not_count(staged, keys, tmp_path):
    root, version = staged
    trust = keys.trust(SPEC)
    other = signed_run(root, keys, tmp_path / "b", 0)
    signoff.approve(root, other, keys.signer("alice"), "the other one", trust)
    forged = ledger.append(root, "approval", {
        "version": version, "evidence_hash": signoff.evidence_hash(
            registry.registration(root, other)), "by": "alice", "reason": "copied",
        "at": "2026-01-01T00:00:00+00:00", "expires_at": "2999-01-01T00:00:00+00:00"},
        keys.signer("alice"))
    standing = signoff.approval_standing(root, version, trust)
    assert not standing.valid
    assert f"approval #{forged['seq']} by alice approved evidence" in standing.summary()
    with pytest.raises(signoff.SignoffError, match="not this version's"):
        promote(root, version, keys, trust)


def test_an_expired_approval_does_not_count(staged, keys):
    root, version = staged
    trust = keys.trust(SPEC)
    signoff.approve(root, version, keys.signer("alice"), "ok", trust)
    later = datetime.now(timezone.utc) + timedelta(days=31)
    with pytest.raises(signoff.SignoffError, match="expired at .*approval_expiry_days: 30"):
        promote(root, version, keys, trust, now=later)
    assert signoff.approval_standing(root, version, trust).valid


def test_a_key_without_the_role_is_refused_and_a_revoked_role_voids_the_approval(staged, keys):
    root, version = staged
    trust = keys.trust(SPEC)
    with pytest.raises(signoff.SignoffError, match="mallory.* is not in .*it grants nothing"):
        signoff.approve(root, version, keys.signer("mallory"), "trust me", trust)
    with pytest.raises(signoff.SignoffError,
                       match=r"^dave \(key SHA256:.*\) does not have the approver role"):
        signoff.approve(root, version, keys.signer("dave"), "trust me", trust)
    assert ledger.entries(root, ("approval",)) == []
    signoff.approve(root, version, keys.signer("bob"), "ok", trust)
    revoked = keys.trust(spec(approvers=["alice"]))
    with pytest.raises(signoff.SignoffError, match="by bob is not signed by a key .* approver"):
        promote(root, version, keys, keys.trust(spec(approvers=["alice"], promoters=["bob"])))
    assert not signoff.approval_standing(root, version, revoked).valid


def test_a_typed_name_grants_nothing(staged, keys, monkeypatch):
    """What a name once did: an approval entry saying 'alice' (unsigned, as GOVERNANCE_USER
    alice, or signed by an unlisted key) is no approval; alice's key is."""
    root, version = staged
    trust = keys.trust(SPEC)
    data = {"version": version, "evidence_hash": signoff.evidence_hash(
        registry.registration(root, version)), "by": "alice", "reason": "typed",
        "at": "2026-01-01T00:00:00+00:00", "expires_at": "2999-01-01T00:00:00+00:00"}
    monkeypatch.setenv(ledger.USER_ENV, "alice")
    unsigned = ledger.append(root, "approval", data)
    mallorys = ledger.append(root, "approval", data, keys.signer("mallory"))
    standing = signoff.approval_standing(root, version, trust)
    assert not standing.valid
    for entry in (unsigned, mallorys):
        assert (f"approval #{entry['seq']} by alice is not signed by a key that "
                f"{keys.allowed} gives to an approver") in standing.summary()
    assert "a typed name grants nothing" in standing.summary()
    bobs_as_alice = ledger.append(root, "approval", data, keys.signer("bob"))
    standing = signoff.approval_standing(root, version, trust)
    assert not standing.valid, "bob's key signing an approval that names alice"
    assert f"approval #{bobs_as_alice['seq']} by alice is not signed" in standing.summary()
    signoff.approve(root, version, keys.signer("alice"), "signed", trust)
    assert signoff.approval_standing(root, version, trust).approval["data"]["reason"] == "signed"


def test_the_runs_signer_may_not_approve_under_separation_of_duties(tmp_path, registry_root,
                                                                    keys):
    """carol's key is both a pipeline signer and an approver: the run she signed is not hers
    to approve; the OS user who ran it (the same for every test) is no party to the rule."""
    root = registry_root
    version = signed_run(root, keys, tmp_path / "a", 1, by="carol")
    separated = keys.trust(spec(approvers=["alice", "carol"], pipeline_signers=["carol"]))
    with pytest.raises(signoff.SignoffError, match="carol signed the run that produced version"):
        signoff.approve(root, version, keys.signer("carol"), "my own model", separated)
    alone = keys.trust(spec(approvers=["carol"], pipeline_signers=["carol"],
                            separation_of_duties=False))
    signoff.approve(root, version, keys.signer("carol"), "duties not separated", alone)
    assert signoff.approval_standing(root, version, alone).valid
    with pytest.raises(signoff.SignoffError, match="separation of duties"):
        promote(root, version, keys, separated, promoter="alice")
    signoff.approve(root, version, keys.signer("alice"), "another reviewer", separated)
    assert promote(root, version, keys, separated, promoter="alice")["data"]["version"] == version


def test_a_run_no_pipeline_key_signed_is_not_approvable_for_production(tmp_path, registry_root,
                                                                     keys):
    root = registry_root
    unsigned = register(root, tmp_path / "a", 1)
    by_dave = signed_run(root, keys, tmp_path / "b", 0, by="dave")
    trust = keys.trust(SPEC)
    for version, why in ((unsigned, "unsigned local run"), (by_dave, "not a pipeline signer")):
        signoff.approve(root, version, keys.signer("alice"), "ok", trust)
        standing = signoff.approval_standing(root, version, trust)
        assert not standing.valid and why in standing.summary()
        assert "signoff.require_signed_run" in standing.summary()
    relaxed = keys.trust(spec(require_signed_run=False))
    assert signoff.approval_standing(root, unsigned, relaxed).valid


def test_only_a_promoter_may_move_production(staged, keys):
    root, version = staged
    trust = keys.trust(spec(approvers=["alice"], promoters=["carol"]))
    signoff.approve(root, version, keys.signer("alice"), "ok", trust)
    for who in ("dave", "alice"):
        with pytest.raises(signoff.SignoffError, match=f"{who} .* does not have the promoter role"):
            signoff.request_promotion(root, version, keys.signer(who), trust)
    with pytest.raises(signoff.SignoffError, match="no signed promotion request"):
        signoff.promote_to_production(root, version, trust)
    promote(root, version, keys, trust, promoter="carol")
    assert registry.get_alias(root, "production") == version


def test_a_rejection_voids_earlier_approvals(staged, keys):
    root, version = staged
    trust = keys.trust(SPEC)
    signoff.approve(root, version, keys.signer("alice"), "ok", trust)
    signoff.reject(root, version, keys.signer("bob"), "card understates the age-band gap", trust)
    with pytest.raises(signoff.SignoffError, match="rejected by bob"):
        promote(root, version, keys, trust)
    with pytest.raises(signoff.SignoffError, match="dave .* does not have the approver role"):
        signoff.reject(root, version, keys.signer("dave"), "not mine to reject", trust)


def test_a_swapped_model_voids_the_approval_and_is_never_promoted(staged, keys, tmp_path):
    root, version = staged
    trust = keys.trust(SPEC)
    signoff.approve(root, version, keys.signer("alice"), "ok", trust)
    other = signed_run(root, keys, tmp_path / "b", 0)
    stored = root / "versions" / version / registry.MODEL_FILE
    stored.write_bytes((root / "versions" / other / registry.MODEL_FILE).read_bytes())
    with pytest.raises(signoff.SignoffError, match="model.skops sha256 differs"):
        promote(root, version, keys, trust)


def _to_production(root, keys, folder, constant):
    version = signed_run(root, keys, folder, constant)
    trust = keys.trust(SPEC)
    signoff.approve(root, version, keys.signer("alice"), "ok", trust)
    promote(root, version, keys, trust)
    return version


def test_rollback_picks_the_previous_approved_version(tmp_path, registry_root, keys):
    root, trust, bob = registry_root, keys.trust(SPEC), keys.signer("bob")
    first, second, third = (_to_production(root, keys, tmp_path / str(c), c) for c in (1, 2, 3))
    assert signoff.rollback(root, trust, bob, "AUC fell")["data"]["version"] == second
    assert signoff.rollback(root, trust, bob, "still bad")["data"]["version"] == first
    with pytest.raises(signoff.SignoffError, match="nothing to roll"):
        signoff.rollback(root, trust, bob, "again")
    with pytest.raises(signoff.SignoffError, match="predates the rollback away from"):
        promote(root, third, keys, trust)
    moves = registry.alias_history(root, "production")
    assert [m["data"]["move"] for m in moves] == ["promotion"] * 3 + ["rollback"] * 2
    assert moves[-1]["data"]["rolled_back"] == second and third not in (
        registry.get_alias(root, "production"),)
    assert moves[-1]["data"]["by"] == "bob" and moves[-1]["signer"]["key"] == bob.fingerprint


def test_a_rollback_is_signed_by_a_promoter(tmp_path, registry_root, keys):
    root = registry_root
    trust = keys.trust(spec(promoters=["carol"]))
    first = signed_run(root, keys, tmp_path / "1", 1)
    signoff.approve(root, first, keys.signer("alice"), "ok", trust)
    promote(root, first, keys, trust, promoter="carol")
    second = signed_run(root, keys, tmp_path / "2", 2)
    signoff.approve(root, second, keys.signer("alice"), "ok", trust)
    promote(root, second, keys, trust, promoter="carol")
    with pytest.raises(signoff.SignoffError, match="a rollback is signed"):
        signoff.rollback(root, trust, None, "unsigned")
    for who in ("alice", "mallory"):
        with pytest.raises(signoff.SignoffError, match="promoter role|grants nothing"):
            signoff.rollback(root, trust, keys.signer(who), "not mine")
    assert registry.get_alias(root, "production") == second
    assert signoff.rollback(root, trust, keys.signer("carol"), "AUC fell")["data"]["version"] \
        == first


def test_rollback_skips_rejected_and_blocked_versions(tmp_path, registry_root, keys):
    root, trust = registry_root, keys.trust(SPEC)
    first = _to_production(root, keys, tmp_path / "1", 1)
    second = _to_production(root, keys, tmp_path / "2", 2)
    _to_production(root, keys, tmp_path / "3", 3)
    signoff.reject(root, second, keys.signer("bob"), "found a leak", trust)
    assert signoff.rollback(root, trust, keys.signer("bob"), "drift")["data"]["version"] == first


def _project(tmp_path, keys, approvers, where: str = "local", **overrides):
    """A project whose registry is its own folder (local) or a URL in params.yaml, with the
    test keys as its allowed signers and a staging version from a pipeline-signed run."""
    root = make_project(tmp_path / "project", signoff__approvers=approvers,
                        signoff__pipeline_signers=[PIPELINE], **overrides)
    keys.install(root)
    registry_root = root / "registry"
    if where != "local":
        registry_root = root_for(where, tmp_path)
        set_params(root, registry__root=location(registry_root))
    version = signed_run(registry_root, keys, tmp_path / "model", 1)
    registry.set_alias(registry_root, "staging", version, "gates passed")
    return root, version


def _registry(root):
    """The project's registry as every command resolves it (params.yaml registry.root)."""
    return storage.resolve_root(root)


def _materialize_production(root):
    with DagsterInstance.ephemeral() as instance:
        return materialize([*GRAPH_ASSETS, *PROMOTION_CHECKS], instance=instance,
                           selection="production_model",
                           resources={"project": GovernanceProject(root=str(root))},
                           raise_on_error=False)


@pytest.mark.parametrize("where", ["local", "memory"])
def test_the_production_asset_refuses_without_approval_then_rests_on_one(tmp_path, keys,
                                                                         where):
    root, version = _project(tmp_path, keys, ["alice"], where, signoff__promoters=["bob"])
    trust = keys.trust(spec(approvers=["alice"], promoters=["bob"]))
    assert not _materialize_production(root).success
    signoff.approve(_registry(root), version, keys.signer("alice"), "reviewed", trust)
    unrequested = _materialize_production(root)
    assert not unrequested.success
    assert registry.get_alias(_registry(root), "production") is None
    signoff.request_promotion(_registry(root), version, keys.signer("bob"), trust)
    moved = _materialize_production(root)
    assert moved.success
    assert registry.get_alias(_registry(root), "production") == version
    check = check_results(moved)["production_approval"]
    assert check.passed and check.metadata["approved_by"].value == "alice"
    event = moved.get_asset_materialization_events()[0].materialization
    assert event.metadata["approved_by"].value == "alice"
    assert event.metadata["promoted_by"].value == "bob"


@pytest.mark.parametrize("where", ["local", "file"])
def test_the_cli_refuses_production_without_approval_and_shows_why(tmp_path, keys, where):
    root, version = _project(tmp_path, keys, ["alice"], signoff__promoters=["bob"])
    registry_root = root / "registry"
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                   "DAGSTER_HOME": str(root / ".dagster")}
    if where == "file":  # the same registry, named by URL: every command uses object storage
        registry_root = storage.resolve_root(root, f"file://{registry_root}")
        environment[storage.REGISTRY_ENV] = location(registry_root)

    def governance(*arguments, **extra):
        return subprocess.run([str(GOVERNANCE), "--root", str(root), *arguments],
                              capture_output=True, text=True, env={**environment, **extra})

    def key(principal):
        return str(keys.path(principal))

    refused = governance("promote-production")
    assert refused.returncode == 1 and "no approval of version" in refused.stdout
    assert registry.get_alias(registry_root, "production") is None
    typed = governance("approve", version, "--by", "alice", "--reason", "x")
    assert typed.returncode == 2 and "required: --key" in typed.stderr
    typed = governance("approve", version, "--by", "alice", "--key", key("dave"), "--reason", "x")
    assert typed.returncode == 2 and "unrecognized arguments: --by" in typed.stderr
    as_user = governance("approve", version, "--key", key("mallory"), "--reason", "x",
                         GOVERNANCE_USER="alice")
    assert as_user.returncode == 1 and "it grants nothing" in as_user.stdout
    bad = governance("approve", version, "--key", key("dave"), "--reason", "x")
    assert bad.returncode == 1 and "dave (key SHA256:" in bad.stdout
    assert "does not have the approver role" in bad.stdout
    assert ledger.entries(registry_root, ("approval",)) == []
    assert governance("approve", "feedbeef", "--key", key("alice"),
                      "--reason", "x").returncode == 2
    assert "points at nothing" in governance("show", "production").stdout
    approved = governance("approve", "staging", "--key", key("alice"), "--reason", "reviewed")
    assert approved.returncode == 0, approved.stdout
    assert f"by alice (key {keys.signer('alice').fingerprint})" in approved.stdout
    shown = governance("show", "staging")
    assert shown.returncode == 0 and "approved by alice" in shown.stdout
    assert "signed by the pipeline key of ci-pipeline" in shown.stdout
    not_promoter = governance("promote-production", "--key", key("alice"))
    assert not_promoter.returncode == 1 and "does not have the promoter role" in \
        not_promoter.stdout
    assert registry.get_alias(registry_root, "production") is None
    promoted = governance("promote-production", "--key", key("bob"))
    assert promoted.returncode == 0, promoted.stdout
    assert registry.get_alias(registry_root, "production") == version
    verified = governance("verify")
    assert verified.returncode == 0 and "ledger intact" in verified.stdout
    # signed: registration, approval, request; unsigned: the test's staging move and the
    # production stage's move (no GOVERNANCE_SIGNING_KEY in this environment)
    assert verified.stdout.splitlines()[:2] == [
        "note: 2 entries carry no SSH signature (unsigned local runs): their authorship rests "
        "on who can write the folder",
        "note: no git repository around the registry: no witness of its head outside the "
        "folder (docs/registry.md: threat model)"]
    history = governance("history", "--kind", "alias").stdout
    assert f"production -> {version}" in history
    outsider = governance("rollback", "--key", key("dave"), "--reason", "test")
    assert outsider.returncode == 1 and "does not have the promoter role" in outsider.stdout
    nowhere = governance("rollback", "--key", key("bob"), "--reason", "test")
    assert nowhere.returncode == 1 and "nothing to roll 'production' back to" in nowhere.stdout
    assert registry.get_alias(registry_root, "production") == version


HOLDER = """
import sys, time
from pathlib import Path
from governance_assets.core.record import ledger, storage
with ledger.registry_lock(storage.resolve_root(Path.cwd(), sys.argv[1])):
    print("held", flush=True)
    time.sleep(30)
"""


@pytest.mark.parametrize("where", ["local", "file"])
def test_a_locked_registry_is_a_clear_error_with_its_own_exit_code(tmp_path, keys, where):
    root, version = _project(tmp_path, keys, ["alice"], where)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, location(_registry(root))],
                              stdout=subprocess.PIPE, text=True, cwd=root)
    try:
        assert holder.stdout.readline().strip() == "held"
        blocked = subprocess.run(
            [str(GOVERNANCE), "--root", str(root), "approve", version, "--key",
             str(keys.path("alice")), "--reason", "ok"], capture_output=True, text=True,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GOVERNANCE_LOCK_TIMEOUT": "1"})
        assert blocked.returncode == 4
        assert "is locked by another process" in blocked.stdout
        assert ledger.entries(_registry(root), ("approval",)) == []
    finally:
        holder.kill()
        holder.wait()
