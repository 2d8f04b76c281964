"""A warm process that runs DVC's stages, so one `governance run` pays for one interpreter and
one set of heavy imports instead of one per stage.

`governance run` starts the server before `dvc repro` and hands DVC its socket in
GOVERNANCE_STAGE_SERVER. DVC still runs each stage's own command (`governance stage NAME`), so
DVC's per-stage skipping, dvc.lock and one Dagster run per stage are unchanged. The command
(entry.py, stage_client.py) only passes its stdin, stdout and stderr (SCM_RIGHTS), its working
directory, environment and arguments to the server, which forks a child that already has Dagster,
the definitions, the CLI and the scientific stack imported; the child runs the stage command
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

import atexit
import contextlib
import gc
import importlib
import json
import logging
import os
import shutil
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

from .stage_client import CONNECT_SECONDS, FAILURE, MESSAGE_BYTES, delegate, receive

ENV = "GOVERNANCE_STAGE_SERVER"
CHECK_FIRST = "check-first"

# What the server imports before it takes the first request. Dagster imports its SQLite storage
# (SQLAlchemy, Alembic) only when a stage opens the project's instance: 0.46 s in every child
# unless the server has imported it. The child runs cli/stage.py.
FIRST = ("dagster", "governance_assets.definitions", "dagster._core.instance.factory",
         "dagster._core.storage.sqlite_storage", "governance_assets.cli.stage")
# What each stage imports: the server imports it once the stage before it has been asked for
# (not earlier, nor for a stage DVC has passed: an import cannot be interrupted, evidently's
# takes 2-3 s, and DVC's request for the next stage must not wait for another stage's import),
# and what the asked stage still lacks before it forks that stage's child (so a module is
# imported once, not in every child). "module:function" also calls a module's warm-up.
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
STAGE_ORDER = (*NEEDS, "promote")   # core.decide.gate_catalog.STAGES (tested), without its imports


# --- starting and stopping the server from `governance run` -----------------------------------

def wanted(env: dict[str, str]) -> bool:
    """GOVERNANCE_STAGE_SERVER=0 runs every stage in its own process (for comparison)."""
    return env.get(ENV) != "0"


class StageServer:
    """The server of one `governance run`, started when DVC has a stage to run or the input
    check must validate (or with the command itself: `start_with_the_command`); `env` points
    the stage commands at it. Its own output goes to a file of its private folder, appended to
    the run's log when it stops."""

    def __init__(self, env: dict[str, str]) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="governance-"))   # 0700: this user only
        self.address = str(self.folder / "stages.sock")
        self.env = {**env, ENV: self.address}
        self.log: Path | None = None
        self._started_with = env
        self._output = self.folder / "server.log"
        self._process: subprocess.Popen | None = None

    def start(self, check_first: bool = False) -> None:
        """Start the server; with `check_first` it takes the input check's request before it
        imports anything, so the check does not wait for Dagster's import."""
        if self._process is not None:
            return
        with self._output.open("a") as sink:
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
            self._process = None
        if not self.folder.exists():
            return
        if self.log is not None and self._output.exists():
            with self.log.open("a") as sink:
                sink.write(self._output.read_text(errors="replace"))
        shutil.rmtree(self.folder, ignore_errors=True)


_with_the_command: list[StageServer] = []


def start_with_the_command() -> None:
    """`governance run` starts its server before the command's own imports (0.6-0.9 s): the
    server's imports are what the first stage waits for. `running` adopts it; if the command
    ends before that, it is stopped at exit."""
    if not wanted(os.environ):
        return
    server = StageServer(dict(os.environ))
    server.start()
    _with_the_command.append(server)
    atexit.register(server.stop)


@contextmanager
def running(env: dict[str, str], log: Path) -> Iterator[StageServer | None]:
    """A stage server for the block (None with GOVERNANCE_STAGE_SERVER=0): the one started
    with the command, else a new one; its own output goes to the run's log."""
    if not wanted(env):
        yield None
        return
    server = _with_the_command.pop() if _with_the_command else StageServer(env)
    server.env, server.log = {**env, ENV: server.address}, log
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
        self.pending: list[tuple[frozenset[int], str]] = []   # (stages that need it, module)
        self.next_stage = 0   # the stage whose needs may be imported while idle
        self.waiter: threading.Thread | None = None
        self.holder: _Holder | None = None
        self.prober: threading.Thread | None = None

    def serve(self, check_first: bool) -> None:
        # The server only imports and forks: without the cyclic collector, which imports keep
        # triggering, its imports before the first stage take 2.1 s instead of 2.6 s. Each
        # child turns it back on for its work.
        gc.disable()
        if check_first:
            self.listener.settimeout(CONNECT_SECONDS)
            with contextlib.suppress(TimeoutError):
                self._serve(self.listener.accept()[0])
        self.pending = _pending_imports()
        while os.getppid() == self.parent:
            due = next((item for item in self.pending if self.next_stage in item[0]), None)
            self.listener.settimeout(0 if due else 1.0)
            try:
                connection, _ = self.listener.accept()
            except (BlockingIOError, TimeoutError):
                if due:
                    self.pending.remove(due)
                    _import([due[1]])
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
        if request["argv"] and request["argv"][-1] in STAGE_ORDER:
            self.next_stage = STAGE_ORDER.index(request["argv"][-1]) + 1
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
        if self.prober is None:   # not before: until the first stage, both cores are busy
            self.prober = _detect_cpu_model_meanwhile()
        self.waiter = threading.Thread(target=answer, args=(self, connection, child, request,
                                                            channel), daemon=True)
        self.waiter.start()

    def _fork(self, become, connection: socket.socket, request: dict, fds: list[int]
              ) -> tuple[int, socket.socket]:
        """A child that runs `become` (never returning), and the server's end of a channel to
        it. The child's collector would walk (and so copy) every page of the server's heap;
        frozen, the server's objects are skipped: 0.15-0.35 s less per stage."""
        if self.prober is not None:
            self.prober.join()
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
        due = [item for item in self.pending if item[1] in wanted]
        for item in due:
            self.pending.remove(item)
        _import([name for _, name in due])


def _pending_imports() -> list[tuple[frozenset[int], str]]:
    """Every module a stage imports, once, with the stages that need it (by their index in
    STAGE_ORDER); the first imports, and the lineage client, every stage."""
    every = frozenset(range(len(STAGE_ORDER)))
    tagged: dict[str, frozenset[int]] = {name: every for name in [*FIRST, *_lineage_modules()]}
    for name in dict.fromkeys(name for needs in NEEDS.values() for name in needs):
        tagged.setdefault(name, frozenset(
            STAGE_ORDER.index(stage) for stage, needs in NEEDS.items() if name in needs))
    return [(stages, name) for name, stages in tagged.items()]


def _detect_cpu_model_meanwhile() -> threading.Thread | None:
    """codecarbon asks py-cpuinfo for the CPU's model once per process (its
    `detect_cpu_model` is cached) and py-cpuinfo starts a Python process to answer: 1.2 s of
    waiting, which a thread spends while the server imports on. Joined before every fork, so
    only one thread exists at a fork; None where codecarbon cannot be imported (the train
    stage reports that)."""
    try:
        from codecarbon.core.util import detect_cpu_model
    except Exception:  # noqa: BLE001 (the stage imports it again and reports the error)
        traceback.print_exc()
        return None
    thread = threading.Thread(target=detect_cpu_model, daemon=True)
    thread.start()
    return thread


def _lineage_modules() -> list[str]:
    """The OpenLineage client, which each stage imports after its run, only where OpenLineage is
    configured (governance_assets/lineage.py, which imports Dagster: so not before the input
    check's child is forked): otherwise no stage imports it."""
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
        said = receive(channel)
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
    gc.enable()
    try:
        connection.close()
        with _files_of(fds):
            _take_on(request)
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


def _take_on(request: dict) -> None:
    """The asking command's working directory and environment, in this forked child."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])


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
    gc.enable()
    try:
        connection.close()
        if channel is not None:
            channel.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        _take_on(request)
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
