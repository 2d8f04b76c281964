"""The search trace for people: a table of trials and the Pareto plot of AUC against
disparate impact (the trade-off the fairness constraint cuts through)."""

from __future__ import annotations

from pathlib import Path

from ..report import markdown, plots


def _constraint(trial: dict, name: str) -> dict | None:
    return next((c for c in trial["constraints"] if c["name"] == name), None)


def _verdict(check: dict | None) -> str:
    if check is None or check["passed"] is None:
        return "-"
    return "ok" if check["passed"] else "FAIL"


def trials_table(trace: dict) -> str:
    """One row per trial, the champion marked; the reason in words for each rejection."""
    rows = []
    for trial in trace["trials"]:
        mark = " (champion)" if trial["trial_id"] == trace["champion_trial_id"] else ""
        rows.append([f"{trial['trial_id']}{mark}", trial["algorithm"],
                     ", ".join(f"{k}={v}" for k, v in trial["hyperparameters"].items()),
                     trial["validation_auc"], trial["fairness"]["disparate_impact"],
                     trial["model_size_kb"],
                     _verdict(_constraint(trial, "latency_p99_ms")),
                     "yes" if trial["feasible"] else "no",
                     (trial["rejection_reason"] or "").split(": ", 1)[-1]])
    return markdown.table(["trial", "family", "hyperparameters", "val. AUC", "DIR",
                           "size KB", "latency", "feasible", "rejected because"], rows)


def pareto_front(points: list[tuple[float, float, int]]) -> list[tuple[float, float, int]]:
    """Trials no other trial beats on both AUC and disparate impact, by increasing DIR."""
    front = [p for p in points
             if not any(q[0] >= p[0] and q[1] >= p[1] and q[:2] != p[:2] for q in points)]
    return sorted(front)


def pareto_plot(trace: dict, path: Path) -> Path:
    """Validation AUC against disparate impact, feasible and rejected trials, the front and
    the constraint line; byte-identical for the same trace."""
    plt = plots.pyplot()
    figure, axis = plt.subplots(figsize=(6, 4))
    measured = [t for t in trace["trials"] if t["fairness"]["disparate_impact"] is not None]
    for feasible, marker, label in ((True, "o", "feasible"), (False, "x", "rejected")):
        chosen = [t for t in measured if t["feasible"] is feasible]
        axis.scatter([t["fairness"]["disparate_impact"] for t in chosen],
                     [t["validation_auc"] for t in chosen], marker=marker, label=label)
    front = pareto_front([(t["fairness"]["disparate_impact"], t["validation_auc"],
                           t["trial_id"]) for t in measured])
    axis.plot([p[0] for p in front], [p[1] for p in front], linestyle="--", color="grey",
              label="Pareto front")
    bound = trace["constraints"].get("min_disparate_impact")
    if bound is not None:
        axis.axvline(bound, color="red", linewidth=1, label=f"min DIR {bound:g}")
    champion = next((t for t in measured if t["trial_id"] == trace["champion_trial_id"]), None)
    if champion is not None:
        axis.annotate(f"champion (trial {champion['trial_id']})",
                      (champion["fairness"]["disparate_impact"], champion["validation_auc"]))
    axis.set_xlabel("disparate impact ratio (validation, worst attribute)")
    axis.set_ylabel("validation AUC")
    axis.set_title("Search trials: accuracy against fairness")
    axis.legend(loc="lower left", fontsize="small")
    return plots.save(figure, path)


def no_search_plot(reason: str, path: Path) -> Path:
    """The Pareto plot's place when nothing was searched (an external candidate): a figure
    that says so, so the train stage writes every output dvc.yaml declares in every mode."""
    import textwrap

    plt = plots.pyplot()
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.set_axis_off()
    axis.set_title("Search trials: none")
    axis.text(0.5, 0.5, "\n".join(textwrap.wrap(f"No search ran. {reason}", 60)),
              ha="center", va="center", fontsize="small", transform=axis.transAxes)
    return plots.save(figure, path)
