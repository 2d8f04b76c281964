"""The `governance` command as a package: one parser that knows every command group's
subcommands, and the stage results `governance run` reads, never another run's."""

import argparse
import importlib
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

from governance_assets import cli
from governance_assets.cli import output, stage_result
from governance_assets.cli import run as run_command
from governance_assets.core.decide.gate_catalog import STAGES
from governance_assets.core.layout import Layout
from governance_assets.entry import CLOSED_PIPE_EXIT

from .conftest import make_project

# Every command `governance` had before it became a package: none may go missing.
COMMANDS = {"run", "check", "report", "ci", "ui", "stage", "promote-production", "show", "list",
            "history", "approve", "reject", "rollback", "keys", "verify", "batches", "monitor",
            "serve-metrics", "compliance-report", "publish", "alerts", "log"}


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _registered_by(module) -> set[str]:
    """The subcommands one cli/ module registers on a parser of its own."""
    parser = argparse.ArgumentParser()
    module.add_parser(parser.add_subparsers())
    return set(_subcommands(parser))


def _command_modules() -> list:
    """Every module of the cli/ package that registers commands (has add_parser)."""
    modules = [importlib.import_module(f"governance_assets.cli.{info.name}")
               for info in pkgutil.iter_modules(cli.__path__) if info.name != "__main__"]
    return [module for module in modules if hasattr(module, "add_parser")]


def test_build_parser_knows_every_subcommand_each_module_registers():
    """Mutation killed: a command module left out of COMMAND_GROUPS (its commands vanish from
    the parser and from the generated CLI reference), or a command dropped from a module."""
    known = set(_subcommands(cli.build_parser()))
    registered = set().union(*(_registered_by(module) for module in _command_modules()))
    assert known == registered
    assert known == COMMANDS


def test_every_subcommand_has_a_help_line_a_description_and_a_handler():
    """The CLI reference page is generated from these texts. Mutation killed: a command
    registered without description= (argparse leaves it None) or without its handler."""
    for name, parser in _subcommands(cli.build_parser()).items():
        assert parser.description and len(parser.description) > 40, name
        assert callable(parser.get_default("handler")), name
    assert all(action.help for action in _subcommands(cli.build_parser())["run"]._actions)


def test_python_dash_m_runs_the_same_parser():
    done = subprocess.run([sys.executable, "-m", "governance_assets.cli", "stage", "--help"],
                          capture_output=True, text=True, check=True)
    assert "reports/runtime/stages/NAME.json" in done.stdout
    for stage in STAGES:
        assert stage in done.stdout


def _progress(tmp_path, token: str) -> run_command.StageProgress:
    return run_command.StageProgress(Layout(tmp_path), list(STAGES), token, set(), {})


def test_a_result_of_another_run_is_never_taken_as_this_runs(tmp_path, capsys):
    """A refusal left by an earlier run (or a `governance stage` typed by hand) must not stop
    this run. Mutation killed: read() without the token check (the stale refusal is printed
    and its exit code counted)."""
    layout = Layout(tmp_path)
    earlier = stage_result.StageResult(stage="document", token="earlier-run", started="t0")
    stage_result.write(layout, stage_result.finish(earlier, 1, "four_fifths_rule: refused"))
    assert stage_result.read(layout, "document", "earlier-run").exit_code == 1
    assert stage_result.read(layout, "document", "this-run") is None
    progress = _progress(tmp_path, "this-run")
    progress.poll()
    assert progress.codes == {} and capsys.readouterr().out == ""


def test_results_of_this_run_print_in_stage_order_and_earlier_stages_settle(tmp_path, capsys):
    """A stage that ran has its result's line and code; the stages before it, with no result,
    were up to date (same dvc.lock entry) or restored (changed before the repro). Mutation
    killed: settling a stage as unchanged when DVC called it changed."""
    layout = Layout(tmp_path)
    progress = run_command.StageProgress(layout, list(STAGES), "this-run", {"evaluate"}, {})
    begun = stage_result.StageResult(stage="document", token="this-run", started="t0")
    stage_result.write(layout, begun)
    progress.poll()
    stage_result.write(layout, stage_result.finish(begun, 1, "four_fifths_rule: refused",
                                                   assets=2, seconds=1.5))
    progress.poll()
    assert capsys.readouterr().out.splitlines() == [
        "  prepare   unchanged, skipped", "  train     unchanged, skipped",
        "  evaluate  restored from DVC's run cache", "  document  running ...",
        "  stage document: 2 asset(s) in 1.5 s, exit 1: four_fifths_rule: refused"]
    assert progress.codes == {"document": 1}


def test_a_half_written_or_foreign_result_file_is_no_result(tmp_path):
    layout = Layout(tmp_path)
    path = layout.stage_result("train")
    path.parent.mkdir(parents=True)
    path.write_text('{"stage": "train", "tok')
    assert stage_result.read(layout, "train", "t") is None
    path.write_text('{"stage": "train", "token": "t", "started": "x", "unknown": 1}')
    assert stage_result.read(layout, "train", "t") is None


def test_a_stage_line_shows_the_errors_message_without_its_dotted_class():
    """Kills: the stage line keeping Dagster's `package.module.Class: ` prefix, or cutting a
    message whose own text holds a colon."""
    from governance_assets.cli.stage import _without_class

    dotted = "governance_assets.core.record.ledger.entry.LedgerTampered: ledger ends at #3"
    assert _without_class(dotted, "LedgerTampered") == "ledger ends at #3"
    assert _without_class("refused: gate x: too low", "Failure") == "refused: gate x: too low"


def test_a_stage_failing_on_an_unknown_error_names_it_on_its_line():
    """A real Dagster run whose asset raises an error of no known kind, wrapped as the
    production asset wraps a sign-off error. Under a plain `dvc repro` the console has only the
    stage's line. Mutation killed: the line saying only "the run failed; see the log"."""
    from dagster import DagsterInstance, Failure, asset, materialize

    from governance_assets.cli.stage import _failure_outcome

    @asset
    def needs_a_request() -> None:
        try:
            raise LookupError("no signed promotion request for version abc")
        except LookupError as error:
            raise Failure(description=str(error)) from error

    with DagsterInstance.ephemeral() as instance:
        result = materialize([needs_a_request], instance=instance, raise_on_error=False)
    assert _failure_outcome(result) == (
        output.FAILURE, "no signed promotion request for version abc; see the log")


def test_a_reader_that_stops_reading_ends_every_command_quietly(tmp_path):
    """`governance report | head` on a real pipe whose reading end is already closed, so the
    command's first write meets it (no race with head). Mutation killed: entry.main without
    its BrokenPipeError handling (a traceback on stderr, exit 1), or a handler that leaves
    stdout on the closed pipe (Python's "Exception ignored" on the final flush, exit 120)."""
    root = make_project(tmp_path)
    governance = Path(sys.executable).parent / "governance"
    for command in (["report"], ["list"], ["history"]):
        reading, writing = os.pipe()
        os.close(reading)
        done = subprocess.run([str(governance), "--root", str(root), *command], stdout=writing,
                              stderr=subprocess.PIPE, text=True)
        os.close(writing)
        assert (command, done.returncode, done.stderr) == (command, CLOSED_PIPE_EXIT, "")
