"""Group documentation: the governance record (model card) and the EU AI Act checklist."""

import os
from datetime import datetime, timezone

from dagster import AssetExecutionContext, DagsterRun, MaterializeResult, asset

from ..core import card as card_core
from ..core import compliance
from ..core.environment import environment, git_commit
from ..core.files import md5_of_file, read_json, write_text_atomic
from ..core.layout import Layout
from ..resources import GovernanceProject
from .evaluation import drift_report, explanation_report, fairness_report, performance_report
from .publishing import publish

EVIDENCE = {
    "validation": "validation.json", "splits": "splits.json", "search": "search.json",
    "performance": "performance.json", "fairness": "fairness.json",
    "explanation": "explanation.json", "shap_plot": "shap_importance.png",
    "drift": "drift.json", "drift_html": "drift.html", "gates": "gates.json",
    "model_card_json": "model_card.json", "model_card_md": "model_card.md",
    "compliance": "compliance.md",
}


def _trigger(run: DagsterRun) -> str:
    tags = run.tags or {}
    if "dagster/schedule_name" in tags:
        return "schedule"
    if "dagster/sensor_name" in tags:
        return "drift"
    return "ci" if os.environ.get("CI") else "manual"


def _iso(timestamp: float | None) -> str:
    moment = datetime.fromtimestamp(timestamp, timezone.utc) if timestamp else \
        datetime.now(timezone.utc)
    return moment.isoformat(timespec="seconds")


def _lineage(layout: Layout, params, data_version: str) -> dict:
    spec = params.active
    splits = read_json(layout.report("splits.json"))
    validation = read_json(layout.report("validation.json"))
    return {"dataset": params.dataset, "path": spec.path,
            "md5": md5_of_file(layout.root / spec.path), "data_version": data_version,
            "datasheet": spec.datasheet, "license": spec.license, "rows": validation["rows"],
            "group_sizes": validation["group_sizes"], "splits": splits["rows"],
            "split_seed": splits["seed"], "stratified_by": splits["stratified_by"],
            "current_batch": splits["current"]}


@asset(group_name="documentation",
       deps=[performance_report, fairness_report, explanation_report, drift_report],
       kinds={"json", "markdown"})
def model_card(context: AssetExecutionContext, project: GovernanceProject) -> MaterializeResult:
    """The governance record: every gate verdict, the lineage, the evidence, and what it means."""
    from ..assets import GRAPH_ASSETS
    from ..checks import GATE_CHECKS
    from ..gate_status import DATA_VERSION_TAG, gate_statuses

    params, layout = project.params(), project.layout
    upstream = [c for c in GATE_CHECKS if next(iter(c.check_specs)).asset_key != context.asset_key]
    gates = [{"gate": s.gate, **s.to_dict()}
             for s in gate_statuses(context.instance, GRAPH_ASSETS, upstream)]
    raw_event = context.instance.get_latest_materialization_event(GRAPH_ASSETS[0].key)
    raw_version = (raw_event.asset_materialization.tags or {}).get(DATA_VERSION_TAG, "") \
        if raw_event else ""
    stats = context.instance.get_run_stats(context.run_id)
    card = card_core.assemble_card(
        params=params,
        run_meta={"run_id": context.run_id, "trigger": _trigger(context.run),
                  "executor": "in_process", "start_time": _iso(stats.start_time),
                  "end_time": _iso(None), "git_commit": git_commit(layout.root)},
        lineage=_lineage(layout, params, raw_version), model_meta=read_json(layout.model_meta),
        search=read_json(layout.report("search.json")),
        performance=read_json(layout.report("performance.json")),
        fairness=read_json(layout.report("fairness.json")),
        explanation=read_json(layout.report("explanation.json")),
        drift=read_json(layout.report("drift.json")), gates=gates,
        environment=environment(),
        evidence={k: layout.relative(layout.report(v)) for k, v in EVIDENCE.items()},
    )
    markdown = write_text_atomic(layout.report("model_card.md"), card_core.render_markdown(card))
    return publish(layout, "model_card", card,
                   {"gates_recorded": len(gates), "model_name": card["model_name"],
                    "policy_hash": card["policy_hash"]}, extra_files=(markdown,))


@asset(group_name="documentation", deps=[model_card], kinds={"markdown"})
def compliance_report(project: GovernanceProject) -> MaterializeResult:
    """Each EU AI Act item answered from the card's evidence, with links to it."""
    layout = project.layout
    card = read_json(layout.report("model_card.json"))
    items = compliance.checklist(card)
    markdown = write_text_atomic(layout.report("compliance.md"),
                                 compliance.render_markdown(items, card["model_name"]))
    counts = {status: sum(i["status"] == status for i in items)
              for status in (compliance.MET, compliance.PARTIAL, compliance.NOT_MET)}
    return publish(layout, "compliance", {"model_name": card["model_name"], "items": items},
                   counts, extra_files=(markdown,))
