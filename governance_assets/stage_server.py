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

When the raw file must be validated, `governance run` starts the server before its input check
and the check runs in a child of the server. If every rule passes, that child keeps the typed
rows in memory (core/data/handover.py), imports what prepare needs while DVC starts, and
becomes the run's prepare stage when DVC asks for it: a cold run validates once, and the rows
reach prepare through no file or variable anyone else could write.

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
from dataclasses import dataclass
from pathlib import Path

ENV = "GOVERNANCE_STAGE_SERVER"
FAILURE = 3
CONNECT_SECONDS = 5
MESSAGE_BYTES = 1 << 20
CHECK_FIRST = "check-first"

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
        started = _receive(connection)
        if started is None:
            return None
        with _signals_forwarded_to(started["pid"]):
            finished = _receive(connection)
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


def _receive(connection: socket.socket) -> dict | None:
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

    def start(self, check_first: bool = False) -> None:
        """Start the server; with `check_first` it takes the input check's request before it
        imports anything, so the check does not wait for Dagster's import."""
        if self._process is not None:
            return
        with self._log.open("a") as sink:
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__, self.address, str(os.getpid()),
                 *([CHECK_FIRST] if check_first else [])],
                stdin=subprocess.DEVNULL, stdout=sink, stderr=sink, env=self._started_with)

    def check(self, root: Path) -> int | None:
        """The input check, run in the server's child, which keeps the rows that pass and
        becomes this run's prepare stage (core/data/handover.py); None if the server cannot
        be reached."""
        self.start(check_first=True)
        return delegate(self.address, [], check=root)

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

@dataclass
class _Holder:
    """The check's child that holds validated rows, and the channel that hands it the run's
    prepare request."""

    pid: int
    channel: socket.socket


class _Server:
    """Accepts stage requests one at a time until terminated or orphaned."""

    def __init__(self, address: str, parent: int) -> None:
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.listener.bind(address)
        self.listener.listen(4)
        self.parent = parent
        self.pending = list(FIRST) + list(dict.fromkeys(
            name for needs in NEEDS.values() for name in needs)) + _lineage_modules()
        self.waiter: threading.Thread | None = None
        self.holder: _Holder | None = None

    def serve(self, check_first: bool) -> None:
        if check_first:
            self.listener.settimeout(CONNECT_SECONDS)
            with contextlib.suppress(TimeoutError):
                self._serve(self.listener.accept()[0])
        while os.getppid() == self.parent:
            self.listener.settimeout(0 if self.pending else 1.0)
            try:
                connection, _ = self.listener.accept()
            except (BlockingIOError, TimeoutError):
                if self.pending:
                    _import([self.pending.pop(0)])
                continue
            self._serve(connection)

    def _serve(self, connection: socket.socket) -> None:
        """One request: the input check, a prepare stage for the child holding the check's
        rows, or a stage forked from the server. DVC asks for a stage only after the last one's
        exit code, so the last answering thread is joined first."""
        if self.waiter is not None:
            self.waiter.join()
        connection.settimeout(None)
        data, fds, _, _ = socket.recv_fds(connection, MESSAGE_BYTES, 3)
        request = json.loads(data)
        if request.get("check"):
            self._release_holder("another check")
            child, channel = self._fork(_check_and_hold, connection, request, fds)
            answer = _answer_check
        elif self.holder and request["argv"][-1] == "prepare":
            child, channel = self._hand_to_holder(request, fds), None
            answer = _answer_when_done
        else:
            self._release_holder(request["argv"][-1])
            self._import_needs(request["argv"])
            child, channel = self._fork(_become_stage_command, connection, request, fds)
            answer = _answer_when_done
        for fd in fds:
            os.close(fd)
        connection.send(json.dumps({"pid": child}).encode())
        self.waiter = threading.Thread(target=answer, args=(self, connection, child, request,
                                                            channel), daemon=True)
        self.waiter.start()

    def _fork(self, become, connection: socket.socket, request: dict, fds: list[int]
              ) -> tuple[int, socket.socket]:
        """A child that runs `become` (never returning), and the server's end of a channel to
        it. The child's collector would walk (and so copy) every page of the server's heap;
        frozen, the server's objects are skipped: 0.15-0.35 s less per stage."""
        server_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sys.stdout.flush()
        sys.stderr.flush()
        gc.freeze()
        child = os.fork()
        if child == 0:
            self.listener.close()
            server_end.close()
            become(connection, request, fds, child_end)
        child_end.close()
        return child, server_end

    def _hand_to_holder(self, request: dict, fds: list[int]) -> int:
        holder, self.holder = self.holder, None
        socket.send_fds(holder.channel, [json.dumps(request).encode()], fds)
        holder.channel.close()
        return holder.pid

    def _release_holder(self, asked: str) -> None:
        """A check's child still holding rows when DVC asks for a stage other than prepare:
        it exits when its channel closes."""
        if self.holder is not None:
            holder, self.holder = self.holder, None
            holder.channel.close()
            os.waitpid(holder.pid, 0)
            print(f"stage server {os.getpid()}: the input check's child {holder.pid} let its "
                  f"rows go ({asked} was asked for first)", flush=True)

    def _import_needs(self, argv: list[str]) -> None:
        """Import what the asked stage needs (and every stage's first imports) still pending."""
        wanted = set(FIRST) | set(NEEDS.get(argv[-1], ()))
        due = [name for name in self.pending if name in wanted]
        for name in due:
            self.pending.remove(name)
        _import(due)


def _lineage_modules() -> list[str]:
    """The OpenLineage client, which each stage imports after its run, only where OpenLineage is
    configured (governance_assets/lineage.py): otherwise no stage imports it."""
    from .lineage import configured

    return ["openlineage.client", "openlineage.client.facet_v2"] if configured() else []


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


def _answer_when_done(server: _Server, connection: socket.socket, child: int, request: dict,
                      channel: socket.socket | None) -> None:
    """Wait for the stage's child and send its exit code to the stage command that asked."""
    started = time.perf_counter()
    with connection:
        if channel is not None:
            channel.close()
        code = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
        print(f"stage server {os.getpid()}: `governance {' '.join(request['argv'])}` ran in "
              f"child {child}, exit {code}, {time.perf_counter() - started:.1f} s", flush=True)
        with contextlib.suppress(OSError):   # a stage command killed meanwhile needs no answer
            connection.send(json.dumps({"exit": code if code >= 0 else FAILURE}).encode())


def _answer_check(server: _Server, connection: socket.socket, child: int, request: dict,
                  channel: socket.socket) -> None:
    """Relay the check's exit code; a child that holds rows stays, for the prepare stage."""
    with connection:
        said = _receive(channel)
        if said is not None and said["holding"]:
            server.holder = _Holder(child, channel)
        else:
            channel.close()
            code = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
            said = said or {"exit": code if code > 0 else FAILURE, "holding": False}
        print(f"stage server {os.getpid()}: the input check ran in child {child}, exit "
              f"{said['exit']}" + (", holding the validated rows for prepare"
                                   if said["holding"] else ""), flush=True)
        with contextlib.suppress(OSError):
            connection.send(json.dumps({"exit": said["exit"]}).encode())


def _check_and_hold(connection: socket.socket, request: dict, fds: list[int],
                    channel: socket.socket) -> None:
    """In the check's forked child: run the input check on the asking command's files; when
    the rows pass, import what prepare needs, wait for its request and become it (a closed
    channel instead means DVC did not ask for prepare). Never returns into the server's loop."""
    code, holding = FAILURE, False
    try:
        connection.close()
        with _files_of(fds):
            os.chdir(request["cwd"])
            os.environ.clear()
            os.environ.update(request["env"])
            from .cli.check import validate_and_hold
            from .core.data import handover

            code = validate_and_hold(Path(request["check"]))
            holding = handover.holding()
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else FAILURE
    except BaseException:  # noqa: BLE001 (reported on the command's stderr, exit 3)
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    channel.send(json.dumps({"exit": code, "holding": holding}).encode())
    if not holding:
        os._exit(code)
    _import([*FIRST, *NEEDS["prepare"]])
    data, fds, _, _ = socket.recv_fds(channel, MESSAGE_BYTES, 3)
    if not data:
        os._exit(0)
    _become_stage_command(channel, json.loads(data), fds)


@contextmanager
def _files_of(fds: list[int]) -> Iterator[None]:
    """Standard input, output and error are the asking command's for the block, the server's
    (its log) again afterwards."""
    saved = [os.dup(target) for target in range(3)]
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for target, fd in enumerate(saved):
            os.dup2(fd, target)
            os.close(fd)


def _become_stage_command(connection: socket.socket, request: dict, fds: list[int],
                          channel: socket.socket | None = None) -> None:
    """In the forked child: become the stage command (its files, directory, environment and
    arguments) and run it; never return into the server's loop."""
    code = FAILURE
    try:
        connection.close()
        if channel is not None:
            channel.close()
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
    _Server(sys.argv[1], int(sys.argv[2])).serve(check_first=CHECK_FIRST in sys.argv[3:])
