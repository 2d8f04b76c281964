"""`governance batches` and `governance monitor`: the production loop without a daemon.

`batches` splits the active dataset into batch files where params say; `monitor` registers
every batch file as a partition on the project's instance and scores and monitors the ones not
yet monitored, exactly as the daily schedule would. No file of the batch folder goes unsaid:
each batch run now gets one line (as `governance run` gives each stage one), and so does each
file refused (a stray pair), duplicated (same content as a batch already judged: not scored or
logged again) or ignored, with its reason; a summary line ends the output. Dagster's own output
goes to logs/monitor-<time>.log, and what happened to every file to
reports/monitoring/_runs/<time>.json. Exit codes: 0 monitored with no ERROR, 1 a batch reached
an ERROR level, 2 a batch, a stray pair or params refused (one paragraph), 3 a crash.
"""

from __future__ import annotations

import argparse
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from ..core.files import read_json, write_json_atomic
from ..core.layout import Layout
from ..core.monitor import batches
from ..core.params import ParamsError, load_params
from .alerts import resend_before_monitoring
from .output import DONE, FAILURE, INPUT_ERROR, REFUSED, open_log, output_to, say


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
                    "would: one line per batch, and one per file refused (a stray pair), "
                    "duplicated (same content as a batch already judged) or ignored, with the "
                    "reason; a summary line. Dagster's full log goes to logs/monitor-*.log, "
                    "what happened to every file to reports/monitoring/_runs/*.json. Exit 0 "
                    "no ERROR, 1 a batch reached an ERROR level, 2 a batch or params refused, "
                    "3 a crash.")
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
    """Score and monitor every pending batch on the project's instance: one line per file of the
    batch folder that needs a word, a summary line, the full Dagster log in logs/."""
    from dagster import DagsterInstance

    from ..assets.monitoring import batch_partitions, pending_batches
    from ..core.monitor import metrics

    try:
        params = load_params(root)
    except ParamsError as error:
        say(f"error: {error}")
        return INPUT_ERROR
    layout = Layout(root)
    resend_before_monitoring(layout, params)
    where = batches.folder(root, params.monitoring.batch_folder, params.dataset)
    found = batches.scan(where)
    plan = pending_batches(layout, found)
    log = open_log(layout, "monitor", "latest-monitor.log")
    print(f"monitoring {layout.relative(where)}: {len(plan.pending)} new batch(es) of "
          f"{len(found.batches)} (full log: {layout.relative(log)})", flush=True)
    outcomes = [*_listed(found, plan)]
    with ExitStack() as stack:
        with output_to(log):   # the instance's own notices go to the log too
            instance = stack.enter_context(DagsterInstance.get())
            known = set(instance.get_dynamic_partitions(batch_partitions.name))
            instance.add_dynamic_partitions(batch_partitions.name,
                                            sorted(set(found.batches) - known))
        for key in plan.pending:
            outcomes.append(_monitor_one(root, layout, instance, found.batches[key], log))
    return _conclude(layout, where, log, found, outcomes,
                     metrics.write_metrics(layout, params.monitoring))


def _monitor_one(root: Path, layout: Layout, instance, batch: batches.BatchFile,
                 log: Path) -> dict:
    """One batch through scored_batch and batch_monitoring, Dagster's output in the log."""
    from dagster import materialize

    from ..assets.monitoring import batch_monitoring, scored_batch
    from ..resources import AlertWebhook, GovernanceProject

    with output_to(log):
        print(f"--- batch {batch.key}: {batch.name}", flush=True)
        materialize([scored_batch, batch_monitoring], instance=instance,
                    partition_key=batch.key,
                    resources={"project": GovernanceProject(root=str(root)),
                               "alerts": AlertWebhook()},
                    tags={"governance/batch": batch.key}, raise_on_error=False)
    code, outcome = _print_batch(layout, batch, log)
    return {**_entry(batch.name, batch.key, outcome), "exit": code}


def _listed(found: batches.BatchFolder, plan: batches.Triage):
    """The files not monitored now, each with its one line (unchanged ones only counted)."""
    names = {key: batch.name for key, batch in found.batches.items()}
    for skipped in found.refused:
        say(f"{skipped.name}: REFUSED, nothing scored: {skipped.why}")
        yield {**_entry(skipped.name, batches.partition_key(skipped.name), "refused"),
               "why": skipped.why, "exit": INPUT_ERROR}
    for key, original in plan.duplicates.items():
        why = (f"same content (sha256 {_content(found, key)}) as batch {original!r}: scored "
               "and logged once, under that batch")
        say(f"{names[key]}{_as_key(names[key], key)}: DUPLICATE, {why}")
        yield {**_entry(names[key], key, "duplicate"), "duplicate_of": original, "why": why,
               "exit": DONE}
    for key, status in plan.unchanged.items():
        yield {**_entry(names[key], key, f"already {status['status']}"), "exit": DONE}
    for skipped in found.ignored:
        say(f"{skipped.name}: ignored, {skipped.why}")
        yield {**_entry(skipped.name, None, "ignored"), "why": skipped.why, "exit": DONE}


def _content(found: batches.BatchFolder, key: str) -> str:
    return batches.content_key(found.batches[key].path)


def _entry(name: str, key: str | None, outcome: str) -> dict:
    return {"file": name, "partition_key": key, "outcome": outcome}


def _as_key(name: str, key: str) -> str:
    """The partition key beside the file's name when it is not the name's own stem."""
    return "" if batches.batch_suffix(name) and name[: -len(batches.batch_suffix(name))] == key \
        else f" (partition {key})"


def _conclude(layout: Layout, where: Path, log: Path, found: batches.BatchFolder,
              outcomes: list[dict], metrics: Path) -> int:
    """The summary line, and the run's record of every file in reports/monitoring/_runs/;
    `metrics` is the Prometheus file this run rewrote."""
    code = max((o["exit"] for o in outcomes), default=DONE)
    counts = Counter(o["outcome"] for o in outcomes)
    stamp = log.stem.removeprefix("monitor-")
    summary = layout.monitor_run(stamp)
    write_json_atomic(summary, {
        "folder": layout.relative(where), "log": layout.relative(log),
        "metrics": layout.relative(metrics), "exit": code,
        "batches": len(found.batches), "counts": dict(sorted(counts.items())),
        "files": outcomes})
    told = ", ".join(f"{n} {what}" for what, n in sorted(counts.items())) or "no file"
    print(f"{len(outcomes)} file(s): {told}; exit {code} (summary: {layout.relative(summary)}, "
          f"metrics: {layout.relative(metrics)}, full log: {layout.relative(log)})")
    return code


def _print_batch(layout: Layout, found: batches.BatchFile, log: Path) -> tuple[int, str]:
    """The batch's one line from what its run recorded; exit code and outcome."""
    batch, shown = found.key, found.name + _as_key(found.name, found.key)
    status_path = layout.monitoring(batch) / "status.json"
    content = batches.content_key(found.path)
    status = read_json(status_path) if status_path.is_file() else {}
    if status.get("content") != content:
        say(f"{shown}: FAILED before monitoring; see {layout.relative(log)}")
        return FAILURE, "failed"
    if status["status"] == "refused":
        say(f"{shown}: REFUSED, nothing scored: {status['why']}")
        return INPUT_ERROR, "refused"
    report = read_json(layout.monitoring(batch) / "report.json")
    data, prediction = report["data_drift"], report["prediction_drift"]
    alert = report["alert"]
    sent = "none" if not alert else "sent" if alert["status"] == "delivered" else alert["status"]
    line = (f"{shown}: {report['rows']} rows, drift {report['drift_level']}; largest PSI "
            f"{data['max_psi']:.3g} on {data['max_psi_feature']}, drifted "
            f"{len(data['drifted_features'])} feature(s); score PSI {prediction['psi']:.3g} "
            f"(KS {prediction['ks_statistic']:.3g}); {_auc_part(report['performance'])}; "
            f"{_dir_part(report['fairness'])}; shadow agreement "
            f"{report['shadow'].get('agreement_rate', 'n/a')}; alert {sent}")
    say(line)
    return (REFUSED if "ERROR" in report["levels"].values() else DONE), "monitored"


def _auc_part(performance: dict) -> str:
    """`AUC 0.741 (drop 0.012, noise floor 0.031, error > 0.05) OK`, or n/a."""
    if "auc" not in performance:
        return "AUC n/a"
    return (f"AUC {performance['auc']:.3f} (drop {performance['auc_drop']:.3g}, noise floor "
            f"{performance['auc_drop_noise_floor']:.3g}, error > "
            f"{performance['thresholds']['error']:g}) {performance['level']}")


def _dir_part(fairness: dict) -> str:
    """`lowest DIR 0.72 [0.55, 0.91] (error < 0.8) WARN`, or not measured."""
    from ..core.monitor.batch_fairness import estimate_text

    if fairness["disparate_impact_ratio_min"] is None:
        return "lowest DIR not measured (insufficient evidence)"
    return (f"lowest DIR {estimate_text(fairness)} (error < "
            f"{fairness['thresholds']['error']:g}) {fairness['level']}")
