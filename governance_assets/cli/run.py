"""`governance run`: check the inputs, `dvc repro` the governed graph, report the gates.

DVC decides what to re-run from files; each stage it runs writes a structured result
(stage_result.py) bound to this run's token, and the run learns every stage's outcome from
those results. A stage DVC did not run has no new result: whether it was unchanged or restored
from DVC's run cache comes from DVC's own state (`dvc status --json` before the repro, and the
stage's dvc.lock entry before and after). DVC's own output goes to the run's log.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .. import stage_server
from ..core import yaml_text
from ..core.decide.gate_catalog import STAGES
from ..core.layout import Layout
from ..core.params import load_params
from . import dvc_fingerprint, stage_result
from .check import check_before_run
from .output import (
    DONE,
    FAILURE,
    INPUT_ERROR,
    REFUSED,
    error_paragraph,
    ledger_errors_as_input_errors,
    open_log,
    say,
)
from .report import recorded_decision, report


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "run", help="check inputs, dvc repro the graph, report",
        description="Check params.yaml and the dataset (exit 2 before DVC touches any output "
                    "if they break a rule), `dvc repro` the stages prepare, train, evaluate, "
                    "document and promote, print one line per stage and the gate table. Exit 0 "
                    "promoted, 1 a gate refused, 2 config or data error, 3 other failure. DVC's "
                    "output goes to logs/latest.log.")
    parser.add_argument("--force", action="store_true", help="re-run every stage")
    parser.set_defaults(handler=_run_command)


@ledger_errors_as_input_errors
def _run_command(root: Path, args: argparse.Namespace) -> int:
    return run(root, args.force)


def run(root: Path, force: bool) -> int:
    """Check inputs, `dvc repro` the graph, report.

    If DVC calls a stage up to date but its gates have no verdict for the current inputs (the
    verdict store was removed, or a run was killed after DVC recorded it) or promote has no
    decision for the candidate, that stage and everything after it run again, once, so the
    plain command recovers without --force.
    """
    from ..core.record.registry import init_registry

    layout = Layout(root)
    with _one_run_at_a_time(layout):
        log = open_log(layout, "run", "latest.log")
        env = {**os.environ, "GOVERNANCE_STAGE": "1"}
        with stage_server.running(env, log) as server:
            code = check_before_run(root, server.check if server else None)
            if code != DONE:
                return code
            init_registry(layout.registry, layout.production_pointer)
            print(f"dvc repro of {', '.join(STAGES)} (full log: {layout.relative(log)})",
                  flush=True)
            returned, codes = _repro_until_judged(root, log, server.env if server else env,
                                                  server, force)
        return _report(root, log, returned, codes)


@contextmanager
def _one_run_at_a_time(layout: Layout) -> Iterator[None]:
    """Two runs in one checkout would race DVC's lock and the same outputs: the second waits.

    The lock file is opened without following a symlink, so a planted link cannot make the
    run truncate another file."""
    layout.logs.mkdir(parents=True, exist_ok=True)
    path = layout.logs / ".run.lock"
    handle = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(handle, 64, 0).decode(errors="replace").strip() or "unknown"
            print(f"another `governance run` is working in this checkout (pid {holder}); "
                  "waiting for it to finish", flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        os.ftruncate(handle, 0)
        os.pwrite(handle, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(handle)


def dvc_binary(root: Path) -> str:
    """DVC from its isolated environment (.venv-dvc), else from PATH; exit 3 without it."""
    isolated = root / ".venv-dvc" / "bin" / "dvc"
    found = str(isolated) if isolated.exists() else shutil.which("dvc")
    if not found:
        print(error_paragraph("dvc not found: run `make setup` (DVC lives in .venv-dvc)",
                              FAILURE))
        sys.exit(FAILURE)
    return found


# --- what DVC's own state says ---------------------------------------------------------------

def _lock_entries(root: Path) -> dict[str, object]:
    """Each stage's dvc.lock entry (its deps', params' and outs' hashes), by stage name."""
    path = root / "dvc.lock"
    if not path.is_file():
        return {}
    return (yaml_text.safe_load(path.read_text()) or {}).get("stages", {})


def _changed_stages(root: Path, log: Path) -> set[str] | None:
    """The stages of dvc.yaml that `dvc status --json` calls changed; None if DVC cannot say
    (the repro that follows reports why). Nothing, without starting DVC, when no file DVC
    reads has moved since it last said so (dvc_fingerprint.py)."""
    before = dvc_fingerprint.fingerprint(root)
    if dvc_fingerprint.unchanged_since_recorded(root, before):
        with log.open("a") as sink:
            sink.write("dvc status: not asked; no file it reads changed size, mtime or inode "
                       "since it last found nothing changed "
                       f"({Layout(root).relative(dvc_fingerprint.record_path(root))})\n")
        return set()
    return _ask_dvc_status(root, log, before)()


def _ask_dvc_status(root: Path, log: Path, before: dict[str, list[int]]
                    ) -> Callable[[], set[str] | None]:
    """Start `dvc status --json`; the returned call waits for its answer (the changed
    stages, None if DVC cannot say) and, when nothing changed, records the fingerprint
    `before`, so the next run with nothing to do needs no DVC."""
    command = [dvc_binary(root), "status", "--json", "dvc.yaml"]
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)

    def answer() -> set[str] | None:
        stdout, stderr = process.communicate()
        with log.open("a") as sink:
            sink.write(f"$ {' '.join(command)}\n{stdout}{stderr}")
        try:
            changed = set(json.loads(stdout)) & set(STAGES) if process.returncode == 0 else None
        except ValueError:
            return None
        if changed == set():
            dvc_fingerprint.record(root, before)
        return changed

    return answer


# --- one `dvc repro` and the stages' results -------------------------------------------------

@dataclass
class StageProgress:
    """The stages of one `dvc repro`, printed in order as their results arrive: a stage with
    a result ran (its line and exit code are the result's); a stage before one that started,
    without a result, was up to date or restored from DVC's run cache."""

    layout: Layout
    stages: list[str]
    token: str
    changed_before: set[str]
    lock_before: dict[str, object]
    codes: dict[str, int] = field(default_factory=dict)
    _printed: dict[str, str] = field(default_factory=dict)

    def poll(self) -> None:
        """Print what the results written since the last poll say."""
        for index, name in enumerate(self.stages):
            result = stage_result.read(self.layout, name, self.token)
            if result is None:
                continue
            self._settle(self.stages[:index])
            if result.is_finished and self._printed.get(name) != "finished":
                self.codes[name] = result.exit_code
                self._print(name, "finished", result.line())
            elif not result.is_finished and name not in self._printed:
                self._print(name, "running", f"{name:<9} running ...")

    def finish(self, up_to_date: list[str]) -> None:
        """After DVC: the last results, then the stages DVC left up to date without running."""
        self.poll()
        self._settle(up_to_date)

    def _settle(self, names: list[str]) -> None:
        """Stages DVC is past without running them: unchanged, or restored from its run
        cache (changed before the repro, or a new dvc.lock entry without a run)."""
        lock_now = None
        for name in names:
            if name in self._printed:
                continue
            lock_now = _lock_entries(self.layout.root) if lock_now is None else lock_now
            restored = (name in self.changed_before
                        or lock_now.get(name) != self.lock_before.get(name))
            self._print(name, "settled", f"{name:<9} " + (
                "restored from DVC's run cache" if restored else "unchanged, skipped"))

    def _print(self, name: str, state: str, line: str) -> None:
        self._printed[name] = state
        say(f"  {line}")
        sys.stdout.flush()


def _repro(root: Path, log: Path, env: dict[str, str], server: stage_server.StageServer | None,
           force: bool, downstream_of: str | None = None) -> tuple[int, dict[str, int]]:
    """One `dvc repro` (of every stage, or of one and those after it): DVC's output to the
    log, one line per stage to the console from the stages' results; DVC's exit code and each
    stage's. The stage server starts only when DVC has a stage to run, so a run with nothing
    to do never pays for it (nor for DVC's repro)."""
    stages = list(STAGES[STAGES.index(downstream_of):] if downstream_of else STAGES)
    changed = set(stages) if force else _changed_stages(root, log)
    progress = StageProgress(Layout(root), stages, stage_result.new_token(),
                             set(stages) if changed is None else changed, _lock_entries(root))
    if changed == set():
        progress.finish(stages)
        return 0, progress.codes
    if server:
        server.start()
    arguments = (["--force"] if force else []) + (["--downstream", downstream_of]
                                                  if downstream_of else [])
    returned = _stream_dvc(root, [dvc_binary(root), "repro", *arguments], log,
                           {**env, stage_result.TOKEN_ENV: progress.token}, progress)
    progress.finish(stages if returned == 0 else _reached_up_to_date(root, stages, log))
    return returned, progress.codes


def _stream_dvc(root: Path, command: list[str], log: Path, env: dict[str, str],
                progress: StageProgress) -> int:
    """Run DVC with its output going to the log; after each line it writes, read the stages'
    results (so a stage's line is printed as soon as it ends)."""
    with log.open("a") as sink:
        sink.write(f"$ {' '.join(command)}\n")
        sink.flush()
        process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, env=env)
        for line in process.stdout:
            sink.write(line)
            progress.poll()
        return process.wait()


def _reached_up_to_date(root: Path, stages: list[str], log: Path) -> list[str]:
    """After a failed repro: the stages before the first one DVC still calls changed (DVC
    got past those; the later ones it never reached)."""
    changed = _changed_stages(root, log) or set(stages)
    first = next((index for index, name in enumerate(stages) if name in changed), len(stages))
    return stages[:first]


def _unjudged_stage(root: Path) -> tuple[str, str] | None:
    """The first stage DVC calls up to date whose judgement is missing for the current inputs,
    and why: its gates have no verdict, or (promote, which has no outs) the recorded decision
    was not made on the current standings of the gates, as in a fresh clone of a committed
    dvc.lock, or after a policy tightened and restored (DVC restores `document` from its run
    cache and calls promote up to date, while the latest decision is the strict one's)."""
    from ..core.decide import decisions
    from ..core.decide.verdicts import CURRENT, standings

    layout, params = Layout(root), load_params(root)
    items = standings(params, layout)
    for item in items:
        if item.state != CURRENT and item.gate.stage in STAGES:
            return item.gate.stage, ("verdicts missing for the current inputs: re-running it "
                                     "and every stage after it")
    record = decisions.latest_decision(layout)
    if record is None:
        return "promote", ("no decision recorded for this candidate (a fresh clone, or the "
                           "last run stopped before promote): running it")
    rows = [item.to_dict() for item in items]
    if not decisions.in_force(record, rows, params.policy_hash):
        return "promote", f"{recorded_decision(record, rows, params)}: deciding again"
    return None


def _repro_until_judged(root: Path, log: Path, env: dict[str, str],
                        server: stage_server.StageServer | None, force: bool
                        ) -> tuple[int, dict[str, int]]:
    """`dvc repro`, then once more from the first stage whose judgement is missing."""
    returned, codes = _repro(root, log, env, server, force)
    unjudged = _unjudged_stage(root) if returned == 0 else None
    if unjudged:
        stage, why = unjudged
        print(f"  {stage:<9} {why}", flush=True)
        returned, again = _repro(root, log, env, server, True, downstream_of=stage)
        codes.update(again)
    return returned, codes


def _report(root: Path, log: Path, returned: int, codes: dict[str, int]) -> int:
    """The gate table. DVC's word on the new state, so the next no-op needs no DVC, is asked
    while it prints."""
    settled = (_ask_dvc_status(root, log, dvc_fingerprint.fingerprint(root))
               if returned == 0 and codes else None)
    try:
        return _conclude(root, returned, codes, log)
    finally:
        if settled is not None:
            settled()


def _conclude(root: Path, returned: int, codes: dict[str, int], log: Path) -> int:
    layout = Layout(root)
    if INPUT_ERROR in codes.values():
        failed = next(name for name, c in codes.items() if c == INPUT_ERROR)
        print(f"\nstage {failed} stopped on a config or data error; see "
              f"{layout.relative(log)} (exit {INPUT_ERROR}).")
        return INPUT_ERROR
    outcome = report(root, stopped_at=_stopped_at(codes))
    if outcome == DONE and returned != 0:
        print(f"\ndvc repro failed (exit {returned}) although no gate refused, so this run "
              f"exits {FAILURE}, not {outcome} as above; see {layout.relative(log)}.")
        return FAILURE
    if outcome == REFUSED and returned != 0 and REFUSED not in codes.values() and codes:
        print(f"\ndvc repro failed (exit {returned}), so this run exits {FAILURE}, not "
              f"{REFUSED} as above; see {layout.relative(log)}.")
        return FAILURE
    print(f"\nFull log: {layout.relative(log)}")
    return outcome


def _stopped_at(codes: dict[str, int]) -> str | None:
    for name in STAGES:
        if codes.get(name, 0) != 0:
            return name
    return None
