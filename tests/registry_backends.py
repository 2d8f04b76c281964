"""The registry's storage backends the registry, ledger, sign-off and audit tests run on.

- `local`: a folder (pathlib), the default: flock, O_APPEND, folder rename;
- `file`: a `file://` URL, served by fsspec's local filesystem with object-store semantics
  (whole-object puts, a lock object created with O_EXCL): the S3 code path on a real disk,
  so several processes can share it;
- `memory`: fsspec's in-memory filesystem (real fsspec, one process): the object-store code
  path with no disk at all.

A test module imports `backend` and `registry_root` from here; pytest finds fixtures by name.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from governance_assets.core.record import storage

BACKENDS = ("local", "file", "memory")
MULTI_PROCESS = ("local", "file")


def root_for(backend: str, tmp_path: Path, name: str = "registry") -> storage.RegistryPath:
    """A fresh registry root on a backend, written as a user would configure it."""
    if backend == "local":
        return tmp_path / name
    if backend == "file":
        return storage.resolve_root(tmp_path, f"file://{tmp_path}/{name}")
    return storage.resolve_root(tmp_path, f"memory://test-{uuid.uuid4().hex}/{name}")


def location(root: storage.RegistryPath) -> str:
    """How a root is passed to another process or through GOVERNANCE_REGISTRY."""
    return str(root)


def only_multi_process(backend: str) -> None:
    """memory:// lives inside one process: a test with several processes cannot share it."""
    if backend not in MULTI_PROCESS:
        pytest.skip("memory:// is per process; the multi-process test runs on local and file://")


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def registry_root(backend: str, tmp_path: Path):
    root = root_for(backend, tmp_path)
    yield root
    if backend == "memory":
        storage.delete_tree(root)
