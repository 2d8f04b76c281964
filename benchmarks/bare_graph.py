"""The governed graph's computations in one plain Python process: the baseline that
run_benchmarks.py sets the whole graph against.

Every asset body and every gate runs exactly as in the graph (the same functions, reading and
writing the same files), called as plain functions in stage order: no Dagster run, instance or
event log, no DVC, one interpreter. Usage: python benchmarks/bare_graph.py PROJECT_ROOT
"""

from __future__ import annotations

import inspect
import logging
import sys
import time
from pathlib import Path
from types import SimpleNamespace

BARE_RUN_ID = "bare-baseline"


def _context() -> SimpleNamespace:
    """What the asset bodies read from Dagster's context: a run id, tags and a logger."""
    return SimpleNamespace(run_id=BARE_RUN_ID, log=logging.getLogger("bare"),
                           run=SimpleNamespace(run_id=BARE_RUN_ID, tags={}))


def _call(definition, node, project) -> None:
    function = node.compute_fn.decorated_fn
    arguments = {"context": _context(), "project": project}
    wanted = inspect.signature(function).parameters
    function(**{name: value for name, value in arguments.items() if name in wanted})


def run(root: Path) -> dict[str, float]:
    """Seconds per asset (with its gates), in the graph's order; production is left out, as
    `governance run` leaves it out (it waits for a human approval)."""
    from governance_assets.assets import GRAPH_ASSETS, PROMOTION_CHECKS, production_model
    from governance_assets.checks import GATE_CHECKS
    from governance_assets.resources import GovernanceProject

    project = GovernanceProject(root=str(root))
    checks = [*GATE_CHECKS, PROMOTION_CHECKS[0]]
    seconds = {}
    for asset in GRAPH_ASSETS:
        if asset is production_model:
            continue
        started = time.perf_counter()
        _call(asset, asset.op, project)
        for check in checks:
            if next(iter(check.check_keys)).asset_key == asset.key:
                _call(check, check.node_def, project)
        seconds[asset.key.to_user_string()] = time.perf_counter() - started
    return seconds


if __name__ == "__main__":
    started = time.perf_counter()
    timings = run(Path(sys.argv[1]).resolve())
    for name, spent in timings.items():
        print(f"{name}\t{spent:.3f}")
    print(f"total\t{time.perf_counter() - started:.3f}")
