"""moto's S3-compatible server in its own process: object storage for the tests, not a mock
of boto (tests/test_registry_storage.py, tests/test_log_queries.py)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .servers import free_port

MOTO = Path(sys.executable).parent / "moto_server"


def _s3_available() -> str | None:
    """Why the S3 test cannot run here, or None."""
    try:
        import s3fs  # noqa: F401
    except ImportError:
        return "s3fs is not installed (the s3 extra: governance-assets[s3])"
    if not MOTO.exists() and shutil.which("moto_server") is None:
        return "moto[server] is not installed (dev extra)"
    return None


def _wait_for_port(port: int, server: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"moto_server exited with {server.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"moto_server did not listen on {port} within {seconds} s")


@pytest.fixture
def s3_endpoint(tmp_path, monkeypatch):
    """moto's S3 server in its own process on a free port; credentials it accepts."""
    reason = _s3_available()
    if reason:
        pytest.skip(reason)
    import fsspec

    port = free_port()
    server = subprocess.Popen([str(MOTO if MOTO.exists() else "moto_server"), "-H", "127.0.0.1",
                               "-p", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port, server)
        endpoint = f"http://127.0.0.1:{port}"
        for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                            ("AWS_DEFAULT_REGION", "us-east-1")):
            monkeypatch.setenv(name, value)
        # What a deployment sets in fsspec's config (or FSSPEC_S3_ENDPOINT_URL) for a store
        # that is not AWS itself.
        monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": endpoint})
        fsspec.filesystem("s3", skip_instance_cache=True).mkdir("governance")
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=30)
