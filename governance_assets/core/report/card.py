"""The governance record: assembled from the evidence, validated by schema, rendered for people."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from ..data import sampling
from ..evidence import fairness_view
from ..trust.signatures import run_label
from . import assurance_card, dataset_description, markdown, search_card

PROMOTABLE, BLOCKED = "promotable", "blocked"


def validate_card(card: dict, schema_path: Path) -> list[str]:
    """Every schema violation as 'path: message'; empty means complete and valid."""
    # Imported here: `governance run`'s report needs card.py, not the schema validator.
    import jsonschema

    schema = json.loads(schema_path.read_text())
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(card)'}: {e.message}"
            for e in sorted(validator.iter_errors(card), key=lambda e: list(e.absolute_path))]


def _front_matter(card: dict) -> str:
    champion = card["champion"]
    meta = {
        "license": card["data_lineage"].get("license", "other"),
        "library_name": "sklearn",
        "tags": ["tabular-classification", "governed-model", champion["algorithm"]],
        "datasets": [card["data_lineage"]["dataset"]],
        "metrics": ["roc_auc", "f1"],
        "model-index": [{
            "name": card["model_name"],
            "results": [{
                "task": {"type": "tabular-classification"},
                "dataset": {"name": card["data_lineage"]["dataset"], "type": "golden_test"},
                "metrics": [
                    {"type": "roc_auc", "value": champion["metrics"]["auc"]},
                    {"type": "f1", "value": champion["metrics"]["f1"]},
                ],
            }],
        }],
    }
    emissions = search_card.front_matter_emissions(card["carbon"])
    if emissions:
        meta["co2_eq_emissions"] = emissions
    return "---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n"


def link_from_reports(path: str) -> str:
    """A project-relative path as a link that works from a Markdown file in reports/."""
    return path.removeprefix("reports/") if path.startswith("reports/") else f"../{path}"


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def render_markdown(card: dict) -> str:
    lineage, champion, perf = card["data_lineage"], card["champion"], card["performance"]
    sections = [
        _front_matter(card),
        f"# Model card: {markdown.text(card['model_name'])}\n",
        _decision_paragraph(card["decision"]),
        f"Data version `{card['provenance']['data_version']}`, code version "
        f"`{card['provenance']['code_version']}`. "
        f"Policy hash `{card['policy_hash'][:12]}`, search-space hash "
        f"`{card['search_space_hash'][:12]}`, seed {card['seed']}. Who ran it and when is in "
        "the decision record (`reports/decision.json`, `registry/decisions/`).\n",
        "## Intended use\n", card["intended_use"] + "\n",
        "## Model\n",
        f"{champion['algorithm']} (trial {champion['trial_id']}), sha256 "
        f"`{champion['model_sha256'][:16]}…`. Why: {markdown.text(champion['choice_reason'])}.\n",
        search_card.render_markdown(card),
        "## Data lineage\n",
        f"`{lineage['path']}` (DVC md5 `{lineage['md5']}`), {lineage['rows']} rows; datasheet "
        f"`{lineage['datasheet']}`. Splits: "
        + ", ".join(f"{k} {v}" for k, v in lineage["splits"].items())
        + f". Current batch: {lineage['current_batch']['note']}\n",
        *(["## Data and outcomes\n",
           dataset_description.render_markdown(card["data_description"])]
          if "data_description" in card else []),
        "## Performance on the golden test set\n" if "evaluation_rows" not in perf else
        f"## Performance\n\n{rows_judged(perf)}.\n",
        markdown.table(["metric", "value", "95% CI"],
               [[name, _fmt(m["value"]), f"{m['ci95'][0]:.3f}-{m['ci95'][1]:.3f}"]
                for name, m in perf["metrics"].items()]) + "\n",
        "Latency is machine-dependent: its gate verdict is below, its figures are in "
        f"`{card['evidence']['latency']}` and the decision record.\n",
        "## Fairness\n",
    ]
    sections += _fairness_sections(card)
    importance = card["explanation"]["global_importance"][:10]
    sections += [
        "## Explanations\n",
        f"Protected-feature influence: {card['explanation']['protected_influence_share']:.3f} "
        f"of mean |SHAP|. ![importance]({link_from_reports(card['evidence']['shap_plot'])})\n",
        markdown.table(["feature", "mean abs SHAP", "share"],
               [[r["feature"], _fmt(r["mean_abs_shap"]), _fmt(r["share"])]
                for r in importance]) + "\n",
        "## Drift\n",
        f"Largest PSI {card['drift']['max_psi']:.3f}; drifted share "
        f"{card['drift']['drifted_share']:.2f}. "
        + ("Simulated current batch. " if card["drift"]["simulated"] else "")
        + f"Report: [drift.html]({link_from_reports(card['evidence']['drift_html'])})\n",
        assurance_card.render_markdown(card),
        *([sampling.render_markdown(card["sampling"])] if "sampling" in card else []),
        "## Gates\n",
        markdown.table(["gate", "asset", "value", "threshold", "verdict", "blocking"],
               [[g["gate"], g["asset"], _fmt(g["value"]),
                 f"{g['comparison']} {_fmt(g['threshold'])}", g["verdict"], g["blocking"]]
                for g in card["gates"]]) + "\n",
        "## Limitations\n",
        "\n".join(f"- {markdown.text(item)}" for item in card["limitations"]) + "\n",
        "## Carbon\n", card["carbon"].get("note", "") + "\n",
        "## Approvals\n",
        ("\n".join(f"- {markdown.text(a)}" for a in card["approvals"]) or "None recorded.")
        + "\n",
        "## Environment\n",
        f"Python {card['environment']['python']} on {card['environment']['platform']}; "
        + ", ".join(f"{k} {v}" for k, v in card["environment"]["packages"].items()) + "\n",
        assurance_card.render_frozen_environment(card["environment"]),
    ]
    return "\n".join(sections)


def _decision_paragraph(decision: dict) -> str:
    run = f"\n\nThis run: {decision['run']}.\n" if decision.get("run") else "\n"
    if decision["status"] == PROMOTABLE:
        return ("**Decision: promotable.** Every blocking gate passed on the inputs this card "
                "describes." + run)
    reasons = "\n".join(f"- {markdown.text(line)}" for line in decision["reasons"])
    return (f"**Decision: BLOCKED** by {', '.join(decision['refused_by'])}.\n\n{reasons}"
            + run)


def gate_entry(item) -> dict:
    """A gate as the card records it: deterministic, so the card is the same on the same inputs.

    A volatile gate (latency) keeps its verdict but not its machine-dependent figure.
    """
    row = item.to_dict()
    entry = {"gate": row["name"], "asset": row["asset"], "verdict": row["verdict"],
             "state": row["state"], "outcome": row["outcome"], "value": row["value"],
             "threshold": row["threshold"], "comparison": row["comparison"],
             "blocking": row["blocking"], "blocks_promotion": row["blocks_promotion"],
             "message": row["message"], "evidence": ", ".join(row["evidence"]),
             "fingerprint": row["fingerprint"]}
    if item.gate.volatile and item.state == "current":
        entry["value"] = None
        entry["message"] = (f"{row['verdict']}: measured per run on this machine; figures in "
                            f"{entry['evidence']} and the decision record")
    return entry


def decision_summary(items) -> dict:
    refused = [item for item in items if item.blocks]
    return {"status": BLOCKED if refused else PROMOTABLE, "run": run_label(),
            "refused_by": [item.gate.name for item in refused],
            "reasons": [f"{item.gate.name}: {item.label} - "
                        f"{item.verdict['message'] if item.state == 'current' else item.reason}"
                        for item in refused]}


def _fairness_sections(card: dict) -> list[str]:
    """Summaries with intervals, every group's rates, the flip test, mitigation if any."""
    fairness, mitigation = card["fairness"], card["mitigation"]
    method = next((r["intervals"]["method"] for r in fairness["features"].values()
                   if "intervals" in r), "no bootstrap (fairness.bootstrap_rounds: 0)")
    adverse = fairness_view.adverse_table(fairness)
    sections = [
        f"{rows_judged(fairness)}. Intervals: {method}. `null` is an undefined rate (too few "
        "rows, positives or negatives), never zero. Chart: "
        f"![selection rates]({link_from_reports(card['evidence']['fairness_chart'])})\n",
        fairness_view.summary_table(fairness) + "\n",
        "Rates with the favourable outcome as positive (FPR = P(favourable decision | truly "
        "unfavourable)):\n",
        fairness_view.group_table(fairness) + "\n",
        *(["The same rates as published audits give them, the adverse outcome as positive "
           "(FPR = flagged adverse among those whose true outcome was favourable):\n",
           adverse + "\n"] if adverse else []),
        "### Counterfactual flip test\n",
        fairness_view.counterfactual_table(fairness) + "\n",
        "### Mitigation\n",
    ]
    if mitigation["method"] == "none":
        sections.append("No mitigation was applied (`model.mitigation.method: none`).\n")
        return sections
    attribute = markdown.code(mitigation["sensitive_feature"])
    if mitigation["uses_sensitive_attribute_at_decision_time"]:
        uses = (f"**This model reads the sensitive attribute {attribute} at decision time** "
                "to correct for it (group-specific thresholds).")
    else:
        uses = (f"The sensitive attribute {attribute} was used only while fitting; the model "
                "does not read it at decision time.")
    sections += [f"{mitigation['library']}, constraint `{mitigation['constraint']}`, fitted on "
                 f"the {mitigation['fitted_on']}. {uses}\n",
                 fairness_view.mitigation_table(fairness) + "\n"]
    return sections


def rows_judged(report: dict) -> str:
    """Which rows a report judged the candidate on, with their count (older reports: golden)."""
    rows = report.get("evaluation_rows")
    if rows is None:
        return "Golden test set"
    return f"Judged on {rows['rows']:,} rows: {rows['description']}"


def derived_limitations(fairness: dict, drift: dict, policy_min_group: int,
                        explanation: dict | None = None) -> list[str]:
    """Limitations the evidence itself reveals, added to those params.yaml declares."""
    notes = []
    if drift.get("simulated"):
        notes.append(f"Drift: {drift['note']}")
    fallback = (explanation or {}).get("explainer_fallback")
    if fallback:
        notes.append(f"Explanations: {fallback['reason']}.")
    for feature, result in fairness_view.all_groupings(fairness).items():
        if result["insufficient_groups"]:
            notes.append(f"Fairness: {feature} group(s) {result['insufficient_groups']} have "
                         f"fewer than {policy_min_group} judged rows and are excluded from "
                         "ratios and gaps (reported with their counts).")
    mitigation = fairness.get("mitigation")
    if mitigation and mitigation["uses_sensitive_attribute_at_decision_time"]:
        notes.append(f"Mitigation: the model reads {mitigation['sensitive_feature']} at decision "
                     "time (fairlearn ThresholdOptimizer); in domains that forbid disparate "
                     "treatment (e.g. credit under ECOA) this may be unlawful.")
    return notes


def _carbon(not_trained_here: dict, measured: dict) -> dict:
    """An external model's carbon was spent elsewhere; say so rather than quote the load."""
    if "carbon" in not_trained_here:
        return {"measured": False, "note": not_trained_here["carbon"]}
    return measured


def assemble_card(*, params, provenance: dict, lineage: dict, model_meta: dict, search: dict,
                  performance: dict, fairness: dict, explanation: dict, drift: dict,
                  gates: list[dict], decision: dict, environment: dict,
                  evidence: dict[str, str], assurance: dict, carbon: dict) -> dict:
    """The governance record in the shape schemas/model_card.schema.json requires.

    `assurance` holds the data-governance, robustness and reference-decision sections
    (core.assurance_card.card_sections).
    """
    policy, spec = params.policy, params.active
    worst_dir = [f["disparate_impact_ratio_min"] for f in fairness["features"].values()
                 if f["disparate_impact_ratio_min"] is not None]
    return {
        "schema_version": "1.0",
        "model_name": f"{params.dataset}-{model_meta['algorithm']}-{model_meta['sha256'][:8]}",
        "decision": decision,
        "provenance": provenance,
        "intended_use": spec.intended_use,
        "limitations": spec.limitations + derived_limitations(fairness, drift,
                                                              policy.min_group_size,
                                                              explanation),
        "run_meta": search_card.run_meta(search),
        "constraints": {"allowed_algorithms": params.model.allowed_families,
                        **policy.model_dump(), "search": search_card.search_constraints(params)},
        "search_space_hash": params.search_space_hash,
        "policy_hash": params.policy_hash,
        "seed": params.split.seed,
        "search_seed": params.model.search.seed,
        "data_lineage": lineage,
        "data_description": dataset_description.describe_dataset(spec),
        "champion": {
            "trial_id": model_meta["trial_id"],
            "algorithm": model_meta["algorithm"],
            "hyperparameters": model_meta["hyperparameters"],
            "model_sha256": model_meta["sha256"],
            "decision_threshold": model_meta["decision_threshold"],
            "choice_reason": search["champion_reason"],
            "metrics": {
                "auc": performance["metrics"]["auc"]["value"],
                "f1": performance["metrics"]["f1"]["value"],
                "disparate_impact": min(worst_dir) if worst_dir else None,
                "feature_importance": explanation["global_importance"][:10],
                **search_card.champion_extras(search),
            },
        },
        "search": search_card.search_section(search),
        "sampling": sampling.card_section(params, lineage.get("splits", {}), search, drift),
        "rejections": search.get("rejections", []),
        "performance": performance,
        "fairness": fairness,
        "mitigation": model_meta.get("mitigation", {
            "method": "none", "uses_sensitive_attribute_at_decision_time": False}),
        "explanation": {k: v for k, v in explanation.items() if k != "local_explanations"},
        "drift": {k: drift[k] for k in ("psi", "max_psi", "max_psi_feature", "drifted_features",
                                        "drifted_share", "simulated", "note", "interpretation")},
        **assurance,
        "gates": gates,
        "carbon": _carbon(assurance["model_origin"].get("not_trained_here", {}), carbon),
        "environment": environment,
        "approvals": [],
        "evidence": evidence,
    }


FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)
SECTION_START = re.compile(r"^(?=## )", re.MULTILINE)
# The UI renders a long Markdown value slowly and a reviewer reads the top sections first.
UI_CARD_CHARACTERS = 24_000


def ui_markdown(rendered: str, path: str, limit: int = UI_CARD_CHARACTERS) -> str:
    """The card as its asset page shows it: without the YAML front matter (model-hub
    metadata), whole sections in order up to `limit` characters, then where the whole card is
    and which sections it left out, so nothing is cut mid-table."""
    sections = SECTION_START.split(FRONT_MATTER.sub("", rendered, count=1))
    shown, size = [], 0
    for section in sections:
        if shown and size + len(section) > limit:
            break
        shown.append(section)
        size += len(section)
    left_out = [s.splitlines()[0].removeprefix("## ") for s in sections[len(shown):]]
    note = f"The whole card: {markdown.code(path)}"
    if left_out:
        note += "; not shown here: " + ", ".join(markdown.text(h) for h in left_out)
    return "".join(shown).rstrip("\n") + f"\n\n---\n\n{note}.\n"

