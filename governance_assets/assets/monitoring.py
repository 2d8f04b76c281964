"""Group monitoring: production batches scored by the `production` model, then watched.

One dynamic partition per batch file (core/monitor/batches.py): batches arrive as files at irregular
times and in any number per day, so a daily partition would invent empty days and force one
file per day, and static partitions would need a code change per batch. The monitoring
schedule registers each new file as a partition; a partition can also be added by hand in the
UI. Neither asset is part of the DVC graph or the `governed_graph` job: `make run` never
waits for them.
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
from ..core.files import read_json, read_parquet, write_json_atomic, write_parquet_atomic
from ..core.layout import Layout
from ..core.model import model_files
from ..core.monitor import batches
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
                        "it), against monitoring.prediction_psi",
    "label_drift": "PSI of the favourable-label share, when labels arrived "
                   "(monitoring.label_psi)",
    "batch_auc": "Production card's golden AUC minus the batch AUC, with labels "
                 "(monitoring.auc_drop)",
    "batch_disparate_impact": "Lowest disparate impact ratio in the batch's decisions "
                              "(monitoring.disparate_impact); an ERROR is a fairness breach",
}


def _status_path(layout: Layout, batch: str):
    return layout.monitoring(batch) / "status.json"


def pending_batches(layout: Layout, batch_files: dict) -> dict[str, str]:
    """Batches whose current file content was neither monitored nor refused: key -> content."""
    pending = {}
    for key, path in batch_files.items():
        content = batches.content_key(path)
        status = _status_path(layout, key)
        if not status.is_file() or read_json(status).get("content") != content:
            pending[key] = content
    return pending


def _refuse(layout: Layout, batch: str, content: str, message: str) -> MaterializeResult:
    """Nothing scored: the paragraph names file, column, value and rule; a blocking ERROR."""
    write_json_atomic(_status_path(layout, batch),
                      {"batch": batch, "content": content, "status": "refused", "why": message})
    return MaterializeResult(
        metadata={"status": "refused", "why": message},
        check_results=[AssetCheckResult(check_name="batch_schema", passed=False,
                                        severity=AssetCheckSeverity.ERROR,
                                        description=message)])


@asset(group_name="monitoring", partitions_def=batch_partitions, kinds={"parquet"},
       code_version=CODE_VERSION,
       check_specs=[AssetCheckSpec(
           "batch_schema", asset="scored_batch", blocking=True,
           description="The batch passes the training schema (columns, types, missing values, "
                       "declared labels); otherwise nothing is scored and monitoring stops.")])
def scored_batch(context: AssetExecutionContext, project: GovernanceProject) -> MaterializeResult:
    """The batch validated with the training schema and scored by `production` (and `staging`
    in shadow); every decision appended to the batch's decision log."""
    from ..core.data import raw_files
    from ..core.monitor import batch_validation, decision_log

    params, layout, batch = project.params(), project.layout, context.partition_key
    spec, settings = params.active, params.monitoring
    where = batches.folder(layout.root, settings.batch_folder, params.dataset)
    try:
        path = batches.batch_file(where, batch)
    except batches.BatchError as error:
        raise Failure(description=str(error)) from error
    content = batches.content_key(path)
    try:
        raw = raw_files.read_raw(path)
    except raw_files.DataError as error:
        return _refuse(layout, batch, content, str(error))
    frame, report = batch_validation.validate_batch(raw, spec, layout.relative(path))
    write_json_atomic(layout.monitoring(batch) / "validation.json", report.to_dict())
    if frame is None:
        problems = [f.message for f in report.findings if not f.passed]
        return _refuse(layout, batch, content, "; ".join(problems))
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
    logged = [decision_log.score_into_log(s, frame, log, batch, settings.log_chunk_rows,
                                          context.run_id) for s in scorers]
    features = input_columns(scorers[0].model, spec.model_features)
    scored = _scored_frame(frame, spec, features, log, scorers)
    write_parquet_atomic(layout.scored_batch(batch), scored)
    shadow = scorers[1].version if len(scorers) > 1 else None
    write_json_atomic(layout.monitoring(batch) / "scored.json", {
        "batch": batch, "file": layout.relative(path), "content": content,
        "production_version": production, "shadow_version": shadow,
        "shadow_note": _shadow_note(layout, production, settings.shadow),
        "features": features, "decision_log": layout.relative(log), "logging": logged})
    return MaterializeResult(
        data_version=DataVersion(f"{content}-{production}"),
        metadata={"rows": len(frame), "production_version": production,
                  "shadow_version": shadow or "none",
                  "logged_now": sum(item["logged_now"] for item in logged),
                  "decision_log": MetadataValue.path(layout.relative(log))},
        check_results=[AssetCheckResult(check_name="batch_schema", passed=True,
                                        description=f"{len(frame)} rows pass the training "
                                                    "schema")])


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


def _scored_frame(frame, spec, features: list[str], log, scorers):
    """Inputs, sensitive attributes and labels beside the logged production (and shadow)
    decision of each row, read back from the log: what monitoring judges is what was logged."""
    from ..core.data.columns import FAVOURABLE, ROW_ID
    from ..core.monitor import decision_log
    from ..core.monitor.monitoring import SCORE

    keep = list(dict.fromkeys([ROW_ID, *features, *spec.sensitive_features,
                               *([FAVOURABLE] if FAVOURABLE in frame.columns else [])]))
    scored = frame[keep].copy()
    for scorer in scorers:
        logged = decision_log.read_log(log, scorer.role, scorer.version).set_index("row")
        rows = scored[ROW_ID]
        if scorer.role == "production":
            scored[SCORE] = logged.loc[rows, "score"].to_numpy()
            scored["decision"] = logged.loc[rows, "decision"].to_numpy()
        else:
            scored["shadow_decision"] = logged.loc[rows, "decision"].to_numpy()
    return scored


@asset(group_name="monitoring", partitions_def=batch_partitions, deps=[scored_batch],
       kinds={"json"}, code_version=CODE_VERSION,
       check_specs=[AssetCheckSpec(name, asset="batch_monitoring", description=text)
                    for name, text in MONITORING_CHECKS.items()])
def batch_monitoring(context: AssetExecutionContext, project: GovernanceProject,
                     alerts: AlertWebhook) -> MaterializeResult:
    """Drift, prediction and label drift, AUC and disparate impact of one scored batch against
    the production version's reference and card; an alert on any WARN or ERROR."""
    import pandas as pd

    from ..core.monitor import monitoring

    params, layout, batch = project.params(), project.layout, context.partition_key
    scored_info = read_json(layout.monitoring(batch) / "scored.json")
    version, features = scored_info["production_version"], scored_info["features"]
    scored = pd.read_parquet(layout.scored_batch(batch))
    reference = _reference(layout, params, version, features)
    report = monitoring.monitor(reference, scored, params.active, features, scored["decision"],
                                monitoring.card_baseline(layout.registry, version),
                                params.monitoring, params.policy.min_group_size,
                                params.split.seed)
    report = {"batch": batch, "content": scored_info["content"], "production_version": version,
              "shadow": monitoring.shadow_agreement(
                  scored["decision"], scored.get("shadow_decision"),
                  scored_info["shadow_version"], scored_info["shadow_note"]),
              **report}
    report["alert"] = _alert(context, alerts, params, report)
    path = write_json_atomic(layout.monitoring(batch) / "report.json", report)
    write_json_atomic(_status_path(layout, batch),
                      {"batch": batch, "content": scored_info["content"], "status": "monitored",
                       "drift_level": report["drift_level"],
                       "fairness_breach": report["fairness_breach"]})
    return MaterializeResult(
        metadata={"drift_level": report["drift_level"],
                  "fairness_breach": report["fairness_breach"],
                  "production_version": version, "rows": report["rows"],
                  "levels": MetadataValue.json(report["levels"]),
                  "agreement_rate": report["shadow"].get("agreement_rate") or "no shadow",
                  "alert_delivered": bool(report["alert"] and report["alert"]["delivered"]),
                  "report": MetadataValue.path(layout.relative(path))},
        check_results=[_check_result(name, report) for name in MONITORING_CHECKS])


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
    data, prediction = report["data_drift"], report["prediction_drift"]
    texts = {
        "feature_psi": f"largest PSI {data['max_psi']:.4g} on {data['max_psi_feature']} "
                       f"(noise floor {data['psi_noise_floor'][data['max_psi_feature']]:.4g})",
        "drifted_share": f"{len(data['drifted_features'])} drifted feature(s), share "
                         f"{data['drifted_share']:.3g}: {', '.join(data['drifted_features'])}",
        "prediction_drift": f"score PSI {prediction['psi']:.4g}, KS "
                            f"{prediction['ks_statistic']:.3g} (p {prediction['ks_pvalue']:.3g})",
        "label_drift": (f"label PSI {report['label_drift']['psi']:.4g}"
                        if "psi" in report["label_drift"] else report["label_drift"]["why"]),
        "batch_auc": (f"AUC {report['performance']['auc']:.4g} vs card "
                      f"{report['performance']['card_auc']:.4g}"
                      if "auc" in report["performance"] else report["performance"]["why"]),
        "batch_disparate_impact": f"lowest DIR {report['fairness']['disparate_impact_ratio_min']}",
    }
    return texts[name]


def _alert(context: AssetExecutionContext, alerts: AlertWebhook, params, report: dict
           ) -> dict | None:
    """POST the breaches; every attempt is logged; an undelivered alert never fails the run."""
    from ..core.monitor.monitoring import ERROR, WARN

    alerting = (WARN, ERROR) if params.monitoring.alert_level == WARN else (ERROR,)
    breaches = {name: level for name, level in report["levels"].items() if level in alerting}
    if not breaches:
        return None
    payload = {"event": "monitoring_breach", "dataset": params.dataset, "batch": report["batch"],
               "production_version": report["production_version"],
               "drift_level": report["drift_level"], "fairness_breach": report["fairness_breach"],
               "breaches": breaches, "run_id": context.run_id,
               "drifted_features": report["data_drift"]["drifted_features"]}
    delivery = alerts.send(payload, params)
    for attempt in delivery["attempts"]:
        context.log.info(f"alert to {delivery['url']}: {attempt}")
    if not delivery["delivered"]:
        context.log.warning(f"alert not delivered to {delivery['url']}; the breach is in the "
                            "report and the checks")
    return {**delivery, "payload": payload}
