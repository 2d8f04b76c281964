"""The client side of the stage server (stage_server.py): what `governance stage NAME` does
inside `governance run`, and how `governance run` asks the server for its input check. Kept
apart so a stage command imports only the standard library before its work is handed over."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FAILURE = 3
CONNECT_SECONDS = 5
MESSAGE_BYTES = 1 << 20


def delegate(address: str, argv: list[str], check: Path | None = None) -> int | None:
    """Run `governance <argv>` in the server's warm child; None if no server answers. With
    `check`, the child runs the input check of the project there instead (and keeps rows
    that pass for the run's prepare stage: core/data/handover.py)."""
    connection = _connect(address)
    if connection is None:
        return None
    with connection:
        request = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ),
                   "check": str(check) if check else None}
        socket.send_fds(connection, [json.dumps(request).encode()], [0, 1, 2])
        started = receive(connection)
        if started is None:
            return None
        with _signals_forwarded_to(started["pid"]):
            finished = receive(connection)
    if finished is None:
        print("governance: the stage server stopped before the stage finished", file=sys.stderr)
        return FAILURE
    return finished["exit"]


def _connect(address: str) -> socket.socket | None:
    """The stage command may be up a moment before the server's socket: it retries for
    CONNECT_SECONDS."""
    deadline = time.monotonic() + CONNECT_SECONDS
    while True:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            connection.connect(address)
            return connection
        except OSError:
            connection.close()
            if time.monotonic() > deadline:
                return None
            time.sleep(0.02)


def receive(connection: socket.socket) -> dict | None:
    data = connection.recv(MESSAGE_BYTES)
    return json.loads(data) if data else None


@contextmanager
def _signals_forwarded_to(child: int) -> Iterator[None]:
    """Ctrl-C or a SIGTERM sent to the asking command reaches the child doing the work; the
    command's own handlers are back afterwards (`governance run` goes on after its check)."""
    def forward(number: int, _frame) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, number)

    numbers = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = {number: signal.signal(number, forward) for number in numbers}
    try:
        yield
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)
