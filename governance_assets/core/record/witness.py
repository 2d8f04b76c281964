"""The ledger's head witnessed outside the registry folder: a git ref of the project repository.

Someone who can write the registry folder can put back an older, self-consistent copy of
`ledger.jsonl` + `ledger.head` (erasing a rejection, say); the chain alone cannot tell. Every
ledger write therefore also records the new head (`SEQ:HASH`) as a blob under
`refs/governance/ledger-head/<registry>` of the git repository the project lives in, the way
DVC keeps experiments in refs. Readers and writers then require the ledger to still contain the
witnessed entry. Pushing the ref (`git push origin 'refs/governance/*'`) makes the witness
remote; an attacker who can rewrite both the folder and every copy of the ref is out of reach.
No git repository around the folder (a copied registry, a bucket): no witness, and `governance
verify` says so; on object storage the equivalent is the bucket's object versioning with an
object lock (retention) on `ledger.jsonl`, so an older copy cannot silently replace it.
"""

from __future__ import annotations

import re
import subprocess
from functools import lru_cache
from pathlib import Path

from . import storage

REF_PREFIX = "refs/governance/ledger-head/"


def _git(cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True,
                          text=True, timeout=30)


@lru_cache(maxsize=64)
def _location(where: str, folder: Path | None) -> tuple[Path, str] | None:
    """(repository top level, ref name) for a registry, or None outside any git repository."""
    if folder is None or not folder.exists():
        return None
    try:
        found = _git(folder, "rev-parse", "--show-toplevel")
    except (OSError, subprocess.SubprocessError):
        return None
    if found.returncode != 0:
        return None
    top = Path(found.stdout.strip())
    name = str(folder.resolve().relative_to(top.resolve())) or "root"
    return top, REF_PREFIX + re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")


def location(root: storage.RegistryPath) -> tuple[Path, str] | None:
    """Where the witness of this registry lives; cached, as every write and read asks."""
    return _location(storage.describe(root), storage.local_folder(root))


def witnessed(root: storage.RegistryPath) -> tuple[int, str] | None:
    """The head the ref records, or None (no repository or no witness written yet)."""
    found = location(root)
    if found is None:
        return None
    top, ref = found
    read = _git(top, "cat-file", "blob", ref)
    if read.returncode != 0:
        return None
    seq, _, digest = read.stdout.strip().partition(":")
    return (int(seq), digest) if seq.isdigit() else None


def record(root: storage.RegistryPath, seq: int, digest: str) -> None:
    """Point the ref at a blob holding SEQ:HASH (raises OSError-like errors to the caller)."""
    found = location(root)
    if found is None:
        return
    top, ref = found
    blob = _git(top, "hash-object", "-w", "--stdin", stdin=f"{seq}:{digest}\n")
    if blob.returncode != 0:
        raise OSError(f"git could not store the ledger witness: {blob.stderr.strip()}")
    moved = _git(top, "update-ref", "-m", f"governance ledger #{seq}", ref,
                 blob.stdout.strip())
    if moved.returncode != 0:
        raise OSError(f"git could not move {ref}: {moved.stderr.strip()}")
