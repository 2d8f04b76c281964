"""OpenSSF model-signing signatures of registry versions, checked the way a consumer outside the
project checks them: the `model_signing verify key` command of the installed package, in its own
process, with a public key exported from the OpenSSH pipeline key by `ssh-keygen`.

Keys are real OpenSSH keys made by `ssh-keygen` in a temporary folder."""

import base64
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from governance_assets.core.files import sha256_of_file
from governance_assets.core.record import audit, model_signature, registry, storage

from .conftest import REPO, make_project
from .registry_backends import root_for
from .test_ledger import make_files

MODEL_SIGNING = REPO / ".venv" / "bin" / "model_signing"
GOVERNANCE = REPO / ".venv" / "bin" / "governance"


def ssh_key(folder: Path, kind: str) -> Path:
    """A passphrase-less OpenSSH key pair made by ssh-keygen; returns the private key file."""
    folder.mkdir(parents=True, exist_ok=True)
    private = folder / f"pipeline_{kind}"
    bits = ["-b", "256"] if kind == "ecdsa" else []
    subprocess.run(["ssh-keygen", "-q", "-t", kind, *bits, "-N", "", "-C", "pipeline",
                    "-f", str(private)], check=True)
    return private


def ecdsa_key(folder: Path) -> tuple[Path, Path]:
    """An ECDSA P-256 pipeline key and its public key as PEM, exported as the README says."""
    private = ssh_key(folder, "ecdsa")
    pem = subprocess.run(["ssh-keygen", "-e", "-m", "PKCS8", "-f", f"{private}.pub"],
                         check=True, capture_output=True, text=True).stdout
    public = folder / "pipeline.pub.pem"
    public.write_text(pem)
    return private, public


@pytest.fixture
def pipeline_key(tmp_path, monkeypatch) -> Path:
    """GOVERNANCE_SIGNING_KEY set to an ECDSA P-256 key; returns its public key as PEM."""
    private, public = ecdsa_key(tmp_path / "keys")
    monkeypatch.setenv(model_signature.KEY_ENV, str(private))
    return public


def consumer_verifies(folder: Path, public_key: Path) -> subprocess.CompletedProcess:
    """The standard command a consumer runs on a downloaded version folder."""
    return subprocess.run([str(MODEL_SIGNING), "verify", "key", str(folder), "--signature",
                           str(folder / model_signature.SIGNATURE_FILE),
                           "--public_key", str(public_key)], capture_output=True, text=True)


def flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def register(root: storage.RegistryPath, folder: Path) -> dict:
    model, evidence = make_files(folder, 1)
    return registry.register(root, model, evidence, {"decision": "promote"})


@pytest.mark.parametrize("backend", ["local", "file"])
@pytest.mark.parametrize("changed", [registry.MODEL_FILE, "model_card.json", "manifest.json"])
def test_the_model_signing_cli_verifies_a_version_and_refuses_a_changed_byte(
        tmp_path, pipeline_key, backend, changed):
    root = root_for(backend, tmp_path)
    version = register(root, tmp_path / "files")["version"]
    folder = tmp_path / "registry" / "versions" / version  # file:// is this folder too
    verified = consumer_verifies(folder, pipeline_key)
    assert verified.returncode == 0, verified.stderr
    assert "Verification succeeded" in verified.stdout
    entry = registry.registration(root, version)
    assert entry["data"]["model_signature_sha256"] == sha256_of_file(
        folder / model_signature.SIGNATURE_FILE)
    flip_one_byte(folder / changed)
    refused = consumer_verifies(folder, pipeline_key)
    assert refused.returncode == 1
    assert "Hash mismatch for" in refused.stderr and changed in refused.stderr


def test_the_signed_statement_names_the_version_and_every_file_in_it(tmp_path, pipeline_key):
    root = tmp_path / "registry"
    stored = register(root, tmp_path / "files")
    bundle = json.loads((root / "versions" / stored["version"] / "model.sig").read_text())
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    assert [subject["name"] for subject in statement["subject"]] == [stored["version"]]
    signed = {item["name"]: item["digest"] for item in statement["predicate"]["resources"]}
    manifest = root / "versions" / stored["version"] / "manifest.json"
    assert signed == {**stored["files"], "manifest.json": sha256_of_file(manifest)}


def test_a_signature_kept_apart_still_verifies_the_folder_holding_model_sig(tmp_path,
                                                                           pipeline_key):
    """A consumer may keep the signature elsewhere: the folder's own model.sig is not a file of
    the model (the statement lists it among the ignored paths)."""
    root = tmp_path / "registry"
    folder = root / "versions" / register(root, tmp_path / "files")["version"]
    apart = tmp_path / "apart.sig"
    apart.write_bytes((folder / model_signature.SIGNATURE_FILE).read_bytes())
    verified = subprocess.run([str(MODEL_SIGNING), "verify", "key", str(folder), "--signature",
                               str(apart), "--public_key", str(pipeline_key)],
                              capture_output=True, text=True)
    assert verified.returncode == 0, verified.stderr


def test_another_key_does_not_verify(tmp_path, pipeline_key):
    root = tmp_path / "registry"
    version = register(root, tmp_path / "files")["version"]
    _, stranger = ecdsa_key(tmp_path / "stranger")
    refused = consumer_verifies(root / "versions" / version, stranger)
    assert refused.returncode == 1 and "Key mismatch" in refused.stderr


def test_the_signature_never_changes_the_version_id(tmp_path, monkeypatch):
    unsigned = register(tmp_path / "unsigned", tmp_path / "files")
    private, public = ecdsa_key(tmp_path / "keys")
    monkeypatch.setenv(model_signature.KEY_ENV, str(private))
    root = tmp_path / "signed"
    first = register(root, tmp_path / "files")
    signature = root / "versions" / first["version"] / model_signature.SIGNATURE_FILE
    signed_bytes = signature.read_bytes()
    again = register(root, tmp_path / "files")
    assert first["version"] == again["version"] == unsigned["version"]
    assert "model.sig" not in first["files"]
    assert signature.read_bytes() == signed_bytes  # the same version is not re-signed
    assert len(registry.versions(root)) == 1
    assert consumer_verifies(root / "versions" / first["version"], public).returncode == 0


def test_an_ed25519_pipeline_key_is_refused_before_anything_is_registered(tmp_path, monkeypatch):
    private = ssh_key(tmp_path / "keys", "ed25519")
    monkeypatch.setenv(model_signature.KEY_ENV, str(private))
    root = tmp_path / "registry"
    with pytest.raises(model_signature.ModelSignatureError,
                       match=r"Ed25519 key.*ssh-keygen -t ecdsa -b 256"):
        register(root, tmp_path / "files")
    assert registry.versions(root) == []
    assert not list((root / "versions").glob("*")) and not list(root.glob(".incoming-*"))


def test_a_replaced_signature_is_named_by_verify(tmp_path, pipeline_key):
    root = tmp_path / "registry"
    version = register(root, tmp_path / "files")["version"]
    signature = root / "versions" / version / model_signature.SIGNATURE_FILE
    assert not audit.verify(root).problems
    resigned = tmp_path / "resigned"
    resigned.mkdir()
    (resigned / "x").write_text("other bytes")
    model_signature.sign_folder(resigned, model_signature.pipeline_key())
    signature.write_bytes((resigned / model_signature.SIGNATURE_FILE).read_bytes())
    problems = audit.verify(root).problems
    assert problems and "model.sig sha256 differs from the ledger" in problems[0]


def _show(project: Path, version: str, environment: dict) -> str:
    shown = subprocess.run([str(GOVERNANCE), "--root", str(project), "show", version],
                           capture_output=True, text=True, env=environment)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    return shown.stdout


def test_show_prints_the_consumer_command_that_verifies_or_says_unsigned(tmp_path, monkeypatch):
    project = make_project(tmp_path / "project")
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                   "DAGSTER_HOME": str(project / ".dagster")}
    unsigned = register(project / "registry", tmp_path / "a")["version"]
    assert model_signature.UNSIGNED in _show(project, unsigned, environment)
    private, public = ecdsa_key(tmp_path / "keys")
    monkeypatch.setenv(model_signature.KEY_ENV, str(private))
    model, evidence = make_files(tmp_path / "b", 0)
    signed = registry.register(project / "registry", model, evidence, {})["version"]
    lines = _show(project, signed, environment).splitlines()
    command = next(line for line in lines if "consumers verify:" in line).split(": ", 1)[1]
    arguments = shlex.split(command.replace(model_signature.PUBLIC_KEY_HINT, str(public)))
    assert arguments[:3] == ["model_signing", "verify", "key"]
    run = subprocess.run([str(MODEL_SIGNING), *arguments[1:]], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert model_signature.UNSIGNED not in "\n".join(lines)


KILLED = """
import sys
from pathlib import Path
from tests.test_model_signature import register
register(Path(sys.argv[1]), Path(sys.argv[2]))
"""


def test_a_version_left_by_a_killed_signed_writer_keeps_its_verified_signature(tmp_path,
                                                                               pipeline_key):
    root = tmp_path / "registry"
    killed = subprocess.run([sys.executable, "-c", KILLED, str(root), str(tmp_path / "files")],
                            cwd=REPO, env={**os.environ,
                                           "GOVERNANCE_CRASH_AT": "register:before-ledger"})
    assert killed.returncode == -9, "the crash point was never reached"
    assert registry.versions(root) == []
    version = register(root, tmp_path / "files")["version"]
    folder = root / "versions" / version
    assert registry.registration(root, version)["data"]["model_signature_sha256"] == (
        sha256_of_file(folder / model_signature.SIGNATURE_FILE))
    assert consumer_verifies(folder, pipeline_key).returncode == 0
    assert not audit.verify(root).problems
