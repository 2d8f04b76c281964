"""`governance batches` and `governance monitor`: the production loop without a daemon.

`batches` splits the active dataset into batch files where params say; `monitor` registers
every batch file as a partition on the project's instance and scores and monitors the ones not
yet monitored, exactly as the daily schedule would. Exit codes: 0 monitored with no ERROR,
1 a batch reached an ERROR level, 2 a batch or params refused (one paragraph), 3 a crash.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.files import read_json
from ..core.layout import Layout
from ..core.monitor import batches
from ..core.params import ParamsError, load_params
from .output import DONE, FAILURE, INPUT_ERROR, REFUSED, say


def add_parser(commands: argparse._SubParsersAction) -> None:
    batches_parser = commands.add_parser(
        "batches", help="split the dataset into batch files",
        description="Split the active dataset into batch files in the folder params.yaml's "
                    "monitoring.batch_folder names (by its time column when it has one), as a "
                    "stand-in for production data arriving.")
    batches_parser.add_argument("--rows", type=int, default=5000, help="rows per batch")
    batches_parser.add_argument("--period", action="append", help="time value(s) to keep")
    batches_parser.add_argument("--without-labels", action="store_true",
                                help="leave the target column out, as unlabelled traffic")
    batches_parser.set_defaults(handler=_batches_command)
    monitor_parser = commands.add_parser(
        "monitor", help="score and monitor every new batch file",
        description="Register every batch file as a partition on the project's instance and "
                    "score and monitor the ones not yet monitored, as the daily schedule "
                    "would: one line per batch. Exit 0 no ERROR, 1 a batch reached an ERROR "
                    "level, 2 a batch or params refused, 3 a crash.")
    monitor_parser.set_defaults(handler=_monitor_command)


def _batches_command(root: Path, args: argparse.Namespace) -> int:
    return make_batches(root, args.rows, args.period, not args.without_labels)


def _monitor_command(root: Path, _args: argparse.Namespace) -> int:
    return monitor(root)


def make_batches(root: Path, rows: int, periods: list[str] | None, with_labels: bool) -> int:
    from ..core.data.raw_files import DataError, read_raw

    try:
        params = load_params(root)
        spec = params.active
        out = batches.folder(root, params.monitoring.batch_folder, params.dataset)
        manifest = batches.split_into_batches(read_raw(root / spec.path), spec, out, rows,
                                              params.split.seed, periods, with_labels)
    except (ParamsError, DataError, batches.BatchError) as error:
        say(f"error: {error}")
        return INPUT_ERROR
    print(f"{len(manifest['batches'])} batch file(s) in {out.relative_to(root)}: "
          f"{manifest['how']}")
    return DONE


def monitor(root: Path) -> int:
    """Score and monitor every pending batch on the project's instance; print one line each."""
    from dagster import DagsterInstance, materialize

    from ..assets.monitoring import (
        batch_monitoring,
        batch_partitions,
        pending_batches,
        scored_batch,
    )
    from ..resources import AlertWebhook, GovernanceProject

    try:
        params = load_params(root)
        files = batches.list_batches(batches.folder(root, params.monitoring.batch_folder,
                                                    params.dataset))
    except (ParamsError, batches.BatchError) as error:
        say(f"error: {error}")
        return INPUT_ERROR
    layout = Layout(root)
    pending = pending_batches(layout, files)
    if not pending:
        print(f"no new batch in {params.monitoring.batch_folder}/{params.dataset}")
        return DONE
    codes = []
    with DagsterInstance.get() as instance:
        known = set(instance.get_dynamic_partitions(batch_partitions.name))
        instance.add_dynamic_partitions(batch_partitions.name, sorted(set(files) - known))
        for batch in sorted(pending):
            materialize([scored_batch, batch_monitoring], instance=instance, partition_key=batch,
                        resources={"project": GovernanceProject(root=str(root)),
                                   "alerts": AlertWebhook()},
                        tags={"governance/batch": batch}, raise_on_error=False)
            codes.append(_print_batch(layout, batch))
    return max(codes)


def _print_batch(layout: Layout, batch: str) -> int:
    status_path = layout.monitoring(batch) / "status.json"
    if not status_path.is_file():
        say(f"{batch}: failed before monitoring (see the run in the Dagster UI)")
        return FAILURE
    status = read_json(status_path)
    if status["status"] == "refused":
        say(f"{batch}: REFUSED, nothing scored: {status['why']}")
        return INPUT_ERROR
    report = read_json(layout.monitoring(batch) / "report.json")
    data, prediction = report["data_drift"], report["prediction_drift"]
    auc = report["performance"].get("auc")
    alert = report["alert"]
    sent = "none" if not alert else "sent" if alert["delivered"] else "NOT delivered"
    line = (f"{batch}: {report['rows']} rows, drift {report['drift_level']}; largest PSI "
            f"{data['max_psi']:.3g} on {data['max_psi_feature']}, drifted "
            f"{len(data['drifted_features'])} feature(s); score PSI {prediction['psi']:.3g} "
            f"(KS {prediction['ks_statistic']:.3g}); AUC "
            f"{'n/a' if auc is None else f'{auc:.3f}'}; lowest DIR "
            f"{report['fairness']['disparate_impact_ratio_min']}; shadow agreement "
            f"{report['shadow'].get('agreement_rate', 'n/a')}; alert {sent}")
    say(line)
    return REFUSED if "ERROR" in report["levels"].values() else DONE
