"""`governance ui` (what `make ui` runs): `dg dev` that stops with everything it started.

`dg dev` (which supersedes `dagster dev`, with the same services) serves the project's
workspace.yaml. It shuts its webserver, daemon and code servers down on SIGINT, and gives SIGTERM
whatever SIGINT does. A script that runs `make ui &` starts it with SIGINT ignored (what a shell
does to a background job), so SIGTERM is ignored too and everything keeps running. Here
`dg dev` starts with SIGINT restored, in its own process group; SIGINT, SIGTERM or SIGHUP
to this process become a SIGINT to that group, then, after a grace period, a SIGKILL to whatever
of the group is left.

A port already in use is refused before anything starts: the webserver would print "Serving",
then fail to bind, while its daemon and code servers kept running.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
HOST = "127.0.0.1"   # where dg dev serves by default


class _StopRequested(Exception):
    pass


def _raise_stop(signum: int, _frame) -> None:
    raise _StopRequested(signum)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def stop_group(server: subprocess.Popen, grace_seconds: float) -> None:
    """SIGINT to the group (dg dev's clean shutdown), SIGKILL to any process still left."""
    group = server.pid
    if _group_alive(group):
        os.killpg(group, signal.SIGINT)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline and _group_alive(group):
        server.poll()   # reap dg dev itself, or its zombie keeps the group alive
        time.sleep(0.2)
    if _group_alive(group):
        os.killpg(group, signal.SIGKILL)
    server.wait()


def _restore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def port_in_use(port: int, host: str = HOST) -> bool:
    """Whether something already listens on host:port. The probe binds as the webserver does
    (SO_REUSEADDR), so a closed connection's TIME_WAIT does not count as busy."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def serve(root: Path, port: int, grace_seconds: float = 30) -> int:
    """Run `dg dev` on the project's workspace until it exits or this process is told to
    stop; either way no process it started is left behind."""
    dg = Path(sys.executable).parent / "dg"
    server = subprocess.Popen([str(dg), "dev", "-w", "workspace.yaml", "-p", str(port)],
                              cwd=root, start_new_session=True,
                              preexec_fn=_restore_interrupts)
    for stop in STOP_SIGNALS:
        signal.signal(stop, _raise_stop)
    try:
        return server.wait()
    except _StopRequested:
        return 0
    finally:
        for stop in STOP_SIGNALS:
            signal.signal(stop, signal.SIG_IGN)
        stop_group(server, grace_seconds)
