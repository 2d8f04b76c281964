"""Group monitoring: production batches scored by the `production` model, then watched.

One dynamic partition per batch file (core/monitor/batches.py): batches arrive as files at irregular
times and in any number per day, so a daily partition would invent empty days and force one
file per day, and static partitions would need a code change per batch. The monitoring
schedule registers each new file as a partition; a partition can also be added by hand in the
UI. A file whose name cannot be a key is registered under a safe key (`batches.partition_key`,
recorded as `file` in its status, scored.json and report); a file whose content was already
monitored or refused under another key is a duplicate and is never run (`pending_batches`),
so the decision log never holds the same rows twice. Neither asset is part of the DVC graph
or the `governed_graph` job: `make run` never waits for them.
"""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    DataVersion,
    DynamicPartitionsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from ..core.data.columns import input_columns
from ..core.files import read_json, read_parquet, write_json_atomic
from ..core.layout import Layout
from ..core.model import model_files
from ..core.monitor import batches, metrics
from ..core.record import registry
from ..core.trust import signoff
from ..resources import AlertWebhook, GovernanceProject
from .publishing import CODE_VERSION

batch_partitions = DynamicPartitionsDefinition(name="production_batches")

MONITORING_CHECKS = {
    "feature_psi": "Largest feature PSI (reference-decile bins) above monitoring.psi and its "
                   "noise floor",
    "drifted_share": "Share of features drifted at ERROR level, against monitoring.drifted_share",
    "prediction_drift": "PSI of the production scores against the reference's scores (KS beside "
                        "it), against monitoring.prediction_psi and its noise floor",
    "label_drift": "PSI of the favourable-label share, with monitoring.min_labelled_rows "
                   "labels (monitoring.label_psi) and above its noise floor",
    "batch_auc": "Production card's golden AUC minus the batch AUC, with "
                 "monitoring.min_labelled_rows labels (monitoring.auc_drop) and above its noise "
                 "floor",
    "batch_disparate_impact": "Lowest disparate impact ratio in the batch's decisions, with its "
                              "bootstrap interval (monitoring.disparate_impact); an ERROR (a "
                              "fairness breach) needs the whole interval below the error level; "
                              "groups below policy.min_group_size rows are insufficient "
                              "evidence",
}


def _status_path(layout: Layout, batch: str):
    return layout.monitoring(batch) / "status.json"


def recorded_statuses(layout: Layout) -> dict[str, dict]:
    """The status each batch's last run left (its content, monitored or refused), by key."""
    found = {}
    for path in sorted(layout.monitoring_root.glob("*/status.json")):
        found[path.parent.name] = read_json(path)
    return found


def pending_batches(layout: Layout, found: batches.BatchFolder) -> batches.Triage:
    """Each batch of the folder by content: pending (neither monitored nor refused), unchanged,
    or a duplicate of a batch already judged."""
    contents = {key: batches.content_key(batch.path) for key, batch in found.batches.items()}
    return batches.triage(found.batches, contents, recorded_statuses(layout))


def _refuse(layout: Layout, batch: str, file: str, content: str, message: str
            ) -> MaterializeResult:
    """Nothing scored: the paragraph names file, column, value and rule; a blocking ERROR."""
    write_json_atomic(_status_path(layout, batch),
                      {"batch": batch, "file": file, "content": content, "status": "refused",
                       "why": message})
    return MaterializeResult(
        metadata={"status": "refused", "why": message},
        check_results=[AssetCheckResult(check_name="batch_schema", passed=False,
                                        severity=AssetCheckSeverity.ERROR,
                                        description=message)])


@asset(group_name="monitoring", partitions_def=batch_partitions, kinds={"parquet"},
       code_version=CODE_VERSION,
       check_specs=[AssetCheckSpec(
           "batch_schema", asset="scored_batch", blocking=True,
           description="The batch passes the training data's validator (columns, types, "
                       "category codes, missing values, personal data, declared labels); "
                       "otherwise nothing is scored and monitoring stops.")])
def scored_batch(context: AssetExecutionContext, project: GovernanceProject) -> MaterializeResult:
    """The batch validated by the training data's validator (core/data/validation.py, BATCH
    expectations) and scored by `production` (and `staging` in shadow); every decision appended
    to the batch's decision log."""
    from ..core.data import raw_files
    from ..core.monitor import batch_stream

    params, layout, batch = project.params(), project.layout, context.partition_key
    spec, settings = params.active, params.monitoring
    where = batches.folder(layout.root, settings.batch_folder, params.dataset)
    try:
        path = batches.batch_file(where, batch)
    except batches.BatchError as error:
        raise Failure(description=str(error)) from error
    content, file = batches.content_key(path), layout.relative(path)
    # beside the batches' folders, never inside one: a refused batch leaves no folder
    staging = layout.scored_batch(batch).parent.parent / ".validated" / batch
    try:
        validated = batch_stream.validate_in_pieces(path, spec, params.policy, file,
                                                    settings.stream_rows, staging)
    except raw_files.DataError as error:
        return _refuse(layout, batch, file, content, str(error))
    write_json_atomic(layout.monitoring(batch) / "validation.json", validated.report)
    if validated.refusal is not None:
        return _refuse(layout, batch, file, content, validated.refusal)
    try:
        production = signoff.production_version(
            layout.registry, lambda: signoff.Trust.of(layout.root, params.signoff))
    except signoff.SignoffError as error:
        raise Failure(description=str(error)) from error
    if production is None:
        raise Failure(description="no `production` version in the registry: a batch is scored "
                                  "only by an approved production model")
    scorers = _scorers(layout, production, settings.shadow, model_files.declared_types(spec))
    log = layout.decision_log(batch, content)
    features = input_columns(scorers[0].model, spec.model_features)
    logged = batch_stream.score_pieces(validated, scorers, log, batch, settings.log_chunk_rows,
                                       context.run_id, spec, features,
                                       layout.scored_batch(batch))
    shadow = scorers[1].version if len(scorers) > 1 else None
    write_json_atomic(layout.monitoring(batch) / "scored.json", {
        "batch": batch, "file": file, "content": content,
        "production_version": production, "shadow_version": shadow,
        "shadow_note": _shadow_note(layout, production, settings.shadow),
        "features": features, "decision_log": layout.relative(log), "logging": logged})
    return MaterializeResult(
        data_version=DataVersion(f"{content}-{production}"),
        metadata={"file": file, "rows": validated.rows, "production_version": production,
                  "shadow_version": shadow or "none",
                  "logged_now": sum(item["logged_now"] for item in logged),
                  "decision_log": MetadataValue.path(layout.relative(log))},
        check_results=[AssetCheckResult(check_name="batch_schema", passed=True,
                                        description=f"{validated.rows} rows pass the "
                                                    "training schema")])


def _shadow_note(layout: Layout, production: str, enabled: bool) -> str | None:
    staging = registry.get_alias(layout.registry, "staging")
    if not enabled:
        return "monitoring.shadow is false"
    if staging is None:
        return "no staging version"
    return "staging is the production version" if staging == production else None


def _scorers(layout: Layout, production: str, shadow: bool, trusted: tuple[str, ...]) -> list:
    """The production scorer, and the staging one in shadow when it is another version."""
    from ..core.monitor import decision_log, monitoring

    scorers = []
    staging = registry.get_alias(layout.registry, "staging")
    roles = [("production", production)]
    if shadow and staging is not None and staging != production:
        roles.append(("shadow", staging))
    for role, version in roles:
        baseline = monitoring.card_baseline(layout.registry, version)
        scorers.append(decision_log.Scorer(
            model=registry.load_model(layout.registry, version, trusted), role=role,
            version=version,
            model_sha256=registry.manifest(layout.registry, version)["model_sha256"],
            threshold=baseline["decision_threshold"]))
    return scorers


@asset(group_name="monitoring", partitions_def=batch_partitions, deps=[scored_batch],
       kinds={"json"}, code_version=CODE_VERSION,
       check_specs=[AssetCheckSpec(name, asset="batch_monitoring", description=text)
                    for name, text in MONITORING_CHECKS.items()])
def batch_monitoring(context: AssetExecutionContext, project: GovernanceProject,
                     alerts: AlertWebhook) -> MaterializeResult:
    """Drift, prediction and label drift, AUC and disparate impact of one scored batch against
    the production version's reference and card; an alert on any WARN or ERROR."""
    from ..core.monitor import batch_fairness, batch_sql, monitoring

    params, layout, batch = project.params(), project.layout, context.partition_key
    scored_info = read_json(layout.monitoring(batch) / "scored.json")
    version, features = scored_info["production_version"], scored_info["features"]
    reference = _reference(layout, params, version, features)
    scored = _judged_columns(layout.scored_batch(batch), params.active)
    feature_psi = batch_sql.feature_psi(layout.scored_batch(batch), reference,
                                        monitoring.feature_columns(params.active, features))
    report = monitoring.monitor(
        reference, scored, params.active, features, scored["decision"],
        monitoring.card_baseline(layout.registry, version), params.monitoring,
        batch_fairness.settings(params.policy, params.fairness, params.split.seed),
        params.split.seed, feature_psi)
    report = {"batch": batch, "file": scored_info["file"], "content": scored_info["content"],
              "production_version": version,
              "shadow": monitoring.shadow_agreement(
                  scored["decision"], scored.get("shadow_decision"),
                  scored_info["shadow_version"], scored_info["shadow_note"]),
              **report}
    report["alert"] = _alert(context, alerts, params, layout, report)
    path = write_json_atomic(layout.monitoring(batch) / "report.json", report)
    write_json_atomic(_status_path(layout, batch),
                      {"batch": batch, "file": scored_info["file"],
                       "content": scored_info["content"], "status": "monitored",
                       "drift_level": report["drift_level"],
                       "fairness_breach": report["fairness_breach"]})
    metrics.write_metrics(layout, params.monitoring)
    return MaterializeResult(
        metadata={"drift_level": report["drift_level"],
                  "fairness_breach": report["fairness_breach"],
                  "production_version": version, "rows": report["rows"],
                  "levels": MetadataValue.json(report["levels"]),
                  "agreement_rate": report["shadow"].get("agreement_rate") or "no shadow",
                  "alert_delivered": bool(report["alert"]
                                         and report["alert"]["status"] == "delivered"),
                  "report": MetadataValue.path(layout.relative(path))},
        check_results=[_check_result(name, report) for name in MONITORING_CHECKS])


def _judged_columns(path, spec):
    """The scored batch without its inputs: scores, decisions, labels and sensitive attributes,
    the columns judged row by row. The inputs' drift is counted by SQL over the file
    (core/monitor/batch_sql.py), so a batch of millions of rows is never whole in memory."""
    import pandas as pd
    import pyarrow.parquet as pq

    from ..core.data.columns import FAVOURABLE
    from ..core.monitor.monitoring import SCORE

    wanted = [SCORE, "decision", "shadow_decision", FAVOURABLE, *spec.sensitive_features]
    present = set(pq.read_schema(path).names)
    return pd.read_parquet(path, columns=[c for c in dict.fromkeys(wanted) if c in present])


def _reference(layout: Layout, params, version: str, features: list[str]):
    """The production version's frozen training rows; frozen on first use from its splits."""
    import pandas as pd

    from ..core.monitor import monitoring

    frozen = monitoring.load_reference(layout.registry, version)
    if frozen is not None:
        return frozen
    rows = pd.concat([pd.read_parquet(layout.split("train")),
                      pd.read_parquet(layout.split("validation"))], ignore_index=True)
    model = registry.load_model(layout.registry, version,
                                model_files.declared_types(params.active))
    path = monitoring.freeze_reference(layout.registry, version, model, rows,
                                       layout.report("splits.json"), params.active, features)
    return read_parquet(path)  # the registry may be on object storage


def _check_result(name: str, report: dict) -> AssetCheckResult:
    from ..core.monitor.monitoring import ERROR, NOT_MEASURED, OK

    level = report["levels"][name]
    section = {"feature_psi": "data_drift", "drifted_share": "data_drift",
               "prediction_drift": "prediction_drift", "label_drift": "label_drift",
               "batch_auc": "performance", "batch_disparate_impact": "fairness"}[name]
    evidence = report[section]
    summary = {k: v for k, v in evidence.items() if not isinstance(v, dict | list)}
    return AssetCheckResult(
        check_name=name, passed=level in (OK, NOT_MEASURED),
        severity=AssetCheckSeverity.ERROR if level == ERROR else AssetCheckSeverity.WARN,
        description=f"{level}: {_summary_text(name, report)}",
        metadata={"level": level, "evidence": MetadataValue.json(summary)})


def _summary_text(name: str, report: dict) -> str:
    """Each value beside its noise floor (or interval) and the levels it is judged against."""
    data, prediction = report["data_drift"], report["prediction_drift"]
    labels, performance, fairness = report["label_drift"], report["performance"], report["fairness"]
    texts = {
        "feature_psi": f"largest PSI {data['max_psi']:.4g} on {data['max_psi_feature']} "
                       f"(noise floor {data['psi_noise_floor'][data['max_psi_feature']]:.4g})",
        "drifted_share": f"{len(data['drifted_features'])} drifted feature(s), share "
                         f"{data['drifted_share']:.3g}: {', '.join(data['drifted_features'])}",
        "prediction_drift": f"score PSI {prediction['psi']:.4g} (noise floor "
                            f"{prediction['psi_noise_floor']:.4g}; "
                            f"{_levels(prediction['thresholds'])}), KS "
                            f"{prediction['ks_statistic']:.3g} (p {prediction['ks_pvalue']:.3g})",
        "label_drift": (f"label PSI {labels['psi']:.4g} (noise floor "
                        f"{labels['psi_noise_floor']:.4g}; {_levels(labels['thresholds'])}) on "
                        f"{labels['labelled_rows']} labelled rows"
                        if "psi" in labels else labels["why"]),
        "batch_auc": (f"AUC {performance['auc']:.4g} vs card {performance['card_auc']:.4g}: "
                      f"drop {performance['auc_drop']:.4g} (noise floor "
                      f"{performance['auc_drop_noise_floor']:.4g}; "
                      f"{_levels(performance['thresholds'])}) on "
                      f"{performance['labelled_rows']} labelled rows"
                      if "auc" in performance else performance["why"]),
        "batch_disparate_impact": f"lowest DIR {_interval_text(fairness)}; "
                                  f"{fairness['why']}",
    }
    return texts[name]


def _levels(thresholds: dict) -> str:
    return f"warn > {thresholds['warn']:g}, error > {thresholds['error']:g}"


def _interval_text(fairness: dict) -> str:
    """`0.72 [0.55, 0.91] (warn < 0.85, error < 0.8)`, or why it was not measured."""
    from ..core.monitor.batch_fairness import estimate_text

    if fairness["disparate_impact_ratio_min"] is None:
        return "not measured"
    levels = fairness["thresholds"]
    return f"{estimate_text(fairness)} (warn < {levels['warn']:g}, error < {levels['error']:g})"


def _alert(context: AssetExecutionContext, alerts: AlertWebhook, params, layout: Layout,
           report: dict) -> dict | None:
    """Write the breaches to the outbox and deliver them behind older pending alerts; every
    attempt is logged; an undelivered alert stays pending and never fails the run."""
    from ..core.monitor import outbox
    from ..core.monitor.monitoring import ERROR, WARN

    alerting = (WARN, ERROR) if params.monitoring.alert_level == WARN else (ERROR,)
    breaches = {name: level for name, level in report["levels"].items() if level in alerting}
    if not breaches:
        return None
    record = outbox.new_alert(report["batch"], ERROR if ERROR in breaches.values() else WARN, {
        "event": "monitoring_breach", "dataset": params.dataset,
        "production_version": report["production_version"],
        "drift_level": report["drift_level"], "fairness_breach": report["fairness_breach"],
        "breaches": breaches, "run_id": context.run_id,
        "drifted_features": report["data_drift"]["drifted_features"],
        "report": layout.relative(layout.monitoring(report["batch"]) / "report.json")})
    record = alerts.send(layout, params, record)
    for attempt in record["attempts"]:
        context.log.info(f"alert {record['id']} to {record['receiver']}: {attempt}")
    if record["status"] != outbox.DELIVERED:
        context.log.warning(f"alert {record['id']} {record['status']} "
                            f"({record['last_error'] or 'behind older pending alerts'}); the "
                            "breach is in the report and the checks, `governance alerts` lists it")
    return record
