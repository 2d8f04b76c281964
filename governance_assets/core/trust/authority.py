"""Who a signature speaks for: the allowed-signers file, and the roles params.yaml gives.

The file is OpenSSH's allowed-signers format (`PRINCIPAL namespaces="governance" ssh-ed25519
AAAA...`), committed in the project, so a change to who may approve is a reviewed git change.
A ledger entry's signature names a key; this module says which principals that key stands for
at the entry's time (`valid-after`/`valid-before` retire a key without breaking old entries)
and whether one of them holds a role. A name typed on a command line grants nothing here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sshsig.allowed_signers import load_allowed_signers_file

from .signatures import NAMESPACE, SignatureError, fingerprint, public_blob_of_line


class AuthorityError(RuntimeError):
    """The allowed-signers file is missing or malformed; the message names file and line."""


@dataclass(frozen=True)
class Grant:
    """One line of the allowed-signers file: principals a key speaks for, and when."""

    principals: tuple[str, ...]
    valid_after: datetime | None
    valid_before: datetime | None

    def holds_at(self, moment: datetime) -> bool:
        return ((self.valid_after is None or moment >= self.valid_after)
                and (self.valid_before is None or moment < self.valid_before))


def _ssh_time(text: str | None) -> datetime | None:
    """OpenSSH's YYYYMMDD[HHMM[SS]][Z] (local time without Z; taken as UTC here)."""
    if not text:
        return None
    digits = text.rstrip("Zz").ljust(14, "0")
    return datetime.strptime(digits, "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)


def _for_governance(options: dict | None) -> bool:
    namespaces = (options or {}).get("namespaces")
    return namespaces is None or NAMESPACE in namespaces.strip('"').split(",")


@dataclass(frozen=True)
class AllowedSigners:
    """Key fingerprint -> the grants of that key, read from one allowed-signers file."""

    path: Path
    grants: dict[str, tuple[Grant, ...]]
    digest: str

    @classmethod
    def load(cls, path: Path) -> AllowedSigners:
        if not path.is_file():
            raise AuthorityError(
                f"{path}: no allowed-signers file. Create one (`governance keys init` makes "
                "demo keys and the file) or name yours as signoff.allowed_signers in params.yaml")
        grants: dict[str, list[Grant]] = {}
        try:
            for signer in load_allowed_signers_file(path):
                if (signer.options or {}).get("cert-authority") is not None:
                    raise AuthorityError(f"{path}: cert-authority lines are not supported; "
                                         "list each key")
                if not _for_governance(signer.options):
                    continue
                key = fingerprint(public_blob_of_line(f"{signer.key_type} {signer.base64_key}"))
                options = signer.options or {}
                grants.setdefault(key, []).append(Grant(
                    tuple(p for p in signer.principals.split(",") if p),
                    _ssh_time(options.get("valid-after")),
                    _ssh_time(options.get("valid-before"))))
        except (ValueError, SignatureError, NotImplementedError) as error:
            raise AuthorityError(f"{path}: not an OpenSSH allowed-signers file: {error}"
                                 ) from error
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return cls(path, {k: tuple(v) for k, v in grants.items()}, digest)

    def principals(self, key: str, moment: datetime) -> tuple[str, ...]:
        """Who the key speaks for at `moment` (empty: nobody, the key is not allowed)."""
        return tuple(p for grant in self.grants.get(key, ()) if grant.holds_at(moment)
                     for p in grant.principals)


def entry_moment(entry: dict) -> datetime:
    return datetime.fromisoformat(entry["at"])


def signed_by(entry: dict, signers: AllowedSigners) -> tuple[str, ...]:
    """The principals whose allowed key signed this (already chain-verified) entry."""
    signer = entry.get("signer")
    if not signer:
        return ()
    return signers.principals(signer["key"], entry_moment(entry))


def with_role(entry: dict, signers: AllowedSigners, role: tuple[str, ...] | list[str]
              ) -> str | None:
    """The signing principal that holds the role, if any."""
    return next((p for p in signed_by(entry, signers) if p in role), None)
