"""OpenSSF model-signing signatures of registry versions, for consumers outside the project.

The ledger proves a version to this project's own tools. Someone who downloads a version folder
needs a check of their own: the pipeline key (`GOVERNANCE_SIGNING_KEY`, an OpenSSH private key,
the one that signs the pipeline's ledger entries) signs every file of the folder, manifest.json
included, into `model.sig`, a Sigstore bundle in the format of the `model-signing` package. The
standard command checks it with nothing from this project (see `consumer_command`).

model-signing 1.1 signs with elliptic-curve keys only (NIST P-256, P-384, P-521): an Ed25519 or
RSA pipeline key is refused, naming the `ssh-keygen` command that makes one it accepts. The
signature is not one of the version's files: ECDSA signatures differ at each signing, so the
version id (a hash of the files' hashes) never depends on it; the ledger's register entry
records its sha256 instead.
"""

from __future__ import annotations

import secrets
import shlex
import tempfile
from collections.abc import Iterable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ..files import sha256_of_file, write_bytes_atomic
from ..trust.signatures import SIGNING_KEY_ENV as KEY_ENV
from ..trust.signatures import pipeline_signer
from . import storage

SIGNATURE_FILE = "model.sig"
SUPPORTED_CURVES = ("secp256r1", "secp384r1", "secp521r1")
PUBLIC_KEY_HINT = "governance/pipeline.pub.pem"
UNSIGNED = "unsigned local run: no model-signing signature"


class ModelSignatureError(RuntimeError):
    """The pipeline key cannot make a model-signing signature; the message says why and how."""


def pipeline_key() -> Path | None:
    """The pipeline's private key file, when this run has one (CI sets it; a laptop may not)."""
    signer = pipeline_signer()
    return signer.key if signer else None


def _load_signing_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The pipeline key as model-signing can use it, or one paragraph on what to change."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelSignatureError(
            f"{KEY_ENV}={path}: cannot read the key ({exc.strerror})") from exc
    loader = (serialization.load_ssh_private_key if b"OPENSSH PRIVATE KEY" in data
              else serialization.load_pem_private_key)
    try:
        key = loader(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ModelSignatureError(f"{KEY_ENV}={path}: not an unencrypted OpenSSH or PEM "
                                  f"private key ({exc})") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name not in SUPPORTED_CURVES:
        kind = (f"ECDSA {key.curve.name}" if isinstance(key, ec.EllipticCurvePrivateKey)
                else type(key).__name__.removesuffix("PrivateKey").lstrip("_"))
        raise ModelSignatureError(
            f"{KEY_ENV}={path} is a {kind} key, and the OpenSSF model-signing format (package "
            "model-signing 1.1) signs only with ECDSA keys on NIST P-256, P-384 or P-521, so "
            "registry versions cannot be signed for consumers. Make the pipeline key with "
            "`ssh-keygen -t ecdsa -b 256 -N '' -f PATH` (it signs ledger entries just as well); "
            "nothing was registered")
    return key


def _hashing_config():
    """The serialization the `model_signing` CLI uses by default, minus the signature itself."""
    import model_signing

    return model_signing.hashing.Config().set_ignored_paths(paths=[SIGNATURE_FILE])


def sign_folder(folder: Path, key_path: Path) -> str:
    """Sign every file in `folder` into `folder/model.sig`; return the signature's sha256.

    model-signing reads a PEM key from a file: the key is converted to PKCS#8 and encrypted
    with a one-time password in a private temporary folder, so no plaintext copy is written.
    """
    import model_signing

    key = _load_signing_key(key_path)
    password = secrets.token_bytes(32)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.BestAvailableEncryption(password))
    with tempfile.TemporaryDirectory(prefix="model-signing-") as scratch:
        pem_path = Path(scratch) / "pipeline.pem"
        pem_path.write_bytes(pem)
        (model_signing.signing.Config()
         .use_elliptic_key_signer(private_key=pem_path, password=password)
         .set_hashing_config(_hashing_config())
         .sign(folder, folder / SIGNATURE_FILE))
    return sha256_of_file(folder / SIGNATURE_FILE)


def sign_version(folder: storage.RegistryPath, version: str, names: Iterable[str]
                 ) -> str | None:
    """Sign a version's files with the pipeline key into `folder/model.sig`; None without a key.

    The files are read back from where they are stored (a local folder or object storage: the
    bytes signed are the bytes kept) into a temporary folder named after the version, because
    model-signing hashes local files only and names the statement's subject after the folder.
    """
    key = pipeline_key()
    if key is None:
        return None
    with tempfile.TemporaryDirectory(prefix="model-signing-") as scratch:
        local = Path(scratch) / version
        local.mkdir()
        for name in names:
            (local / name).write_bytes((folder / name).read_bytes())
        digest = sign_folder(local, key)
        write_bytes_atomic(folder / SIGNATURE_FILE, (local / SIGNATURE_FILE).read_bytes())
    return digest


def consumer_command(folder: str, public_key: str = PUBLIC_KEY_HINT) -> str:
    """The standard command a consumer runs on a downloaded version folder."""
    return shlex.join(["model_signing", "verify", "key", folder, "--signature",
                       f"{folder}/{SIGNATURE_FILE}", "--public_key", public_key])


def signature_problem(folder: storage.RegistryPath, expected_sha256: str | None) -> str | None:
    """What is wrong with a version's model.sig against the sha256 its ledger entry recorded."""
    if expected_sha256 is None:
        return None
    if storage.read_or_none(folder / SIGNATURE_FILE) is None:
        return f"{SIGNATURE_FILE} missing"
    if sha256_of_file(folder / SIGNATURE_FILE) != expected_sha256:
        return f"{SIGNATURE_FILE} sha256 differs from the ledger"
    return None


def consumer_view(folder: storage.RegistryPath, registered: dict) -> str:
    """`governance show`'s lines on how a consumer outside the project checks this version."""
    digest = registered.get("model_signature_sha256")
    if digest is None:
        return f"  {UNSIGNED}"
    problem = signature_problem(folder, digest)
    return (f"  model-signing signature: {digest[:16]}  versions/{folder.name}/{SIGNATURE_FILE}"
            + (f"  TAMPERED: {problem}" if problem else "")
            + f"\n  consumers verify: {consumer_command(str(folder))}")
