"""The ledger and the ledger-backed registry, with real processes: tampering of every kind,
concurrent writers and promoters, kill -9 inside a promotion, a swapped model, a planted lock.

Each test runs on every registry backend (tests/registry_backends.py): a local folder, a
file:// URL and memory://, the last two through fsspec with object-store semantics. A test
with several processes runs on the two that processes can share."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sklearn.dummy import DummyClassifier

from governance_assets.core.decide import decisions
from governance_assets.core.files import read_json
from governance_assets.core.model import model_files
from governance_assets.core.record import audit, ledger, registry, storage

from .registry_backends import backend, location, only_multi_process, registry_root

__all__ = ["backend", "registry_root"]  # fixtures, used by name

PYTHON = sys.executable


def make_files(folder: Path, constant: int) -> tuple[Path, dict[str, Path]]:
    """A model and the evidence files a registry version holds."""
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / "model.skops"
    classifier = DummyClassifier(strategy="constant", constant=constant % 2,
                                 random_state=constant)
    model.write_bytes(model_files.dumps(classifier.fit([[0], [1]], [0, 1])))
    evidence = {}
    for name, text in (("model_card.json", f'{{"model": {constant}}}'),
                       ("decision.json", '{"decision": "promote"}')):
        (folder / name).write_text(text)
        evidence[name] = folder / name
    return model, evidence


def register(root: storage.RegistryPath, folder: Path, constant: int,
             decision: str = "promote") -> str:
    model, evidence = make_files(folder, constant)
    return registry.register(root, model, evidence, {"decision": decision})["version"]


def filled_ledger(root: storage.RegistryPath, count: int = 12) -> None:
    for number in range(count):
        ledger.append(root, "verdict", {"gate": f"g{number}", "outcome": "pass"})


def lines_of(root: storage.RegistryPath) -> list[str]:
    return (root / ledger.LEDGER_FILE).read_text().splitlines(keepends=True)


def write_lines(root: storage.RegistryPath, lines: list[str]) -> None:
    (root / ledger.LEDGER_FILE).write_text("".join(lines))


def unsigned_outside_git(entries: int) -> list[str]:
    """The notices `verify` gives for an intact ledger of unsigned entries (no pipeline key) in
    a folder no git repository holds (no witness ref): exactly these, nothing lagging or torn."""
    return [f"{entries} entries carry no SSH signature (unsigned local runs): their authorship "
            "rests on who can write the folder",
            "no git repository around the registry: no witness of its head outside the folder "
            "(docs/registry.md: threat model)"]


def first_problem(root: storage.RegistryPath, anchor: str | None = None) -> str:
    report = audit.verify(root, anchor)
    assert report.problems, "tampering went undetected"
    return report.problems[0]


def test_an_intact_ledger_verifies(registry_root):
    filled_ledger(registry_root)
    report = audit.verify(registry_root)
    assert report.problems == [] and report.entries == 12 and report.head["seq"] == 11


def test_an_edited_entry_is_named(registry_root):
    filled_ledger(registry_root)
    lines = lines_of(registry_root)
    lines[5] = lines[5].replace('"outcome":"pass"', '"outcome":"fail"')
    write_lines(registry_root, lines)
    assert "entry #5" in first_problem(registry_root) and "edited" in first_problem(registry_root)


def test_a_deleted_entry_is_named(registry_root):
    filled_ledger(registry_root)
    lines = lines_of(registry_root)
    del lines[4]
    write_lines(registry_root, lines)
    assert "line 5" in first_problem(registry_root)


def test_reordered_entries_are_named(registry_root):
    filled_ledger(registry_root)
    lines = lines_of(registry_root)
    lines[3], lines[4] = lines[4], lines[3]
    write_lines(registry_root, lines)
    assert "line 4" in first_problem(registry_root)


def test_a_truncated_ledger_is_caught_by_its_head(registry_root):
    filled_ledger(registry_root)
    write_lines(registry_root, lines_of(registry_root)[:9])
    assert "ends at #8" in first_problem(registry_root)
    text = "".join(lines_of(registry_root))
    (registry_root / ledger.LEDGER_FILE).write_text(text[: len(text) - 40])
    assert "ends at #7" in first_problem(registry_root)


def _rehash_from(root: storage.RegistryPath, number: int, key: bytes | None = None) -> None:
    """The attacker who edits an entry and recomputes every later hash and the head file."""
    entries = [json.loads(line) for line in lines_of(root)]
    entries[number]["data"]["outcome"] = "forged"
    previous = entries[number - 1]["hash"]
    for entry in entries[number:]:
        entry["prev"] = previous
        body = {k: v for k, v in entry.items() if k != "hash"}
        entry["hash"] = previous = ledger.entry_hash({**body, "alg": "sha256"}, key)
        entry["alg"] = "sha256"
    write_lines(root, [ledger.canonical(e) + "\n" for e in entries])
    (root / ledger.HEAD_FILE).write_text(json.dumps({"seq": entries[-1]["seq"],
                                                     "hash": previous}))


def test_a_rehashed_ledger_is_caught_by_an_anchor(registry_root):
    filled_ledger(registry_root)
    anchor = audit.verify(registry_root).head
    _rehash_from(registry_root, 3)
    assert audit.verify(registry_root).problems == [], "a bare chain cannot see a full re-hash"
    problem = first_problem(registry_root, f"{anchor['seq']}:{anchor['hash']}")
    assert "anchored" in problem and "#11" in problem


def test_a_rehashed_ledger_is_caught_by_the_hmac_key(registry_root, monkeypatch):
    monkeypatch.setenv(ledger.KEY_ENV, "secret held by the risk team")
    filled_ledger(registry_root)
    assert audit.verify(registry_root).problems == []
    _rehash_from(registry_root, 3)
    assert "entry #3" in first_problem(registry_root)
    assert "not HMAC-signed" in first_problem(registry_root)


WRITER = """
import sys
from pathlib import Path
from governance_assets.core.record import ledger, storage
root, name = storage.resolve_root(Path.cwd(), sys.argv[1]), sys.argv[2]
for number in range(int(sys.argv[3])):
    ledger.append(root, "verdict", {"gate": name, "n": number})
"""


def test_concurrent_writer_processes_never_interleave_or_lose_an_entry(backend, registry_root):
    only_multi_process(backend)
    writers = [subprocess.Popen([PYTHON, "-c", WRITER, location(registry_root), f"w{n}", "60"])
               for n in range(4)]
    assert [w.wait() for w in writers] == [0] * 4
    report = audit.verify(registry_root)
    assert report.problems == [] and report.entries == 240
    seen = {(e["data"]["gate"], e["data"]["n"]) for e in ledger.entries(registry_root)}
    assert seen == {(f"w{n}", i) for n in range(4) for i in range(60)}


PROMOTER = """
import sys
from pathlib import Path
from tests.test_ledger import register
from governance_assets.core.record import registry, storage
root = storage.resolve_root(Path.cwd(), sys.argv[1])
folder, constant = Path(sys.argv[2]), int(sys.argv[3])
for number in range(15):
    version = register(root, folder / str(number % 3), constant + 10 * (number % 3))
    registry.set_alias(root, "staging", version, f"promoter {constant}")
"""


def test_two_concurrent_promoter_processes_leave_a_consistent_registry(backend, registry_root,
                                                                      tmp_path):
    only_multi_process(backend)
    root = registry_root
    promoters = [subprocess.Popen([PYTHON, "-c", PROMOTER, location(root), str(tmp_path / f"p{c}"),
                                   str(c)], cwd=Path(__file__).parents[1]) for c in (1, 2)]
    assert [p.wait() for p in promoters] == [0, 0]
    report = audit.verify(root)
    assert report.problems == [] and report.notices == unsigned_outside_git(report.entries)
    assert len(registry.versions(root)) == 6 and len(registry.alias_history(root)) == 30
    pointer = read_json(root / "aliases" / "staging.json")
    assert pointer["version"] == registry.get_alias(root, "staging")
    assert not list(root.glob(".incoming-*"))


KILLED = """
import sys
from pathlib import Path
from tests.test_ledger import register
from governance_assets.core.record import registry, storage
root, folder = storage.resolve_root(Path.cwd(), sys.argv[1]), Path(sys.argv[2])
version = register(root, folder, 7)
registry.set_alias(root, "staging", version, "the new one")
"""
CRASH_POINTS = ("register:before-rename", "register:before-ledger", "ledger:before-write",
                "ledger:torn-line", "ledger:before-head", "alias:before-file")


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_kill_9_inside_a_promotion_leaves_the_old_or_the_new_state(backend, registry_root,
                                                                   tmp_path, point, monkeypatch):
    only_multi_process(backend)
    if point == "ledger:torn-line" and storage.is_object_store(registry_root):
        pytest.skip("an object is put whole: no writer can leave half a line in it")
    # The killed writer's lock object stays behind on object storage (no flock to release):
    # the retry below takes it over once it is stale.
    monkeypatch.setenv("GOVERNANCE_LOCK_STALE_SECONDS", "1")
    root = registry_root
    old = register(root, tmp_path / "old", 1)
    registry.set_alias(root, "staging", old, "the old one")
    killed = subprocess.run([PYTHON, "-c", KILLED, location(root), str(tmp_path / "new")],
                            cwd=Path(__file__).parents[1],
                            env={**os.environ, "GOVERNANCE_CRASH_AT": point})
    assert killed.returncode == -9, f"the crash point {point} was never reached"
    staged = registry.get_alias(root, "staging")
    assert staged == old or registry.registration(root, staged) is not None
    assert audit.verify(root).problems == []
    assert registry.load_model(root, staged) is not None
    again = register(root, tmp_path / "new", 7)
    registry.set_alias(root, "staging", again, "retried")
    report = audit.verify(root)
    assert report.problems == [] and report.notices == unsigned_outside_git(report.entries)
    assert registry.get_alias(root, "staging") == again
    assert read_json(root / "aliases" / "staging.json")["version"] == again


def test_versions_are_immutable_and_different_bytes_are_refused(tmp_path, registry_root):
    root = registry_root
    version = register(root, tmp_path / "a", 1)
    assert register(root, tmp_path / "a", 1) == version
    assert len(registry.versions(root)) == 1
    stored = root / "versions" / version / "model_card.json"
    stored.write_text('{"model": "edited"}')
    with pytest.raises(registry.RegistryError, match="exists with different content"):
        register(root, tmp_path / "a", 1)


def test_a_model_swapped_with_its_manifest_is_never_loaded(tmp_path, registry_root):
    root = registry_root
    version = register(root, tmp_path / "a", 1)
    other = register(root, tmp_path / "b", 0)
    folder, source = root / "versions" / version, root / "versions" / other
    (folder / registry.MODEL_FILE).write_bytes((source / registry.MODEL_FILE).read_bytes())
    manifest = read_json(folder / "manifest.json")
    manifest["files"][registry.MODEL_FILE] = manifest["model_sha256"] = \
        read_json(source / "manifest.json")["model_sha256"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(registry.RegistryError, match="refusing to load it"):
        registry.load_model(root, version)
    problem = first_problem(root)
    assert version in problem and "model.skops sha256 differs from the ledger" in problem


def test_a_version_folder_never_registered_is_never_loaded(tmp_path, registry_root):
    root = registry_root
    version = register(root, tmp_path / "a", 1)
    planted = root / "versions" / "0123456789abcdef"
    planted.mkdir()
    (planted / registry.MODEL_FILE).write_bytes(
        (root / "versions" / version / registry.MODEL_FILE).read_bytes())
    with pytest.raises(registry.RegistryError, match="never registered"):
        registry.load_model(root, planted.name)
    with pytest.raises(registry.RegistryError, match="unknown version"):
        registry.set_alias(root, "staging", planted.name, "planted")


def test_a_planted_lock_symlink_is_refused_and_its_target_untouched(tmp_path):
    """Local only: object stores have no symlinks, and their lock is an object (no flock)."""
    root = tmp_path / "registry"
    version = register(root, tmp_path / "a", 1)
    victim = tmp_path / "precious.txt"
    victim.write_text("do not truncate me")
    (root / ledger.LOCK_FILE).unlink()
    (root / ledger.LOCK_FILE).symlink_to(victim)
    with pytest.raises(ledger.LedgerError, match="symlink"):
        registry.set_alias(root, "staging", version, "through a planted lock")
    assert victim.read_text() == "do not truncate me"
    assert registry.get_alias(root, "staging") is None


def test_a_forged_alias_file_is_named(tmp_path, registry_root):
    root = registry_root
    first = register(root, tmp_path / "a", 1)
    second = register(root, tmp_path / "b", 0)
    registry.set_alias(root, "staging", first, "first")
    pointer = read_json(root / "aliases" / "staging.json")
    (root / "aliases" / "staging.json").write_text(json.dumps({**pointer, "version": second}))
    assert registry.get_alias(root, "staging") == first, "the ledger, not the file, decides"
    assert "aliases/staging.json" in first_problem(root)


def test_a_policy_change_is_a_ledger_entry_listing_the_changed_keys(registry_root):
    record = {"decision": "promote", "run_id": "r", "trigger": "manual",
              "candidate_sha256": None, "refused_by": [], "policy_hash": "a" * 64,
              "policy": {"min_auc": 0.7, "max_psi": 0.25}, "standings_digest": "d" * 64}
    decisions._ledger_decision(registry_root, record, "decisions/one.json", "1" * 64)
    decisions._ledger_decision(registry_root, record, "decisions/two.json", "2" * 64)
    changed = {**record, "policy_hash": "b" * 64, "policy": {"min_auc": 0.75, "max_psi": 0.25}}
    decisions._ledger_decision(registry_root, changed, "decisions/three.json", "3" * 64)
    policies = ledger.entries(registry_root, ("policy",))
    assert [p["data"]["changed_keys"] for p in policies] == [["max_psi", "min_auc"], ["min_auc"]]
    assert len(ledger.entries(registry_root, ("decision",))) == 3
