"""Human sign-off bound to evidence, production promotion and rollback: core rules, the
Dagster asset on a real instance, and the CLI in a real process.

The core rules run on every registry backend (tests/registry_backends.py); the Dagster asset
also on memory:// (one process), the CLI and the lock also on a file:// URL named by
GOVERNANCE_REGISTRY, as a deployment on object storage would name its bucket."""

import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from dagster import DagsterInstance, materialize

from governance_assets.assets import GRAPH_ASSETS, PROMOTION_CHECKS
from governance_assets.core import ledger, registry, signoff, storage
from governance_assets.core.params import SignoffSpec
from governance_assets.resources import GovernanceProject

from .conftest import REPO, check_results, make_project, set_params
from .registry_backends import backend, location, registry_root, root_for
from .test_ledger import register

__all__ = ["backend", "registry_root"]  # fixtures, used by name

SPEC = SignoffSpec(approvers=["alice", "bob"], approval_expiry_days=30)
GOVERNANCE = REPO / ".venv" / "bin" / "governance"


@pytest.fixture
def staged(tmp_path, registry_root, monkeypatch):
    """A registry whose staging version was produced by a run that 'carol' triggered."""
    root = registry_root
    monkeypatch.setenv(ledger.USER_ENV, "carol")
    version = register(root, tmp_path / "a", 1)
    registry.set_alias(root, "staging", version, "gates passed")
    monkeypatch.delenv(ledger.USER_ENV)
    return root, version


def test_an_approval_lets_production_move_and_names_whose_it_is(staged):
    root, version = staged
    approval = signoff.approve(root, version, "alice", "reviewed card and verdicts", SPEC)
    entry = signoff.promote_to_production(root, version, SPEC, by="dave")
    assert registry.get_alias(root, "production") == version
    assert entry["data"]["approval"] == {"seq": approval["seq"], "hash": approval["hash"],
                                         "by": "alice"}
    assert signoff.approval_standing(root, version, SPEC).valid


def test_without_approval_production_does_not_move(staged):
    root, version = staged
    with pytest.raises(signoff.SignoffError, match="no approval of version"):
        signoff.promote_to_production(root, version, SPEC)
    assert registry.get_alias(root, "production") is None


def test_an_approval_of_other_evidence_does_not_count(staged, tmp_path):
    root, version = staged
    other = register(root, tmp_path / "b", 0)
    signoff.approve(root, other, "alice", "the other one", SPEC)
    forged = ledger.append(root, "approval", {
        "version": version, "evidence_hash": signoff.evidence_hash(
            registry.registration(root, other)), "by": "alice", "reason": "copied",
        "at": "2026-01-01T00:00:00+00:00", "expires_at": "2999-01-01T00:00:00+00:00"})
    standing = signoff.approval_standing(root, version, SPEC)
    assert not standing.valid
    assert f"approval #{forged['seq']} by alice approved evidence" in standing.summary()
    with pytest.raises(signoff.SignoffError, match="not this version's"):
        signoff.promote_to_production(root, version, SPEC)


def test_an_expired_approval_does_not_count(staged):
    root, version = staged
    signoff.approve(root, version, "alice", "ok", SPEC)
    later = datetime.now(timezone.utc) + timedelta(days=31)
    with pytest.raises(signoff.SignoffError, match="expired at .*approval_expiry_days: 30"):
        signoff.promote_to_production(root, version, SPEC, now=later)
    assert signoff.approval_standing(root, version, SPEC).valid


def test_a_name_without_the_role_is_refused_and_a_revoked_role_voids_the_approval(staged):
    root, version = staged
    with pytest.raises(signoff.SignoffError, match="'mallory' does not have the approver role"):
        signoff.approve(root, version, "mallory", "trust me", SPEC)
    signoff.approve(root, version, "bob", "ok", SPEC)
    revoked = SignoffSpec(approvers=["alice"])
    with pytest.raises(signoff.SignoffError, match="'bob' does not have the approver role"):
        signoff.promote_to_production(root, version, revoked)


def test_the_run_trigger_may_not_approve_under_separation_of_duties(staged):
    root, version = staged
    spec = SignoffSpec(approvers=["alice", "carol"])
    with pytest.raises(signoff.SignoffError, match="'carol' triggered the run"):
        signoff.approve(root, version, "carol", "my own model", spec)
    alone = SignoffSpec(approvers=["carol"], separation_of_duties=False)
    signoff.approve(root, version, "carol", "duties not separated", alone)
    with pytest.raises(signoff.SignoffError, match="separation of duties"):
        signoff.promote_to_production(root, version, spec)


def test_only_a_promoter_may_move_production(staged):
    root, version = staged
    signoff.approve(root, version, "alice", "ok", SPEC)
    spec = SignoffSpec(approvers=["alice"], promoters=["ops"])
    with pytest.raises(signoff.SignoffError, match="'dave' does not have the promoter role"):
        signoff.promote_to_production(root, version, spec, by="dave")
    signoff.promote_to_production(root, version, spec, by="ops")


def test_a_rejection_voids_earlier_approvals(staged):
    root, version = staged
    signoff.approve(root, version, "alice", "ok", SPEC)
    signoff.reject(root, version, "bob", "card understates the age-band gap", SPEC)
    with pytest.raises(signoff.SignoffError, match="rejected by bob"):
        signoff.promote_to_production(root, version, SPEC)


def test_a_swapped_model_voids_the_approval_and_is_never_promoted(staged, tmp_path):
    root, version = staged
    signoff.approve(root, version, "alice", "ok", SPEC)
    other = register(root, tmp_path / "b", 0)
    stored = root / "versions" / version / registry.MODEL_FILE
    stored.write_bytes((root / "versions" / other / registry.MODEL_FILE).read_bytes())
    with pytest.raises(signoff.SignoffError, match="model.skops sha256 differs"):
        signoff.promote_to_production(root, version, SPEC)


def _to_production(root, folder, constant):
    version = register(root, folder, constant)
    signoff.approve(root, version, "alice", "ok", SPEC)
    signoff.promote_to_production(root, version, SPEC)
    return version


def test_rollback_picks_the_previous_approved_version(tmp_path, registry_root):
    root = registry_root
    first, second, third = (_to_production(root, tmp_path / str(c), c) for c in (1, 2, 3))
    assert signoff.rollback(root, by="oncall", reason="AUC fell")["data"]["version"] == second
    assert signoff.rollback(root, by="oncall", reason="still bad")["data"]["version"] == first
    with pytest.raises(signoff.SignoffError, match="nothing to roll"):
        signoff.rollback(root, by="oncall", reason="again")
    with pytest.raises(signoff.SignoffError, match="predates the rollback away from"):
        signoff.promote_to_production(root, third, SPEC)
    moves = registry.alias_history(root, "production")
    assert [m["data"]["move"] for m in moves] == ["promotion"] * 3 + ["rollback"] * 2
    assert moves[-1]["data"]["rolled_back"] == second and third not in (
        registry.get_alias(root, "production"),)


def test_rollback_skips_rejected_and_blocked_versions(tmp_path, registry_root):
    root = registry_root
    first = _to_production(root, tmp_path / "1", 1)
    second = _to_production(root, tmp_path / "2", 2)
    _to_production(root, tmp_path / "3", 3)
    signoff.reject(root, second, "bob", "found a leak", SPEC)
    assert signoff.rollback(root, reason="drift")["data"]["version"] == first


def _project(tmp_path, approvers, where: str = "local"):
    """A project whose registry is its own folder (local) or a URL in params.yaml."""
    root = make_project(tmp_path / "project", signoff__approvers=approvers)
    registry_root = root / "registry"
    if where != "local":
        registry_root = root_for(where, tmp_path)
        set_params(root, registry__root=location(registry_root))
    version = register(registry_root, tmp_path / "model", 1)
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
def test_the_production_asset_refuses_without_approval_then_rests_on_one(tmp_path, where):
    root, version = _project(tmp_path, ["alice"], where)
    refused = _materialize_production(root)
    assert not refused.success
    assert registry.get_alias(_registry(root), "production") is None
    signoff.approve(_registry(root), version, "alice", "reviewed", SignoffSpec(
        approvers=["alice"]))
    moved = _materialize_production(root)
    assert moved.success
    assert registry.get_alias(_registry(root), "production") == version
    check = check_results(moved)["production_approval"]
    assert check.passed and check.metadata["approved_by"].value == "alice"
    event = moved.get_asset_materialization_events()[0].materialization
    assert event.metadata["approved_by"].value == "alice"


@pytest.mark.parametrize("where", ["local", "file"])
def test_the_cli_refuses_production_without_approval_and_shows_why(tmp_path, where):
    root, version = _project(tmp_path, ["alice"])
    registry_root = root / "registry"
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                   "DAGSTER_HOME": str(root / ".dagster")}
    if where == "file":  # the same registry, named by URL: every command uses object storage
        registry_root = storage.resolve_root(root, f"file://{registry_root}")
        environment[storage.REGISTRY_ENV] = location(registry_root)

    def governance(*arguments):
        return subprocess.run([str(GOVERNANCE), "--root", str(root), *arguments],
                              capture_output=True, text=True, env=environment)

    refused = governance("promote-production")
    assert refused.returncode == 1 and "no approval of version" in refused.stdout
    assert registry.get_alias(registry_root, "production") is None
    bad = governance("approve", version, "--by", "mallory", "--reason", "x")
    assert bad.returncode == 1 and "'mallory' does not have the approver role" in bad.stdout
    assert governance("approve", "feedbeef", "--by", "alice", "--reason", "x").returncode == 2
    assert "points at nothing" in governance("show", "production").stdout
    approved = governance("approve", "staging", "--by", "alice", "--reason", "reviewed")
    assert approved.returncode == 0, approved.stdout
    shown = governance("show", "staging")
    assert shown.returncode == 0 and "approved by alice" in shown.stdout
    assert governance("promote-production").returncode == 0
    assert registry.get_alias(registry_root, "production") == version
    verified = governance("verify")
    assert verified.returncode == 0 and "ledger intact" in verified.stdout
    history = governance("history", "--kind", "alias").stdout
    assert f"production -> {version}" in history
    set_params(root, signoff__approvers=["bob"])
    assert governance("rollback", "--reason", "test").returncode == 1


HOLDER = """
import sys, time
from pathlib import Path
from governance_assets.core import ledger, storage
with ledger.registry_lock(storage.resolve_root(Path.cwd(), sys.argv[1])):
    print("held", flush=True)
    time.sleep(30)
"""


@pytest.mark.parametrize("where", ["local", "file"])
def test_a_locked_registry_is_a_clear_error_with_its_own_exit_code(tmp_path, where):
    root, version = _project(tmp_path, ["alice"], where)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, location(_registry(root))],
                              stdout=subprocess.PIPE, text=True, cwd=root)
    try:
        assert holder.stdout.readline().strip() == "held"
        blocked = subprocess.run(
            [str(GOVERNANCE), "--root", str(root), "approve", version, "--by", "alice",
             "--reason", "ok"], capture_output=True, text=True,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GOVERNANCE_LOCK_TIMEOUT": "1"})
        assert blocked.returncode == 4
        assert "is locked by another process" in blocked.stdout
        assert ledger.entries(_registry(root), ("approval",)) == []
    finally:
        holder.kill()
        holder.wait()
