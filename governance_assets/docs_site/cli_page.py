"""docs/reference/cli.md from the `governance` command's own argparse parser.

The exit codes are the parser's description (the command's docstring), so they are written once,
in the code; every subcommand's usage, arguments, help, choices and defaults are read from it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..cli import build_parser
from ..core.report.markdown import rendered_table
from .page_text import code, one_line, page

HIDDEN = (argparse._HelpAction, argparse._SubParsersAction)
USAGE_WIDTH = 100


def default_text(action: argparse.Action) -> str:
    """The default as a reader types it; the current directory is named, not printed."""
    default = action.default
    if default is None or default is argparse.SUPPRESS or isinstance(default, bool):
        return ""
    if isinstance(default, Path) and default == Path.cwd():
        return "the current directory"
    return code(default)


def _name(action: argparse.Action) -> str:
    if not action.option_strings:
        return code(action.dest)
    return ", ".join(code(option) for option in action.option_strings)


def _details(action: argparse.Action) -> str:
    parts = [one_line(action.help)]
    if action.choices:
        parts.append("one of " + ", ".join(code(choice) for choice in action.choices))
    if action.option_strings and action.required:
        parts.append("required")
    if action.nargs is None and not action.option_strings:
        parts.append("required")
    if isinstance(action, argparse._AppendAction):
        parts.append("repeatable")
    return "; ".join(part for part in parts if part)


def arguments_table(parser: argparse.ArgumentParser) -> str:
    rows = [(_name(action), _details(action), default_text(action))
            for action in parser._actions if not isinstance(action, HIDDEN)]
    if not rows:
        return "No arguments."
    return rendered_table(("Argument", "What it does", "Default"), rows)


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, help, parser) of each subcommand, in the order the parser lists them."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            return [(name, helps.get(name, ""), sub) for name, sub in action.choices.items()]
    return []


def usage(parser: argparse.ArgumentParser) -> str:
    """The usage line at a fixed width: argparse otherwise wraps at the terminal's."""
    formatter = argparse.HelpFormatter(parser.prog, width=USAGE_WIDTH)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups,
                        prefix="")
    return formatter.format_help().strip()


def command_section(name: str, help_text: str, parser: argparse.ArgumentParser) -> str:
    return "\n\n".join((f"### {name}", one_line(help_text), f"```\n{usage(parser)}\n```",
                        arguments_table(parser)))


def render() -> str:
    parser = build_parser()
    commands = _subcommands(parser)
    summary = rendered_table(("Command", "What it does"),
                    [(f"[{name}](#{name})", one_line(text)) for name, text, _ in commands])
    intro = (f"The `{parser.prog}` command, read from its parser "
             "(`governance_assets.cli.build_parser`). Options of the command itself go before "
             "the subcommand.")
    return page("Command-line reference", intro,
                f"```\n{(parser.description or '').strip()}\n```",
                "## Options of every command", arguments_table(parser), "## Commands", summary,
                *(command_section(name, text, sub) for name, text, sub in commands))
