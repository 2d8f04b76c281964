"""The `governance` command: check inputs, run the governed graph through DVC, report the gates,
and keep the registry, sign-off and production monitoring.

Commands, by the module of governance_assets/cli/ that registers them:
  run.py       run       check inputs, `dvc repro` the graph, one line per stage, the gates
  check.py     check     validate params.yaml and the dataset; run nothing
  report.py    report, compliance-report: every gate's standing against the current
               inputs; production's compliance report regenerated into the ledger
  ci.py        ci        run, then the gates as JUnit XML and a Markdown summary
  ui.py        ui        the Dagster UI on the project's instance
  stage.py     stage     one DVC stage (what dvc.yaml calls); writes the result `run` reads
  registry.py  show, list, history, approve, reject, rollback, keys, verify,
               promote-production: the registry, its ledger and sign-off
  monitor.py   batches, monitor: the production loop without a daemon
  metrics.py   serve-metrics: monitoring statistics and gate counts for Prometheus
  publish.py   publish mlflow: a version that passed its gates, into an MLflow registry
  alerts.py    alerts    the monitoring alert outbox: list, re-send the undelivered
  log.py       log       audit questions over the decision log: SQL over its Parquet parts

Exit codes: output.EXIT_CODES, named once.
"""

from __future__ import annotations

import argparse
import importlib

from .output import EXIT_CODES
from .project import add_root_argument, project_root

# Imported when a parser is built, not with the package: the stage server's children import
# cli/stage.py, which needs none of the others (DuckDB, MLflow's client, the outbox).
COMMAND_GROUPS = ("run", "check", "report", "ci", "ui", "stage", "registry", "monitor", "alerts",
                  "log", "metrics", "publish")
DESCRIPTION = f"""Check inputs, run the governed graph through DVC, report the gates; keep the
registry, its ledger and sign-off; monitor production batches.

{EXIT_CODES}"""


def build_parser() -> argparse.ArgumentParser:
    """The complete `governance` parser: every subcommand of every command group."""
    parser = argparse.ArgumentParser(prog="governance", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_root_argument(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        importlib.import_module(f"{__name__}.{group}").add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(project_root(args), args)
