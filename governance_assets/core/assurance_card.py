"""The card's sections on data minimisation, retention, robustness and reference decisions.

Kept apart from core/card.py so the sections read the evidence of their own gates only: the
validation report's personal-data screen and retention figures, reports/robustness.json and
reports/reference_agreement.json.
"""

from __future__ import annotations

from .markdown import table


def card_sections(validation: dict, robustness: dict, reference: dict) -> dict:
    """The three sections in the shape schemas/model_card.schema.json requires."""
    screen = validation.get("personal_data", {})
    return {
        "data_governance": {
            "personal_data": {
                "excluded_identifier_columns": screen.get("declared_identifier_columns", []),
                "findings": screen.get("findings", []),
                "rule": screen.get("rule", ""),
            },
            "retention": validation.get("retention") or None,
        },
        "robustness": {k: robustness[k] for k in ("perturbation_rule", "perturbation")}
        | {"slices": {k: v for k, v in robustness["slices"].items()
                      if k != "significant_slices"}},
        "reference_decisions": {k: v for k, v in reference.items() if k != "binding"},
    }


def _minimisation(governance: dict) -> str:
    screen = governance["personal_data"]
    excluded = ", ".join(screen["excluded_identifier_columns"]) or "none declared"
    lines = [f"Identifier columns excluded from the model and the validated data: {excluded}.",
             f"Screen: {screen['rule']}."]
    if screen["findings"]:
        lines.append(table(["column", "pattern", "values", "distinct share", "declared"],
                           [[f["column"], f["pattern"], f["matching_values"],
                             f["distinct_share"], f["declared"]] for f in screen["findings"]]))
    else:
        lines.append("No column holds a value that looks like a direct identifier.")
    return "\n\n".join(lines) + "\n"


def _retention(governance: dict) -> str:
    rule = governance["retention"]
    if rule is None:
        return ("No collection-date column is declared for this dataset, so the age of its rows "
                "was not checked and the oldest row used is unknown.\n")
    return (f"Rows collected before {rule['cutoff']} ({rule['max_record_age_days']} days before "
            f"{rule['as_of']}, column `{rule['column']}`) are past retention: "
            f"{rule['rows_expired']} found, action `{rule['action']}`. Oldest row in the file "
            f"{rule['oldest_row_in_file']}; **oldest row used {rule['oldest_row_used']}**.\n")


def _robustness(robustness: dict) -> str:
    test, scan = robustness["perturbation"], robustness["slices"]
    worst = scan["worst_slices"][:5]
    return (f"Perturbation ({robustness['perturbation_rule']}): {test['flipped']} of "
            f"{test['rows']} golden-test decisions flip ({test['flip_rate']:.3f}); AUC "
            f"{test['auc']:.3f} -> {test['auc_perturbed']:.3f}.\n\n"
            f"Slice scan: {scan['slices_tested']} slices (single features and pairs, >= "
            f"{scan['min_slice_rows']} rows), {scan['slices_below_floor']} significantly below "
            f"accuracy {scan['floor']} (one-sided binomial, Holm, alpha {scan['alpha']}); "
            f"overall accuracy {scan['overall_accuracy']:.3f}. Weakest:\n\n"
            + table(["slice", "rows", "accuracy", "Holm p"],
                    [[s["slice"], s["rows"], s["accuracy"], s["p_adjusted"]] for s in worst])
            + "\n")


def _reference(reference: dict) -> str:
    if reference.get("file") is None:
        return "No reference decisions are declared for this dataset.\n"
    text = (f"`{reference['file']}`: the candidate agrees with {reference['agreed']} of "
            f"{reference['cases']} approved decisions ({reference['agreement_rate']:.3f}).\n")
    if reference["disagreements"]:
        text += "\n" + table(["case", "expected", "model", "score", "rationale"],
                             [[d["case_id"], d["expected"], d["model"], d["score"],
                               d["rationale"]] for d in reference["disagreements"]]) + "\n"
    return text


def render_markdown(card: dict) -> str:
    """The sections as they appear in reports/model_card.md, before the gate table."""
    return "\n".join([
        "## Data minimisation (personal data)\n", _minimisation(card["data_governance"]),
        "## Retention\n", _retention(card["data_governance"]),
        "## Robustness\n", _robustness(card["robustness"]),
        "## Reference decisions\n", _reference(card["reference_decisions"]),
    ])
