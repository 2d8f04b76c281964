"""`governance ci`: the main job as CI runs it, with the gates as JUnit XML and a Markdown
summary (to $GITHUB_STEP_SUMMARY too when it is set); the job's own exit code."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path

from ..core.layout import Layout
from .output import DONE, FAILURE, INPUT_ERROR, REFUSED, ledger_errors_as_input_errors
from .run import dvc_binary, run

DECISIONS = {DONE: "PROMOTED", REFUSED: "BLOCKED", INPUT_ERROR: "CONFIG OR DATA ERROR",
             FAILURE: "FAILED"}


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "ci", help="run, then write the gates as JUnit XML and a Markdown summary; exit "
                   "non-zero if refused",
        description="`governance run`, then one JUnit test case per gate (junit.xml) and a "
                    "Markdown summary with every DVC metric beside its value on a git ref (`dvc "
                    "metrics diff --all`) and `dvc params diff` against it (summary.md, "
                    "appended to $GITHUB_STEP_SUMMARY when set). Exits with the run's code, "
                    "naming the gates that refused.")
    parser.add_argument("--against", default="main",
                        help="git ref for `dvc metrics diff` / `dvc params diff` (main)")
    parser.add_argument("--output", type=Path, default=Path("reports/ci"),
                        help="folder for junit.xml and summary.md, under the root")
    parser.set_defaults(handler=_ci_command)


@ledger_errors_as_input_errors
def _ci_command(root: Path, args: argparse.Namespace) -> int:
    return ci(root, args.against, root / args.output)


def _is_commit(root: Path, ref: str) -> bool:
    found = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                           cwd=root, capture_output=True)
    return found.returncode == 0


def _dvc(root: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([dvc_binary(root), *arguments], cwd=root, capture_output=True,
                          text=True)


def dvc_diffs(root: Path, against: str) -> dict[str, str]:
    """Every DVC metric beside its value on a git ref (`dvc metrics diff --all`: the unchanged
    ones too), and `dvc params diff`, as Markdown tables."""
    from ..core.decide.ci_report import metrics_diff_markdown

    metrics_title, params_title = f"dvc metrics diff {against} --all", f"dvc params diff {against}"
    if not _is_commit(root, against):
        return {title: f"`{against}` is not a commit here; nothing to compare against"
                for title in (metrics_title, params_title)}
    metrics = _dvc(root, "metrics", "diff", against, "--all", "--json")
    params = _dvc(root, "params", "diff", against, "--md")
    return {
        metrics_title: (metrics_diff_markdown(json.loads(metrics.stdout or "{}"), against)
                        if metrics.returncode == 0
                        else f"dvc metrics diff failed: {metrics.stderr.strip()}"),
        # a table with only its header row and rule has no differences
        params_title: ((params.stdout if len(params.stdout.strip().splitlines()) > 2 else "")
                       if params.returncode == 0
                       else f"dvc params diff failed: {params.stderr.strip()}"),
    }


def ci(root: Path, against: str, output: Path) -> int:
    """The main job, then junit.xml and summary.md under output; the job's exit code."""
    from ..core.decide.ci_report import junit_xml, summary_markdown
    from ..core.files import write_bytes_atomic

    layout = Layout(root)
    code = run(root, force=False)
    decision = DECISIONS.get(code, f"exit {code}")
    rows = json.loads(layout.gates.read_text())["gates"] if layout.gates.is_file() else []
    junit, summary = output / "junit.xml", output / "summary.md"
    write_bytes_atomic(junit, junit_xml(rows, decision))
    text = summary_markdown(rows, decision, dvc_diffs(root, against))
    write_bytes_atomic(summary, text.encode())
    if step_summary := os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(step_summary, "a") as sink:
            sink.write(text)
    print(f"CI: {layout.relative(junit)} ({len(rows)} gate test cases), "
          f"{layout.relative(summary)}")
    refused = [row["name"] for row in rows if row["blocks_promotion"]]
    if code != DONE:
        print(f"CI fails (exit {code}): {decision}"
              + (f", refused by {', '.join(refused)}" if refused else ""))
    return code
