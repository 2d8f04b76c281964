"""A content-addressed model registry: immutable versions, aliases moved under a lock.

A version is the model file plus its evidence, named by the hash of all of them, and never
rewritten. The ledger is the source of truth: a version exists once its `register` entry is
committed there (with the sha256 of every file), and an alias points where its last `alias`
entry says. `aliases/<alias>.json` is a copy for people and DVC, rewritten after each move. A
model whose bytes do not match the ledger's sha256 is never loaded, whatever its manifest says.

The root is a local folder or a UPath on object storage (core/record/storage.py). Locally a
version is copied into a temporary folder and renamed into place; an object store cannot rename
a folder, so there the files are put straight into `versions/<id>/`, read back and hashed, and
the manifest goes last. Either way the version exists only once its ledger entry is committed: a
folder a killed writer left without one is never loaded, and on object storage the next
registration of the same bytes replaces it (it was never a version, so nothing immutable is
overwritten)."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..files import read_json, sha256_of_file, write_bytes_atomic, write_json_atomic
from ..model import model_files
from ..trust.signatures import Signer
from . import ledger, model_signature, storage

MODEL_FILE = "model.skops"   # never a pickle: core/model/model_files.py


class RegistryError(RuntimeError):
    """The registry refused an operation; the message says which version and why."""


def _version_id(hashes: dict[str, str]) -> str:
    digest = hashlib.sha256(json.dumps(hashes, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def _copy_verified(files: dict[str, Path], expected: dict[str, str], into: Path
                   ) -> dict[str, str]:
    """Copy, then hash the copies: what is stored is exactly what the gates judged, or nothing."""
    hashes = {}
    for name, path in files.items():
        shutil.copyfile(path, into / name)
        hashes[name] = sha256_of_file(into / name)
        if name in expected and hashes[name] != expected[name]:
            raise RegistryError(
                f"{path}: sha256 {hashes[name][:12]}… is not the {expected[name][:12]}… the gates "
                f"judged; it changed after evaluation, so it is not registered")
    return hashes


def registration(root: storage.RegistryPath, version: str) -> dict | None:
    """The ledger's register entry of a version: the only record its files are checked against."""
    return ledger.last_entry(root, "register", version=version)


def _ledgered(root: storage.RegistryPath, version: str) -> dict:
    entry = registration(root, version)
    if entry is None:
        known = (root / "versions" / version).is_dir()
        raise RegistryError(
            f"unknown version {version}: not in the registry's ledger"
            + (" (its folder exists but was never registered: it is never loaded or promoted)"
               if known else "; `governance list` shows the registered versions"))
    return entry


def register(root: storage.RegistryPath, model: Path, evidence: dict[str, Path], metadata: dict,
             expected: dict[str, str] | None = None) -> dict:
    """Store model + evidence as a new version, or return the identical one already stored.

    `expected` maps stored file names to the sha256 their verdicts were bound to; any copy whose
    bytes differ is refused and nothing is stored. The version counts once its ledger entry is
    committed; a folder left by a killed writer is completed (or refused) on the next call.
    With a pipeline key the folder is also signed for consumers (core/record/model_signature.py).
    """
    files = {MODEL_FILE: model, **evidence}
    if storage.is_object_store(root):
        with ledger.registry_lock(root):
            return _register_objects(root, files, expected or {}, metadata)
    with ledger.registry_lock(root):
        for abandoned in root.glob(".incoming-*"):  # left by a writer killed mid-copy
            shutil.rmtree(abandoned, ignore_errors=True)
        incoming = Path(tempfile.mkdtemp(dir=root, prefix=".incoming-"))
        try:
            hashes = _copy_verified(files, expected or {}, incoming)
            version = _version_id(hashes)
            target = root / "versions" / version
            if target.exists():
                return _existing(root, version, hashes, metadata)
            manifest = {"version": version, "created": ledger.now(), "files": hashes,
                        "model_sha256": hashes[MODEL_FILE], "metadata": metadata}
            write_json_atomic(incoming / "manifest.json", manifest)
            signature = model_signature.sign_version(incoming, version, [*hashes, "manifest.json"])
            target.parent.mkdir(parents=True, exist_ok=True)
            ledger.crash_point("register:before-rename")
            incoming.rename(target)
            ledger.crash_point("register:before-ledger")
            _ledger_registration(root, manifest, signature)
            return manifest
        finally:
            shutil.rmtree(incoming, ignore_errors=True)


def _put_verified(files: dict[str, Path], expected: dict[str, str],
                  into: storage.RegistryPath) -> None:
    """Put each file, then hash the stored object as read back: what the store holds is what
    the gates judged, or the registration stops here (before any manifest or ledger entry)."""
    for name, path in files.items():
        write_bytes_atomic(into / name, path.read_bytes())
        stored = sha256_of_file(into / name)
        if stored != expected[name]:
            raise RegistryError(f"{storage.describe(into / name)}: stored sha256 {stored[:12]}… "
                                f"is not {expected[name][:12]}… of {path}; not registered")


def _register_objects(root: storage.RegistryPath, files: dict[str, Path],
                      expected: dict[str, str], metadata: dict) -> dict:
    """register() on object storage; the caller holds the registry lock."""
    hashes = {name: sha256_of_file(path) for name, path in files.items()}
    for name, digest in hashes.items():
        if name in expected and digest != expected[name]:
            raise RegistryError(
                f"{files[name]}: sha256 {digest[:12]}… is not the {expected[name][:12]}… the "
                "gates judged; it changed after evaluation, so it is not registered")
    version = _version_id(hashes)
    if registration(root, version) is not None:
        return _existing(root, version, hashes, metadata)
    target = root / "versions" / version
    storage.delete_tree(target)  # a killed writer's partial upload: never a version
    ledger.crash_point("register:before-rename")
    _put_verified(files, hashes, target)
    manifest = {"version": version, "created": ledger.now(), "files": hashes,
                "model_sha256": hashes[MODEL_FILE], "metadata": metadata}
    write_json_atomic(target / "manifest.json", manifest)
    signature = model_signature.sign_version(target, version, [*hashes, "manifest.json"])
    ledger.crash_point("register:before-ledger")
    _ledger_registration(root, manifest, signature)
    return manifest


def _existing(root: storage.RegistryPath, version: str, hashes: dict[str, str],
              metadata: dict) -> dict:
    """Same bytes again: idempotent. A folder without its ledger entry is checked, then entered."""
    stored = read_json(root / "versions" / version / "manifest.json")
    on_disk = {name: sha256_of_file(root / "versions" / version / name) for name in hashes}
    if stored["files"] != hashes or on_disk != hashes:
        raise RegistryError(f"version {version} exists with different content; a version is "
                            "never overwritten")
    if registration(root, version) is None:
        signature = root / "versions" / version / model_signature.SIGNATURE_FILE
        _ledger_registration(root, {**stored, "metadata": metadata},
                             sha256_of_file(signature) if signature.exists() else None)
    return stored


def _ledger_registration(root: storage.RegistryPath, manifest: dict,
                         signature_sha256: str | None) -> dict:
    """The register entry; `model_signature_sha256` binds the consumers' model.sig (or None)."""
    meta = manifest["metadata"]
    return ledger.append_locked(root, "register", {
        "version": manifest["version"], "files": manifest["files"],
        "model_sha256": manifest["model_sha256"], "model_signature_sha256": signature_sha256,
        "run_id": meta.get("dagster_run_id"),
        "decision": meta.get("decision"), "policy_hash": meta.get("policy_hash"),
        "dataset": meta.get("dataset")})


def _alias_file(root: storage.RegistryPath, alias: str) -> storage.RegistryPath:
    return root / "aliases" / f"{alias}.json"


def init_registry(root: storage.RegistryPath, local_pointer: Path | None = None) -> None:
    """Create the production pointer the evaluate stage depends on (empty until promoted).

    DVC hashes only local files. With the registry on object storage, `local_pointer` (the
    project's `registry/aliases/production.json`, which dvc.yaml names) receives a copy of the
    production alias as the ledger has it now, so a move made elsewhere still re-runs
    evaluation. The gates never read this copy: no_regression reads the alias through the
    ledger and binds it into its verdict's fingerprint.
    """
    pointer = _alias_file(root, "production")
    if storage.read_or_none(pointer) is None:
        write_json_atomic(pointer, {"alias": "production", "version": None})
    if local_pointer is not None and storage.is_object_store(root):
        entry = alias_entry(root, "production")
        copy = ({"alias": "production", "version": None} if entry is None else
                _pointer(entry) | {"registry": storage.describe(root)})
        if not local_pointer.is_file() or read_json(local_pointer) != copy:
            write_json_atomic(local_pointer, copy)


def alias_entry(root: storage.RegistryPath, alias: str) -> dict | None:
    """The ledger entry the alias rests on (who moved it, from which run, on which verdicts)."""
    return ledger.last_entry(root, "alias", alias=alias)


def get_alias(root: storage.RegistryPath, alias: str) -> str | None:
    """The version an alias points at, as the ledger records it."""
    entry = alias_entry(root, alias)
    return entry["data"]["version"] if entry else None


def alias_history(root: storage.RegistryPath, alias: str | None = None) -> list[dict]:
    """Every alias move, oldest first, as ledger entries."""
    moves = ledger.entries(root, ("alias",))
    return [m for m in moves if alias is None or m["data"]["alias"] == alias]


def set_alias(root: storage.RegistryPath, alias: str, version: str, reason: str,
              signer: Signer | None = None, **grounds: object) -> dict:
    """Point alias at a registered version: one ledger entry (the commit), then the alias file.

    `grounds` (run id, decision record, approval, ...) go into the entry, so every move names
    what it rests on.
    """
    with ledger.registry_lock(root):
        return set_alias_locked(root, alias, version, reason, signer, **grounds)


def set_alias_locked(root: storage.RegistryPath, alias: str, version: str, reason: str,
                     signer: Signer | None = None, **grounds: object) -> dict:
    """set_alias() for a caller holding the lock, signed by `signer` (default: the pipeline
    key, when set). A move between two versions of byte-identical models says so in its
    reason: it changes the evidence on record, not the model in service."""
    model = _ledgered(root, version)["data"]["model_sha256"]
    previous = get_alias(root, alias)
    move = {"alias": alias, "version": version, "previous": previous, "reason": reason,
            **grounds}
    if previous not in (None, version) and _model_of(root, previous) == model:
        move["same_model"] = model
        move["reason"] = f"{reason}; {same_model_note(move)}"
    entry = ledger.append_locked(root, "alias", move, signer)
    ledger.crash_point("alias:before-file")
    _write_alias_file(root, alias, entry)
    return entry


def _model_of(root: storage.RegistryPath, version: str) -> str | None:
    entry = registration(root, version)
    return entry["data"]["model_sha256"] if entry else None


def same_model_note(move: dict) -> str:
    """What an alias move between byte-identical models does, in words (ledger and output)."""
    return (f"{move['version']} has the same model bytes as {move['previous']} (sha256 "
            f"{move['same_model'][:12]}): the model in service does not change, only the "
            "evidence on record")


def _pointer(entry: dict) -> dict:
    return {"alias": entry["data"]["alias"], "version": entry["data"]["version"],
            "ledger_seq": entry["seq"], "ledger_hash": entry["hash"]}


def _write_alias_file(root: storage.RegistryPath, alias: str, entry: dict) -> None:
    write_json_atomic(_alias_file(root, alias), _pointer(entry))


def manifest(root: storage.RegistryPath, version: str) -> dict:
    path = root / "versions" / version / "manifest.json"
    if storage.read_or_none(path) is None:
        raise RegistryError(f"unknown registry version {version}")
    return read_json(path)


def versions(root: storage.RegistryPath) -> list[dict]:
    """Registered versions (ledger register entries), oldest first."""
    return ledger.entries(root, ("register",))


def _verified_model_bytes(root: storage.RegistryPath, version: str) -> bytes:
    """The model bytes, read once, only if their sha256 is the one the ledger recorded."""
    registered = _ledgered(root, version)["data"]
    if MODEL_FILE not in registered["files"]:
        raise RegistryError(f"version {version} holds no {MODEL_FILE}: it was registered "
                            f"with {sorted(registered['files'])}, and a model stored as a "
                            "pickle is never loaded (it could run code); register the model "
                            "again by re-running the pipeline")
    data = storage.read_or_none(root / "versions" / version / MODEL_FILE)
    if data is None:
        raise RegistryError(f"version {version}: {MODEL_FILE} is missing")
    actual, expected = hashlib.sha256(data).hexdigest(), registered["model_sha256"]
    if actual != expected:
        raise RegistryError(f"version {version}: {MODEL_FILE} sha256 {actual[:12]} does not "
                            f"match the registry's {expected[:12]} (ledger); refusing to load it")
    return data


def load_model(root: storage.RegistryPath, version: str, also_trusted: Sequence[str] = ()):
    """The version's model, from the bytes whose sha256 the ledger recorded when the gates
    passed them, with skops and the project's trusted types (core/model/model_files.py).

    The bytes are read once, checked, and loaded from memory: a file swapped between check and
    load is never what gets loaded, and nothing in them is ever unpickled.
    """
    source = storage.describe(root / "versions" / version / MODEL_FILE)
    return model_files.loads(_verified_model_bytes(root, version), source, also_trusted)
