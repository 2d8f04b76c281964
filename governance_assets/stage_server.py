"""A warm process that runs DVC's stages, so one `governance run` pays for one interpreter and
one set of heavy imports instead of one per stage.

`governance run` starts the server before `dvc repro` and hands DVC its socket in
GOVERNANCE_STAGE_SERVER. DVC still runs each stage's own command (`governance stage NAME`), so
DVC's per-stage skipping, dvc.lock and one Dagster run per stage are unchanged. The command
(entry.py) only passes its stdin, stdout and stderr (SCM_RIGHTS), its working directory,
environment and arguments to the server, which forks a child that already has Dagster, the
definitions, the CLI and the scientific stack imported; the child runs the stage command
(cli/stage.py) and a thread of the server sends its exit code back to DVC. Meanwhile the server
imports what later stages need, on the other core. Without the variable (a
plain `dvc repro`), or when the server cannot be reached, the command runs the stage in its own
process as before.

The server and its children stay in the run's process group, so stopping or killing
`governance run` stops them; the server also leaves when the process that started it is gone.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENV = "GOVERNANCE_STAGE_SERVER"
FAILURE = 3
CONNECT_SECONDS = 5
MESSAGE_BYTES = 1 << 20

# What the server imports before it takes the first request. Dagster imports its SQLite storage
# (SQLAlchemy, Alembic) only when a stage opens the project's instance: 0.46 s in every child
# unless the server has imported it. The child runs cli/stage.py.
FIRST = ("dagster", "governance_assets.definitions", "dagster._core.instance.factory",
         "dagster._core.storage.sqlite_storage", "governance_assets.cli.stage")
# What each stage imports, in stage order: the server imports it while earlier stages run, and
# what the asked stage still lacks before it forks that stage's child (so a module is imported
# once, not in every child). "module:function" also calls a module's warm-up.
NEEDS = {
    "prepare": ("pandas", "pyarrow.parquet", "sklearn.model_selection"),
    "train": ("sklearn.ensemble", "sklearn.linear_model", "sklearn.pipeline", "sklearn.compose",
              "sklearn.preprocessing", "sklearn.metrics", "optuna", "codecarbon",
              "governance_assets.core.model.carbon:warm", "matplotlib.pyplot", "skops.io"),
    "evaluate": ("pandas", "pyarrow.parquet", "sklearn.pipeline", "sklearn.metrics", "skops.io",
                 "matplotlib.pyplot", "evidently", "evidently.presets", "shap",
                 "fairlearn.metrics", "fairlearn.postprocessing", "fairlearn.reductions",
                 "lime.lime_tabular", "scipy.stats", "scipy.spatial"),
    "document": ("jsonschema", "jinja2"),
}


# --- the client side: what `governance stage` does when a server is running ------------------

def delegate(address: str, argv: list[str]) -> int | None:
    """Run `governance <argv>` in the server's warm child; None if no server answers."""
    connection = _connect(address)
    if connection is None:
        return None
    with connection:
        request = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}
        socket.send_fds(connection, [json.dumps(request).encode()], [0, 1, 2])
        started = _receive(connection)
        if started is None:
            return None
        _forward_signals(started["pid"])
        finished = _receive(connection)
    if finished is None:
        print("governance: the stage server stopped before the stage finished", file=sys.stderr)
        return FAILURE
    return finished["exit"]


def _connect(address: str) -> socket.socket | None:
    """The server is started when DVC announces its first stage, so the stage command may be
    up a moment before the server's socket: it retries for CONNECT_SECONDS."""
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


def _receive(connection: socket.socket) -> dict | None:
    data = connection.recv(MESSAGE_BYTES)
    return json.loads(data) if data else None


def _forward_signals(child: int) -> None:
    """Ctrl-C or a SIGTERM sent to the stage command reaches the child doing the work."""
    def forward(number: int, _frame) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, number)

    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, forward)


# --- starting and stopping the server from `governance run` -----------------------------------

def wanted(env: dict[str, str]) -> bool:
    """GOVERNANCE_STAGE_SERVER=0 runs every stage in its own process (for comparison)."""
    return env.get(ENV) != "0"


class StageServer:
    """The server of one `governance run`: started when DVC runs its first stage, so a run
    with nothing to do never pays for it; `env` points the stage commands at it."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="governance-"))   # 0700: this user only
        self.address = str(self.folder / "stages.sock")
        self.env = {**env, ENV: self.address}
        self._started_with, self._log = env, log
        self._process: subprocess.Popen | None = None

    def start(self) -> None:
        if self._process is not None:
            return
        with self._log.open("a") as sink:
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__, self.address, str(os.getpid())],
                stdin=subprocess.DEVNULL, stdout=sink, stderr=sink, env=self._started_with)

    def stop(self) -> None:
        # After `dvc repro` every stage command has had its exit code, so no child is left;
        # the server holds nothing to flush and may be mid-import, where SIGTERM waits.
        if self._process is not None:
            self._process.kill()
            self._process.wait()
        Path(self.address).unlink(missing_ok=True)
        self.folder.rmdir()


@contextmanager
def running(env: dict[str, str], log: Path) -> Iterator[StageServer | None]:
    """A stage server for the block (None with GOVERNANCE_STAGE_SERVER=0); its own output
    goes to the run's log."""
    if not wanted(env):
        yield None
        return
    server = StageServer(env, log)
    try:
        yield server
    finally:
        server.stop()


# --- the server ---------------------------------------------------------------------------------

def serve(address: str, parent: int) -> None:
    """Accept stage requests one at a time until terminated or orphaned."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(address)
    listener.listen(4)
    _import(FIRST)
    pending = list(dict.fromkeys(name for needs in NEEDS.values() for name in needs))
    pending += _lineage_modules()
    waiter: threading.Thread | None = None
    while os.getppid() == parent:
        listener.settimeout(0 if pending else 1.0)
        try:
            connection, _ = listener.accept()
        except (BlockingIOError, TimeoutError):
            if pending:
                _import([pending.pop(0)])
            continue
        if waiter is not None:   # DVC asks for a stage only after the last one's exit code
            waiter.join()
        connection.settimeout(None)
        waiter = _serve_one(listener, connection, pending)


def _lineage_modules() -> list[str]:
    """The OpenLineage client, which each stage imports after its run, only where OpenLineage is
    configured (governance_assets/lineage.py): otherwise no stage imports it."""
    from .lineage import configured

    return ["openlineage.client", "openlineage.client.facet_v2"] if configured() else []


def _import_needs(argv: list[str], pending: list[str]) -> None:
    """Import what the asked stage needs and is still pending."""
    wanted = NEEDS.get(argv[-1], ())
    due = [name for name in pending if name in wanted]
    for name in due:
        pending.remove(name)
    _import(due)


def _import(modules) -> None:
    """Import now what a stage would import later (and run a "module:function" warm-up); a
    module that fails stays the stage's problem (it reports it in its own log), not the
    server's."""
    for name in modules:
        module, _, warm_up = name.partition(":")
        try:
            if module == "matplotlib.pyplot":
                importlib.import_module("matplotlib").use("Agg")
            imported = importlib.import_module(module)
            if warm_up:
                getattr(imported, warm_up)()
        except Exception:  # noqa: BLE001 (the stage imports it again and reports the error)
            traceback.print_exc()


def _serve_one(listener: socket.socket, connection: socket.socket, pending: list[str]
               ) -> threading.Thread:
    """Fork the stage's child and hand its exit code back from a thread, so the server goes on
    importing for later stages without making DVC wait for an import in flight (evidently's
    takes 2 s). The thread is joined before the next fork: only one thread exists at a fork."""
    data, fds, _, _ = socket.recv_fds(connection, MESSAGE_BYTES, 3)
    request = json.loads(data)
    _import_needs(request["argv"], pending)
    sys.stdout.flush()
    sys.stderr.flush()
    # The child's collector would walk (and so copy) every page of the server's heap; frozen,
    # the server's objects are skipped: 0.15-0.35 s less per stage.
    gc.freeze()
    child = os.fork()
    if child == 0:
        listener.close()
        _become_stage_command(connection, request, fds)
    for fd in fds:
        os.close(fd)
    connection.send(json.dumps({"pid": child}).encode())
    waiter = threading.Thread(target=_answer_when_done, args=(connection, child, request),
                              daemon=True)
    waiter.start()
    return waiter


def _answer_when_done(connection: socket.socket, child: int, request: dict) -> None:
    """Wait for the child and send its exit code to the stage command that asked."""
    started = time.perf_counter()
    with connection:
        code = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
        print(f"stage server {os.getpid()}: `governance {' '.join(request['argv'])}` ran in "
              f"child {child}, exit {code}, {time.perf_counter() - started:.1f} s", flush=True)
        with contextlib.suppress(OSError):   # a stage command killed meanwhile needs no answer
            connection.send(json.dumps({"exit": code if code >= 0 else FAILURE}).encode())


def _become_stage_command(connection: socket.socket, request: dict, fds: list[int]) -> None:
    """In the forked child: become the stage command (its files, directory, environment and
    arguments) and run it; never return into the server's loop."""
    code = FAILURE
    try:
        connection.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = ["governance", *request["argv"]]
        from .cli.stage import command

        code = command(request["argv"])
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else FAILURE
    except BaseException:  # noqa: BLE001 (reported on the stage's stderr, exit 3)
        traceback.print_exc()
    finally:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
