"""The registry on object storage: where its root comes from, what replaces append and flock,
and a real S3-compatible server (moto's, a separate process on localhost) end to end.

The registry, ledger, sign-off and audit suites already run on a folder, a file:// URL and
memory:// (tests/registry_backends.py); these tests cover what only object storage has.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from governance_assets.core.files import read_json
from governance_assets.core.layout import Layout
from governance_assets.core.params import ParamsError, SignoffSpec, load_params
from governance_assets.core.record import audit, ledger, object_lock, registry, storage
from governance_assets.core.trust import signoff
from governance_assets.core.trust.signatures import SIGNING_KEY_ENV

from .conftest import REPO, make_project, set_params
from .registry_backends import backend, location, registry_root, root_for
from .signing import PIPELINE, keys
from .test_ledger import filled_ledger, lines_of, register, write_lines

__all__ = ["backend", "keys", "registry_root"]  # fixtures, used by name
SPEC = SignoffSpec(approvers=["alice"], pipeline_signers=[PIPELINE])
NO_WITNESS = ("no git repository around the registry: no witness of its head outside the "
              "folder (docs/registry.md: threat model)")


def signed_to_production(root: storage.RegistryPath, keys, folder: Path) -> tuple[str, dict]:
    """A version registered and staged by a run the pipeline key signs, approved and its
    promotion requested by alice's key, then moved by the (pipeline-signed) production stage."""
    trust = keys.trust(SPEC)
    with keys.signing(PIPELINE):
        version = register(root, folder, 1)
        registry.set_alias(root, "staging", version, "gates passed")
    signoff.approve(root, version, keys.signer("alice"), "reviewed card and verdicts", trust)
    signoff.request_promotion(root, version, keys.signer("alice"), trust)
    with keys.signing(PIPELINE):
        moved = signoff.promote_to_production(root, version, trust)
    return version, moved
GOVERNANCE = REPO / ".venv" / "bin" / "governance"


def test_the_root_comes_from_the_environment_then_params_then_the_default(tmp_path,
                                                                          monkeypatch):
    project = make_project(tmp_path / "project")
    monkeypatch.delenv(storage.REGISTRY_ENV, raising=False)
    assert Layout(project).registry == project / "registry"
    assert not storage.is_object_store(Layout(project).registry)
    set_params(project, registry__root="memory://from-params/registry")
    assert str(Layout(project).registry) == "memory://from-params/registry"
    assert load_params(project).registry.root == "memory://from-params/registry"
    monkeypatch.setenv(storage.REGISTRY_ENV, f"file://{tmp_path}/elsewhere")
    from_env = Layout(project).registry
    assert storage.is_object_store(from_env) and from_env.path == f"{tmp_path}/elsewhere"
    monkeypatch.setenv(storage.REGISTRY_ENV, "shared/registry")
    assert Layout(project).registry == project / "shared" / "registry"


def test_a_registry_url_without_its_filesystem_is_a_config_error(tmp_path):
    project = make_project(tmp_path / "project", registry__root="nosuchfs://bucket/registry")
    with pytest.raises(ParamsError, match="registry.root: .*no fsspec filesystem for nosuchfs"):
        load_params(project)


def test_a_ledger_that_lost_its_tail_is_never_written_over(registry_root):
    """A truncated ledger (or, on object storage, a read older than the last write) would let
    a new entry and head bury the loss: the writer refuses, and verify names the damage."""
    filled_ledger(registry_root, 5)
    write_lines(registry_root, lines_of(registry_root)[:3])
    before = (registry_root / ledger.LEDGER_FILE).read_bytes()
    with pytest.raises(ledger.LedgerError, match="ends at #2 but ledger.head records #4"):
        ledger.append(registry_root, "verdict", {"gate": "late"})
    assert (registry_root / ledger.LEDGER_FILE).read_bytes() == before
    assert "ends at #2" in audit.verify(registry_root).problems[0]


def test_an_object_store_registry_verifies_on_disk_after_a_copy(tmp_path, keys):
    """Entries, hashes, signatures and files are the same bytes on every backend: an auditor
    copies the bucket and runs the same check, and the head printed before the copy anchors it
    (a copy outside any git repository has no witness, and verify says so)."""
    remote = root_for("memory", tmp_path)
    version, _ = signed_to_production(remote, keys, tmp_path / "a")
    head = audit.verify(remote).head
    copy = tmp_path / "copy"
    remote.fs.get(remote.path + "/", str(copy), recursive=True)
    report = audit.verify(copy, f"{head['seq']}:{head['hash']}", keys.trust(SPEC))
    assert report.problems == [] and report.notices == [NO_WITNESS] and report.head == head
    assert registry.get_alias(copy, "production") == version
    assert signoff.production_version(copy, lambda: keys.trust(SPEC)) == version
    assert registry.load_model(copy, version).predict([[0]])[0] == 1
    storage.delete_tree(remote)


def _plant_lock(root: storage.RegistryPath, age: float) -> None:
    storage.put(root / ledger.OBJECT_LOCK_FILE, json.dumps(
        {"token": "dead-writer", "host": "elsewhere", "pid": 1,
         "taken_at": time.time() - age}).encode())


@pytest.mark.parametrize("where", ["file", "memory"])
def test_a_lock_left_by_a_dead_writer_is_taken_over_once_stale(tmp_path, where, monkeypatch):
    root = root_for(where, tmp_path)
    monkeypatch.setenv(ledger.LOCK_TIMEOUT_ENV, "0.3")
    monkeypatch.setenv(object_lock.STALE_ENV, "60")
    _plant_lock(root, age=5)
    with pytest.raises(ledger.RegistryLocked, match="held by elsewhere pid 1"):
        ledger.append(root, "verdict", {"gate": "g"})
    assert ledger.entries(root) == []
    storage.put(root / ledger.OBJECT_LOCK_FILE, b"")  # no time of its own: not stale at first sight
    with pytest.raises(ledger.RegistryLocked, match="held by None"):
        ledger.append(root, "verdict", {"gate": "g"})
    _plant_lock(root, age=120)
    assert ledger.append(root, "verdict", {"gate": "g"})["seq"] == 0
    assert storage.read_or_none(root / ledger.OBJECT_LOCK_FILE) is None, "released after the write"
    storage.delete_tree(root)


@pytest.mark.parametrize("where", ["file", "memory"])
def test_a_writer_whose_lock_was_taken_over_says_so(tmp_path, where):
    root = root_for(where, tmp_path)
    with pytest.raises(ledger.LedgerError, match="taken over as stale"), \
            ledger.registry_lock(root):
        storage.delete(root / ledger.OBJECT_LOCK_FILE)
        _plant_lock(root, age=0)  # another writer judged ours stale and took it
    assert read_json(root / ledger.OBJECT_LOCK_FILE)["token"] == "dead-writer", "theirs is kept"
    storage.delete_tree(root)


COUNTER = """
import sys
from pathlib import Path
from governance_assets.core.record import object_lock, storage
root = storage.resolve_root(Path.cwd(), sys.argv[1])
for _ in range(int(sys.argv[2])):
    with object_lock.object_lock(root / "counter.lock", timeout=120):
        value = int(storage.read_or_none(root / "counter") or b"0")
        storage.put(root / "counter", str(value + 1).encode())
"""


def test_the_lock_object_alone_excludes_writer_processes(tmp_path):
    """The object lock without the flock a file:// registry also takes: four processes doing
    read-modify-write under it lose no increment (a race would lose some)."""
    root = root_for("file", tmp_path)
    counters = [subprocess.Popen([sys.executable, "-c", COUNTER, location(root), "25"],
                                 cwd=REPO) for _ in range(4)]
    assert [c.wait(timeout=300) for c in counters] == [0] * 4
    assert storage.read_or_none(root / "counter") == b"100"
    assert storage.read_or_none(root / "counter.lock") is None


def test_without_exclusive_create_a_writer_is_refused_unless_one_is_declared(tmp_path,
                                                                             monkeypatch):
    """Where the store cannot create an object only if absent, two writers could both hold
    the lock: refused, unless the deployment declares a single writer."""
    root = root_for("memory", tmp_path)
    monkeypatch.setattr(storage, "EXCLUSIVE_CREATE", frozenset({"s3"}))
    with pytest.raises(ledger.LedgerError, match=storage.SINGLE_WRITER_ENV):
        ledger.append(root, "verdict", {"gate": "g"})
    monkeypatch.setenv(storage.SINGLE_WRITER_ENV, "1")
    assert ledger.append(root, "verdict", {"gate": "g"})["seq"] == 0
    storage.delete_tree(root)


def test_dvc_depends_on_a_local_copy_of_a_remote_production_alias(tmp_path, keys):
    """DVC hashes local files only: with the registry elsewhere, `governance run` and each
    stage refresh the project's registry/aliases/production.json from the ledger."""
    remote, project = root_for("memory", tmp_path), tmp_path / "project"
    pointer = Layout(project).production_pointer
    registry.init_registry(remote, pointer)
    assert read_json(pointer) == {"alias": "production", "version": None}
    assert read_json(remote / "aliases" / "production.json")["version"] is None
    version, moved = signed_to_production(remote, keys, tmp_path / "a")
    registry.init_registry(remote, pointer)
    copy = read_json(pointer)
    assert copy["version"] == version and copy["ledger_hash"] == moved["hash"]
    assert copy["registry"] == location(remote)
    storage.delete_tree(remote)


# --- a real S3-compatible server --------------------------------------------------------------

S3_WRITER = """
import sys
from pathlib import Path
from governance_assets.core.record import ledger, storage
root = storage.resolve_root(Path.cwd(), sys.argv[1])
for number in range(int(sys.argv[3])):
    ledger.append(root, "verdict", {"gate": sys.argv[2], "n": number})
"""


@pytest.mark.slow
@pytest.mark.scale_out
def test_register_alias_approve_promote_and_verify_on_s3(tmp_path, s3_endpoint, keys):
    root = storage.resolve_root(tmp_path, "s3://governance/registry")
    version, _ = signed_to_production(root, keys, tmp_path / "a")
    assert register(root, tmp_path / "a", 1) == version, "idempotent on S3 too"
    assert registry.get_alias(root, "production") == version
    assert signoff.production_version(root, lambda: keys.trust(SPEC)) == version
    assert registry.load_model(root, version).predict([[0]])[0] == 1
    report = audit.verify(root, None, keys.trust(SPEC))
    assert report.problems == [] and report.notices == [NO_WITNESS]

    # Two writer processes on S3: the lock object (PUT If-None-Match) keeps every entry.
    environment = {**os.environ, "AWS_ENDPOINT_URL": s3_endpoint}
    writers = [subprocess.Popen([sys.executable, "-c", S3_WRITER, location(root), f"w{n}", "8"],
                                cwd=REPO, env=environment) for n in range(2)]
    assert [w.wait(timeout=300) for w in writers] == [0, 0]
    report = audit.verify(root)
    assert report.problems == [] and report.entries == 5 + 16

    # The CLI against the bucket, named only by the environment, as a deployment would.
    project = make_project(tmp_path / "project", signoff__approvers=["alice"])
    keys.install(project)
    verified = subprocess.run(
        [str(GOVERNANCE), "--root", str(project), "verify"], capture_output=True, text=True,
        env={**environment, storage.REGISTRY_ENV: location(root)}, timeout=300)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"{report.entries} entries, 1 versions verified" in verified.stdout

    # A swapped model object is caught on S3 exactly as on disk, and never unpickled.
    stored = root / "versions" / version / registry.MODEL_FILE
    storage.put(stored, (tmp_path / "a" / "model.skops").read_bytes() + b"\0")
    with pytest.raises(registry.RegistryError, match="refusing to load it"):
        registry.load_model(root, version)
    assert "model.skops sha256 differs from the ledger" in audit.verify(root).problems[0]


# --- the whole governed graph and monitoring on a registry that is not a folder -----------------


@pytest.mark.slow
@pytest.mark.scale_out
def test_the_graph_promotes_and_monitoring_scores_into_a_memory_registry(tmp_path, monkeypatch,
                                                                        keys):
    """Nothing in the assets knows where the registry is: the graph's verdicts, decisions,
    version and alias, then production monitoring's frozen reference and decision log, all
    land in memory:// and verify, and the project's registry/ folder is never created."""
    from dagster import DagsterInstance, instance_for_test

    from governance_assets.core.monitor import decision_log

    from .conftest import run_graph
    from .test_monitoring import clean_batch, drop_batch, monitor

    remote = root_for("memory", tmp_path)
    monkeypatch.setenv(storage.REGISTRY_ENV, location(remote))
    monkeypatch.setenv(SIGNING_KEY_ENV, str(keys.path(PIPELINE)))  # the run is CI's
    project = make_project(tmp_path / "project", signoff__approvers=["alice"])
    keys.install(project)
    with DagsterInstance.ephemeral() as instance:
        assert run_graph(project, instance).success
    staged = registry.get_alias(remote, "staging")
    assert staged and read_json(project / "reports/staging.json")["version"] == staged
    trust = signoff.Trust.of(project, load_params(project).signoff)
    signoff.approve(remote, staged, keys.signer("alice"), "reviewed", trust)
    signoff.request_promotion(remote, staged, keys.signer("alice"), trust)
    signoff.promote_to_production(remote, staged, trust)
    drop_batch(project, "clean", clean_batch(project))
    with instance_for_test() as instance:
        assert monitor(project, instance, "clean").success
    assert storage.read_or_none(remote / "references" / f"{staged}.parquet") is not None
    log = decision_log.read_log(next((remote / "decision_log" / "clean").iterdir()))
    assert set(log["role"]) == {"production"} and set(log["model_version"]) == {staged}
    report = audit.verify(remote, None, trust)
    assert report.problems == [] and report.notices == [NO_WITNESS]
    assert not (project / "registry").exists()
    storage.delete_tree(remote)
