"""Group documentation: the governance record (model card) and the EU AI Act checklist.

The card is written for a refused candidate too: it says BLOCKED, by which gates and why. It is
deterministic (no run ids or clock times: those are in the decision record), so the same inputs
give the same bytes and DVC's lock does not move when nothing changed.
"""

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from ..core.decide.decisions import trigger_from_tags
from ..core.decide.gate_catalog import GATES, LATENCY_EVIDENCE
from ..core.decide.gate_table import card_gate_table_markdown
from ..core.decide.verdicts import code_version, standings
from ..core.files import md5_of_file, read_json, write_text_atomic
from ..core.layout import Layout
from ..core.report import assurance_card, compliance, compliance_html
from ..core.report import card as card_core
from ..core.report.dataset_description import datasheet_status
from ..core.report.environment import environment, installed_distributions
from ..core.report.frozen_environment import frozen_environment
from ..executors import executor_name
from ..resources import GovernanceProject
from .assurance import reference_agreement_report, robustness_report
from .evaluation import drift_report, explanation_report, fairness_report, performance_report
from .publishing import CODE_VERSION, publish

EVIDENCE = {
    "validation": "reports/validation.json", "splits": "reports/splits.json",
    "search": "reports/search.json", "search_pareto": "reports/search_pareto.png",
    "search_runtime": "reports/runtime/search.json", "carbon": "reports/runtime/carbon.json",
    "performance": "reports/performance.json",
    "latency": LATENCY_EVIDENCE, "fairness": "reports/fairness.json",
    "fairness_chart": "reports/fairness_rates.png", "proxies": "reports/proxies.json",
    "explanation": "reports/explanation.json", "shap_plot": "reports/shap_importance.png",
    "drift": "reports/drift.json", "drift_html": "reports/drift.html",
    "decision": "reports/decision.json", "model_card_json": "reports/model_card.json",
    "model_card_md": "reports/model_card.md", "compliance": "reports/compliance.md",
    "robustness": "reports/robustness.json",
    "reference_agreement": "reports/reference_agreement.json",
}


def _lineage(layout: Layout, params) -> dict:
    spec = params.active
    splits = read_json(layout.report("splits.json"))
    validation = read_json(layout.report("validation.json"))
    md5 = md5_of_file(layout.root / spec.path)
    return {"dataset": params.dataset, "path": spec.path, "md5": md5, "data_version": md5,
            "datasheet": spec.datasheet,
            "datasheet_status": datasheet_status(layout.root, spec),
            "license": spec.license, "rows": validation["rows"],
            "group_sizes": validation["group_sizes"], "splits": splits["rows"],
            "split_seed": splits["seed"], "stratified_by": splits["stratified_by"],
            "current_batch": splits["current"]}


def _carbon(layout: Layout, sha256: str) -> dict:
    """The first measurement of this exact candidate on this machine (deterministic for the
    card: a byte-identical rebuild does not replace it)."""
    from ..core.model.carbon import card_section, record_name

    path = layout.runtime(record_name(sha256, code_version()))
    return card_section(read_json(path) if path.exists() else None, layout.relative(path))


@asset(group_name="documentation",
       deps=[performance_report, fairness_report, explanation_report, drift_report,
             robustness_report, reference_agreement_report],
       kinds={"json", "markdown"}, code_version=CODE_VERSION)
def model_card(context: AssetExecutionContext, project: GovernanceProject) -> MaterializeResult:
    """The governance record: every gate verdict, the lineage, the evidence, the decision."""
    params, layout = project.params(), project.layout
    judged = [g for g in GATES if g.name != "model_card_valid"]
    items = standings(params, layout, tuple(judged))
    gates = [card_core.gate_entry(item) for item in items]
    decision = card_core.decision_summary(items)
    model_meta = read_json(layout.model_meta)
    card = card_core.assemble_card(
        params=params,
        provenance={"data_version": md5_of_file(layout.root / params.active.path),
                    "candidate_sha256": model_meta["sha256"],
                    "policy_hash": params.policy_hash, "code_version": code_version()},
        lineage=_lineage(layout, params), model_meta=model_meta,
        search=read_json(layout.report("search.json")),
        performance=read_json(layout.report("performance.json")),
        fairness=read_json(layout.report("fairness.json")),
        explanation=read_json(layout.report("explanation.json")),
        drift=read_json(layout.report("drift.json")), gates=gates, decision=decision,
        environment={**environment(), **frozen_environment(layout.root),
                     "installed": installed_distributions()}, evidence=EVIDENCE,
        assurance=assurance_card.card_sections(
            *(read_json(layout.report(f"{name}.json"))
              for name in ("validation", "robustness", "reference_agreement")), model_meta),
        carbon=_carbon(layout, model_meta["sha256"]),
    )
    # What started this build: drift (the monitoring sensor), schedule, dvc, ci or manual;
    # and where its steps ran (docs/scale-out.md).
    card["run_meta"].update(trigger=trigger_from_tags(context.run.tags),
                            executor=executor_name())
    card["binding"] = {"data_version": card["provenance"]["data_version"],
                       "candidate_sha256": card["provenance"]["candidate_sha256"]}
    text = card_core.render_markdown(card)
    markdown = write_text_atomic(layout.report("model_card.md"), text)
    return publish(layout, "model_card", card,
                   {"decision": decision["status"], "gates_recorded": len(gates),
                    "model_name": card["model_name"], "policy_hash": card["policy_hash"]},
                   extra_files=(markdown,),
                   extra_metadata={
                       "card": MetadataValue.md(card_core.ui_markdown(
                           text, layout.relative(markdown))),
                       "gates": MetadataValue.md(card_gate_table_markdown(gates))})


@asset(group_name="documentation", deps=[model_card], kinds={"markdown"},
       code_version=CODE_VERSION)
def compliance_report(project: GovernanceProject) -> MaterializeResult:
    """Each EU AI Act item answered from the card's evidence, with links to it and to the
    ledger verdicts it rests on: JSON, Markdown, and a self-contained HTML page."""
    layout = project.layout
    card = read_json(layout.report("model_card.json"))
    report = compliance.report(card)
    markdown = write_text_atomic(layout.report("compliance.md"),
                                 compliance.render_markdown(report["items"], card["model_name"]))
    html = write_text_atomic(layout.report("compliance.html"), compliance_html.render_html(report))
    counts = {status: sum(i["status"] == status for i in report["items"])
              for status in compliance.STATUSES}
    return publish(layout, "compliance", report, counts, extra_files=(markdown, html),
                   extra_metadata={"not_met": "; ".join(report["not_met"]) or "none",
                                   "needs_human": "; ".join(report["needs_human"]) or "none"})
