"""`make ui` for real, started from a terminal or as a script's background job, stopped by
Ctrl-C, a closed terminal, or a script's SIGTERM to make or to the server process make started;
no process it started is left running, and it starts without a warning. A port already in use
is refused at once, naming the port and UI_PORT.

A background job starts with SIGINT ignored; plain `dg dev` gives SIGTERM SIGINT's handler,
so there it ignored SIGTERM and left its webserver, daemon and code servers running.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import REPO, WARNING_LINE
from .servers import free_port

pytestmark = pytest.mark.slow


def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids, from /proc (psutil is not installed on Linux here)."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(parent, []).append(int(entry.name))
    return tree


def _descendants(pid: int) -> set[int]:
    tree, found, todo = _children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _as_background_job() -> None:
    """What `make ui &` in a shell script does to the job's signals."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _wait_for_ui(port: int, make: subprocess.Popen) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert make.poll() is None, "make ui exited before the UI answered"
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
            return
        except OSError:
            time.sleep(1)
    pytest.fail("make ui did not answer within 180 s")


@pytest.mark.parametrize("how", ["ctrl_c", "sighup_to_group", "sigterm_to_make",
                                 "sigterm_to_server"])
def test_make_ui_stops_every_process_it_started(tmp_path, how):
    """Also: the start prints no warning (mutation killed: `dagster dev` back in ui_server,
    whose SupersessionWarning names `dg dev`)."""
    port = free_port()
    from_script = how.startswith("sigterm")
    home = tmp_path / "dagster_home"   # the project's instance settings, as make ui uses them
    home.mkdir()
    shutil.copy(REPO / ".dagster/dagster.yaml", home / "dagster.yaml")
    output = tmp_path / "ui.log"
    with output.open("w") as sink:
        make = subprocess.Popen(["make", "-s", "ui", f"UI_PORT={port}", f"DAGSTER_HOME={home}"],
                                cwd=REPO, stdout=sink, stderr=subprocess.STDOUT,
                                start_new_session=True,
                                preexec_fn=_as_background_job if from_script else None)
    started: set[int] = set()
    try:
        _wait_for_ui(port, make)
        started = _descendants(make.pid)
        assert len(started) >= 3   # governance ui, dg dev, its webserver and daemon
        text = output.read_text()
        assert f"Serving dagster-webserver on http://127.0.0.1:{port}" in text
        assert not [line for line in text.splitlines() if WARNING_LINE.search(line)], text
        if how == "ctrl_c":        # the terminal signals the whole foreground group
            os.killpg(make.pid, signal.SIGINT)
        elif how == "sigterm_to_server":   # the process make started
            [server] = _children().get(make.pid, [])
            os.kill(server, signal.SIGTERM)
        elif how == "sighup_to_group":     # the terminal closed
            os.killpg(make.pid, signal.SIGHUP)
        else:                      # a script kills make alone
            os.kill(make.pid, signal.SIGTERM)
        make.wait(timeout=90)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(pid) for pid in started):
            time.sleep(0.5)
        assert not [pid for pid in started if _alive(pid)]
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
    finally:
        for pid in started | _descendants(make.pid) | {make.pid}:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_make_ui_on_a_port_in_use_exits_at_once_naming_the_port(tmp_path):
    """A real socket listens on the port first. Mutation killed: ui_server without its port
    check (the webserver says "Serving", fails to bind, and dg dev keeps running, so make does
    not exit within the bound)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        make = subprocess.Popen(["make", "-s", "ui", f"UI_PORT={port}",
                                 f"DAGSTER_HOME={tmp_path}"],
                                cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)
        try:
            out, _ = make.communicate(timeout=120)   # it must not hang; it takes ~2 s
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(make.pid, signal.SIGKILL)
    assert make.returncode != 0
    assert f"port {port} is already in use" in out and f"UI_PORT={port + 1}" in out
    assert "Serving" not in out
