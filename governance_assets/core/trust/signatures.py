"""SSH signatures (SSHSIG, the format `git` signs commits with) made by keys people already have.

Signing goes through `ssh-keygen -Y sign`, the reference implementation: it reads any OpenSSH
private key (a passphrase is asked for on the terminal) and, given a `.pub` path, signs with the
key held by `ssh-agent`. Verifying happens in-process with `cryptography`, because every reader
of the ledger checks every new entry and a subprocess per entry would cost ~10 ms each; a test
holds this verifier equal to `ssh-keygen -Y verify` both ways. The `sshsig` package verifies too,
but only Ed25519 and RSA keys (model-signing needs the pipeline key to be ECDSA), so the
SSHSIG blob is parsed here (RFC-style wire format: PROTOCOL.sshsig in OpenSSH's sources).
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, utils

NAMESPACE = "governance"
MAGIC = b"SSHSIG"
ARMOR_BEGIN, ARMOR_END = "-----BEGIN SSH SIGNATURE-----", "-----END SSH SIGNATURE-----"
SIGNING_KEY_ENV = "GOVERNANCE_SIGNING_KEY"
CURVE_HASHES = {"nistp256": hashes.SHA256, "nistp384": hashes.SHA384,
                "nistp521": hashes.SHA512}


class SignatureError(RuntimeError):
    """A key could not sign, or a signature does not verify; the message says which and why."""


def fingerprint(public_blob: bytes) -> str:
    """The SHA256 fingerprint `ssh-keygen -l` prints for a public key."""
    digest = base64.b64encode(hashlib.sha256(public_blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


def _strings(data: bytes) -> list[bytes]:
    """The SSH wire format's length-prefixed strings, in order."""
    found, at, end = [], 0, len(data)
    while at < end:
        if at + 4 > end:
            raise SignatureError("truncated SSH string")
        (size,) = struct.unpack_from(">I", data, at)
        at += 4
        if at + size > end:
            raise SignatureError("truncated SSH string")
        found.append(data[at:at + size])
        at += size
    return found


def _string(value: bytes) -> bytes:
    return struct.pack(">I", len(value)) + value


def public_blob_of_line(line: str) -> bytes:
    """The wire blob of an OpenSSH public key line `TYPE BASE64 [comment]`."""
    parts = line.split()
    if len(parts) < 2:
        raise SignatureError(f"not an OpenSSH public key line: {line[:40]!r}")
    try:
        return base64.b64decode(parts[1], validate=True)
    except ValueError as error:
        raise SignatureError(f"not an OpenSSH public key line: {line[:40]!r}") from error


@lru_cache(maxsize=256)
def _public_key(blob: bytes):
    kind = _strings(blob)[0].decode()
    line = f"{kind} {base64.b64encode(blob).decode()}".encode()
    try:
        return kind, serialization.load_ssh_public_key(line)
    except (ValueError, TypeError) as error:
        raise SignatureError(f"unsupported or malformed {kind} public key") from error


def _dearmor(armored: str) -> bytes:
    text = armored.strip()
    if not (text.startswith(ARMOR_BEGIN) and text.endswith(ARMOR_END)):
        raise SignatureError("not an SSH signature (no BEGIN/END SSH SIGNATURE armor)")
    body = "".join(text[len(ARMOR_BEGIN):-len(ARMOR_END)].split())
    try:
        return base64.b64decode(body, validate=True)
    except ValueError as error:
        raise SignatureError("SSH signature armor is not base64") from error


def _verify_raw(kind: str, key, signature: bytes, signed: bytes) -> None:
    sig_kind, sig_blob = _strings(signature)[:2]
    if kind == "ssh-ed25519" and isinstance(key, ed25519.Ed25519PublicKey):
        key.verify(sig_blob, signed)
        return
    if kind.startswith("ecdsa-sha2-") and isinstance(key, ec.EllipticCurvePublicKey):
        r, s = (int.from_bytes(v, "big") for v in _strings(sig_blob))
        hash_type = CURVE_HASHES[kind.removeprefix("ecdsa-sha2-")]
        key.verify(utils.encode_dss_signature(r, s), signed, ec.ECDSA(hash_type()))
        return
    raise SignatureError(f"signature type {sig_kind.decode()!r} with a {kind} key is not "
                         "supported (use an ed25519 or ecdsa key)")


def verify(message: bytes, armored: str, namespace: str = NAMESPACE) -> bytes:
    """The signer's public key blob, if `armored` is a valid SSHSIG of `message` in `namespace`.

    Who that key belongs to is not this function's business: allowed signers (core/authority)
    map it to principals."""
    blob = _dearmor(armored)
    if not blob.startswith(MAGIC) or blob[6:10] != b"\x00\x00\x00\x01":
        raise SignatureError("not an SSHSIG version 1 signature")
    fields = _strings(blob[10:])
    if len(fields) != 5:
        raise SignatureError("malformed SSHSIG signature")
    public, signed_namespace, reserved, hash_name, signature = fields
    if signed_namespace.decode() != namespace:
        raise SignatureError(f"signature is for namespace {signed_namespace.decode()!r}, "
                             f"not {namespace!r}")
    if hash_name not in (b"sha256", b"sha512"):
        raise SignatureError(f"SSHSIG hash {hash_name.decode()!r} is not sha256/sha512")
    digest = hashlib.new(hash_name.decode(), message).digest()
    signed = (MAGIC + _string(signed_namespace) + _string(reserved) + _string(hash_name)
              + _string(digest))
    kind, key = _public_key(public)
    try:
        _verify_raw(kind, key, signature, signed)
    except InvalidSignature as error:
        raise SignatureError("signature does not match the signed content") from error
    return public


@dataclass(frozen=True)
class Signer:
    """An OpenSSH key that signs: a private key file, or a `.pub` whose key ssh-agent holds."""

    key: Path

    @property
    def public_line(self) -> str:
        return _public_line(str(self.key))

    @property
    def public_blob(self) -> bytes:
        return public_blob_of_line(self.public_line)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_blob)

    def sign(self, message: bytes, namespace: str = NAMESPACE) -> str:
        """An armored SSHSIG over `message`, made by ssh-keygen (agent, passphrase and all)."""
        try:
            made = subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-n", namespace,
                                   "-f", str(self.key)], input=message, capture_output=True,
                                  timeout=120)
        except (OSError, subprocess.SubprocessError) as error:
            raise SignatureError(f"ssh-keygen could not sign with {self.key}: {error}") from error
        if made.returncode != 0:
            detail = made.stderr.decode(errors="replace").strip().splitlines()
            raise SignatureError(f"ssh-keygen could not sign with {self.key}: "
                                 f"{detail[-1] if detail else 'exit ' + str(made.returncode)}")
        return made.stdout.decode()


@lru_cache(maxsize=32)
def _public_line(key: str) -> str:
    """The key's public line: KEY.pub beside it, a .pub given itself, or derived by ssh-keygen."""
    path = Path(key)
    if not path.is_file():
        raise SignatureError(f"signing key {path} does not exist")
    for candidate in (path, Path(key + ".pub")):
        if candidate.suffix == ".pub" and candidate.is_file():
            return candidate.read_text().strip()
    try:
        made = subprocess.run(["ssh-keygen", "-y", "-f", key], capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as error:
        raise SignatureError(f"cannot read the public half of {path}: {error}") from error
    if made.returncode != 0:
        raise SignatureError(f"{path} is not an OpenSSH private key ssh-keygen can read: "
                             f"{made.stderr.strip()}")
    return made.stdout.strip()


def pipeline_signer() -> Signer | None:
    """The pipeline's key (CI's), named by GOVERNANCE_SIGNING_KEY; None: an unsigned run."""
    key = os.environ.get(SIGNING_KEY_ENV)
    return Signer(Path(key)) if key else None


def run_label() -> str:
    """What the card and the decision record say about who signs this run."""
    signer = pipeline_signer()
    if signer is None:
        return f"unsigned local run (no {SIGNING_KEY_ENV}): its ledger entries carry no signature"
    return f"signed by the pipeline key {signer.fingerprint}"
