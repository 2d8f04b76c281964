"""The card's record of how the model was chosen: the governance record's search sections
(`run_meta`, `constraints`, `champion`, `rejections`, `carbon`) filled from the search trace,
and their Markdown. Deterministic: machine figures are named by file, never copied."""

from __future__ import annotations

from ..model.search_view import trials_table
from . import markdown

RUNTIME_SEARCH = "reports/runtime/search.json"


def run_meta(search: dict) -> dict:
    """What identifies the run. Run id, trigger, times and git commit change every run, so the
    deterministic card points at the decision record that holds them."""
    return {"run_id_trigger_times_git_commit": "reports/decision.json (history: "
                                               "registry/decisions/)",
            "search_seed": search.get("seed"),
            "search_stopped_by": search["budget"].get("stopped_by"),
            "trials_used": search["budget"].get("trials_used"),
            "machine_figures": RUNTIME_SEARCH}


def search_constraints(params) -> dict:
    settings = params.model.search
    return {"allowed": params.model.allowed_families, "banned": settings.banned,
            **params.search_constraints.model_dump(), "budget_trials": settings.trials,
            "budget_seconds": settings.timeout_seconds, "carbon_country": settings.carbon_country,
            "train_sample_rows": settings.train_sample_rows,
            **({"dataset_overrides": dict(params.active.search_constraints)}
               if params.active.search_constraints else {})}


def search_section(search: dict) -> dict:
    keys = ("trials", "budget", "selection", "search_space", "sampler", "seed", "constraints",
            "class_imbalance", "determinism", "rejection_summary", "champion_trial_id",
            "champion_reason", "sampling")
    return {k: search[k] for k in keys if k in search}


def champion_extras(search: dict) -> dict:
    """The champion's search-time figures beside its golden-set metrics."""
    chosen = search.get("champion") or {}
    return {"validation_auc": chosen.get("validation_auc"),
            "validation_disparate_impact": chosen.get("disparate_impact"),
            "model_size_kb": chosen.get("model_size_kb"),
            "latency_p99": "machine-dependent: reports/runtime/latency.json (gate verdict in "
                           "gates)"}


def front_matter_emissions(carbon: dict) -> dict | None:
    """Hugging Face's `co2_eq_emissions` (grams), when this candidate was measured here."""
    if not carbon.get("measured"):
        return None
    return {"emissions": carbon["emissions_g"], "source": carbon["source"],
            "training_type": "hyperparameter search and refit",
            "geographical_location": carbon["country_iso_code"],
            "hardware_used": carbon["hardware"]}


def shows_pareto(card: dict) -> bool:
    """The card shows the search's Pareto plot (search_pareto.png) only when it searched."""
    return "sampler" in card["search"]


def render_markdown(card: dict) -> str:
    search = card["search"]
    lines = ["## How the model was chosen\n"]
    if "champion_reason" in search:
        lines.append(f"**Champion:** {markdown.text(search['champion_reason'])}.\n")
    if shows_pareto(card):
        budget = search["budget"]
        lines.append(f"Sampler: {search['sampler']} (seed {search['seed']}); budget "
                     f"{budget['trials']} trials / {budget['timeout_seconds']:g} s, used "
                     f"{budget['trials_used']} trials (stopped by {budget['stopped_by']}); "
                     f"search-space hash `{card['search_space_hash'][:12]}`. "
                     f"{search['class_imbalance']}.\n")
        lines.append(f"Determinism: {search['determinism']}.\n")
        lines.append(f"**Rejections:** {markdown.text(search['rejection_summary'])}.\n")
        lines += [f"- {markdown.text(line)}" for line in card["rejections"]]
        lines.append("")
        lines.append(trials_table(search) + "\n")
        lines.append("![AUC against disparate impact](search_pareto.png)\n")
    else:
        lines.append(markdown.table(["trial", "algorithm", "feasible"],
                                    [[t["trial_id"], t["algorithm"], t["feasible"]]
                                     for t in search["trials"]]) + "\n")
    return "\n".join(lines)
