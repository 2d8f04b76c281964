"""The card's sections on data minimisation, retention, robustness and reference decisions.

Kept apart from core/report/card.py so the sections read the evidence of their own gates only: the
validation report's personal-data screen and retention figures, reports/robustness.json and
reports/reference_agreement.json.
"""

from __future__ import annotations

from .markdown import code, table, text

TRAINED_HERE = {"kind": "trained_here",
                "note": "searched and refit by this pipeline on the train and validation splits"}


def card_sections(validation: dict, robustness: dict, reference: dict, model_meta: dict
                  ) -> dict:
    """The four sections in the shape schemas/model_card.schema.json requires."""
    screen = validation.get("personal_data", {})
    return {
        "model_origin": model_meta.get("external", TRAINED_HERE),
        "data_governance": {
            "personal_data": {
                "excluded_identifier_columns": screen.get("declared_identifier_columns", []),
                "findings": screen.get("findings", []),
                "rule": screen.get("rule", ""),
            },
            "retention": validation.get("retention") or None,
            "small_groups": validation.get("small_groups") or None,
        },
        "robustness": {k: robustness[k] for k in ("perturbation_rule", "perturbation")}
        | {"slices": {k: v for k, v in robustness["slices"].items()
                      if k != "significant_slices"}},
        "reference_decisions": {k: v for k, v in reference.items() if k != "binding"},
    }


def _minimisation(governance: dict) -> str:
    screen = governance["personal_data"]
    excluded = ", ".join(map(code, screen["excluded_identifier_columns"])) or "none declared"
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
            f"{rule['as_of']}, column {code(rule['column'])}) are past retention: "
            f"{rule['rows_expired']} found, action `{rule['action']}`. Oldest row in the file "
            f"{rule['oldest_row_in_file']}; **oldest row used {rule['oldest_row_used']}**.\n")


def _small_groups(governance: dict) -> str:
    """Groups below policy.min_group_size and what policy.small_groups did with them."""
    rule = governance["small_groups"]
    lines = [f"policy.small_groups: `{rule['rule']}` (groups below "
             f"{rule['min_group_size']} rows)."]
    for feature, handled in rule["attributes"].items():
        groups = ", ".join(f"{text(g)} ({n} rows)" for g, n in handled["groups"].items())
        if handled["handled"] == "merge":
            lines.append(f"- {code(feature)}: {groups} merged into one group "
                         f"{code(handled['into'])} ({handled['merged_rows']} rows"
                         + (", still below the minimum: insufficient evidence)"
                            if handled["merged_group_still_small"] else ")") + ".")
        else:
            lines.append(f"- {code(feature)}: {groups} reported as insufficient evidence; the "
                         "other groups are judged.")
    return "\n".join(lines) + "\n"


def _perturbation(robustness: dict) -> str:
    test = robustness["perturbation"]
    if test is None:
        return f"Perturbation {robustness['perturbation_rule']}."
    return (f"Perturbation ({robustness['perturbation_rule']}): {test['flipped']} of "
            f"{test['rows']} golden-test decisions flip ({test['flip_rate']:.3f}); AUC "
            f"{test['auc']:.3f} -> {test['auc_perturbed']:.3f}.")


def _robustness(robustness: dict) -> str:
    scan = robustness["slices"]
    worst = scan["worst_slices"][:5]
    return (_perturbation(robustness) + "\n\n"
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


def _origin(origin: dict) -> str:
    if origin["kind"] == "trained_here":
        return f"Trained here: {origin['note']}.\n"
    if origin["kind"] == "model_file":
        trusted = ", ".join(origin["trusted_types"]) or "skops defaults only"
        what = (f"model file `{origin['path']}` (sha256 `{origin['sha256'][:16]}…`, loaded "
                f"with {origin['loaded_with']}, trusted types: {trusted})")
    else:
        what = f"set of scores already in the data: {origin['rule']}"
    implications = "\n".join(f"- **{section}**: {text}"
                             for section, text in origin["not_trained_here"].items())
    return (f"**Not trained here.** The candidate is an external {what}; provenance: "
            f"{origin['provenance']}. What that means for this card:\n\n{implications}\n")


def render_markdown(card: dict) -> str:
    """The sections as they appear in reports/model_card.md, before the gate table."""
    return "\n".join([
        "## Model origin\n", _origin(card["model_origin"]),
        "## Data minimisation (personal data)\n", _minimisation(card["data_governance"]),
        "## Retention\n", _retention(card["data_governance"]),
        *(["## Small sensitive groups\n", _small_groups(card["data_governance"])]
          if (card["data_governance"].get("small_groups") or {}).get("attributes") else []),
        "## Robustness\n", _robustness(card["robustness"]),
        "## Reference decisions\n", _reference(card["reference_decisions"]),
    ])


def render_frozen_environment(environment: dict) -> str:
    """Lock-file hashes and the container image, under the card's Environment section."""
    locks = environment.get("lock_files", {})
    box = environment.get("container", {})
    where = ("inside a container, image digest "
             f"`{box.get('image_digest') or 'not passed in (GOVERNANCE_IMAGE_DIGEST unset)'}`"
             if box.get("inside_container") else "not inside a container")
    return ("Rebuild: `Containerfile` installs from the lock files and runs `make run`. "
            + "; ".join(f"`{name}` sha256 `{digest[:16] if digest else 'absent'}`"
                        for name, digest in locks.items())
            + f". This run: {where}.\n")
