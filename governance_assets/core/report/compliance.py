"""EU AI Act checklist answered from the evidence the pipeline produced, with links to it."""

from __future__ import annotations

from collections.abc import Callable

from ..decide.blocking import PASS
from . import markdown
from .card import link_from_reports

MET, PARTIAL, NOT_MET, NEEDS_HUMAN = "met", "partial", "not_met", "needs_human"
STATUSES = (MET, PARTIAL, NOT_MET, NEEDS_HUMAN)
DATA_GATES = ("sensitive_groups", "personal_data", "retention")
ROBUSTNESS_GATES = ("perturbation_flips", "perturbation_auc_drop", "slice_performance",
                    "reference_agreement")


def _gate_passed(card: dict, name: str) -> bool:
    return any(g["gate"] == name and g["outcome"] == PASS for g in card["gates"])


BIAS_GATES = ("four_fifths_rule", "equalized_odds", "counterfactual_flip", "protected_influence")


def _bias_status(card: dict) -> str:
    return MET if all(_gate_passed(card, g) for g in BIAS_GATES) else PARTIAL


def _bias_finding(card: dict) -> str:
    fairness, mitigation = card["fairness"], card["mitigation"]
    crossed = ", ".join(fairness.get("intersections", {})) or "none"
    flips = ", ".join(f"{name} {a['attribute']['rate']:.3f}"
                      for name, a in fairness["counterfactual"]["attributes"].items())
    proxies = card["explanation"].get("protected_features", [])
    undecided = [f"{g['gate']} {g['outcome']}" for g in card["gates"]
                 if g["gate"] in BIAS_GATES and g["outcome"] != PASS]
    return (f"group rates with bootstrap intervals per attribute and intersection ({crossed}); "
            f"flip rate when only the attribute changes: {flips}; inputs counted as sensitive "
            f"or proxies: {', '.join(proxies) or 'none'}; mitigation: {mitigation['method']}"
            + (f"; not passed: {', '.join(undecided)}" if undecided else ""))


def data_governance_finding(card: dict) -> str:
    """Art. 10: what the personal-data screen and the retention rule found."""
    governance = card["data_governance"]
    excluded = governance["personal_data"]["excluded_identifier_columns"]
    undeclared = sorted({f["column"] for f in governance["personal_data"]["findings"]
                         if not f["declared"]})
    text = ("personal-data screen: " + (f"undeclared identifier column(s) {undeclared}"
                                        if undeclared else "no undeclared identifier")
            + f", excluded {excluded or 'none'}; retention: ")
    rule = governance["retention"]
    if rule is None:
        return text + "no collection date declared, row age not checked"
    return text + (f"{rule['rows_expired']} row(s) older than {rule['max_record_age_days']} days "
                   f"({rule['action']}), oldest row used {rule['oldest_row_used']}")


def robustness_finding(card: dict) -> str:
    """Art. 15: perturbation, slice scan and reference agreement, as measured."""
    test, scan = card["robustness"]["perturbation"], card["robustness"]["slices"]
    reference = card["reference_decisions"]
    agreed = ("no reference decisions declared" if reference["file"] is None else
              f"agreement with {reference['cases']} approved reference decisions "
              f"{reference['agreement_rate']:.3f}")
    perturbed = ("perturbation not measured (scores given without their model)" if test is None
                 else f"perturbation flips {test['flip_rate']:.3f} of decisions, AUC drop "
                      f"{test['auc_drop']:.3f}")
    return (f"{perturbed}; {scan['slices_below_floor']} of {scan['slices_tested']} "
            f"slices significantly below accuracy {scan['floor']}; {agreed}")


def _judged(card: dict) -> dict:
    """Which rows the performance report judged (older cards: the golden split)."""
    return card["performance"].get("evaluation_rows", {"which": "golden"})


def _auc_rows(card: dict) -> str:
    auc = card["champion"]["metrics"]["auc"]
    rows = _judged(card)
    if rows["which"] == "golden":
        return f"golden-test AUC {auc:.3f} on rows never seen by training or selection"
    return (f"AUC {auc:.3f} on all {rows['rows']:,} rows that pass the dataset's filters "
            "(an audit of a model not trained here)")


ACCURACY_GATES = ("golden_test_disjoint", "performance_floor")


def _accuracy_status(card: dict) -> str:
    """Not met when the golden test leaked or the floor failed; partial when only a
    robustness or drift screen did not pass."""
    if not all(_gate_passed(card, g) for g in ACCURACY_GATES):
        return NOT_MET
    return MET if all(_gate_passed(card, g) for g in ("drift_psi", *ROBUSTNESS_GATES)) \
        else PARTIAL


def checklist(card: dict) -> list[dict]:
    evidence = card["evidence"]
    insufficient = [f"{f}={g}" for f, r in card["fairness"]["features"].items()
                    for g in r["insufficient_groups"]]
    datasheet = card["data_lineage"].get("datasheet_status", {})
    data_met = (not insufficient and datasheet.get("exists", False)
                and all(_gate_passed(card, g) for g in DATA_GATES))
    items = [
        ("Art. 10", "Data governance: lineage, provenance, representativeness",
         MET if data_met else PARTIAL,
         f"raw data {card['data_lineage']['path']} at DVC md5 {card['data_lineage']['md5']}; "
         + datasheet.get("finding", f"datasheet {card['data_lineage']['datasheet']} not checked")
         + "; "
         + (f"groups too small for evidence: {', '.join(insufficient)}" if insufficient else
            "every sensitive group meets policy.min_group_size")
         + "; " + data_governance_finding(card),
         [evidence["validation"], evidence["splits"], card["data_lineage"]["datasheet"]]),
        ("Art. 10(2)(f)-(g)", "Examination of possible biases; measures to detect, prevent "
         "and mitigate them", _bias_status(card), _bias_finding(card),
         [evidence["fairness"], evidence["fairness_chart"], evidence["proxies"]]),
        ("Art. 12", "Record keeping: every trial and decision logged",
         MET,
         f"{len(card['search']['trials'])} trials and {len(card['gates'])} gate verdicts, each "
         "bound to the policy, data, candidate and code it judged and entered in the "
         "hash-chained ledger (registry/ledger.jsonl); every decision, promotion, approval, "
         "rejection, rollback and policy change is a ledger entry, and `governance verify` "
         "detects any edited, removed or reordered one",
         [evidence["search"], evidence["decision"], "registry/ledger.jsonl"]),
        ("Art. 13", "Transparency: explanations available",
         MET, f"global and local SHAP explanations of {card['explanation']['rows_explained']} "
         + ("golden-test decisions" if _judged(card)["which"] == "golden" else
            "decisions sampled from the rows the audit judged"),
         [evidence["explanation"], evidence["shap_plot"]]),
        ("Art. 14", "Human oversight: sign-off before production",
         NEEDS_HUMAN, "staging is automated; production moves only on an unexpired approval, "
         "signed by the key of a reviewer with the approver role (not the principal whose key "
         "signed the run), of this exact evidence (every file of the registry version), and a "
         "promoter's signed request: a reviewer runs `governance show staging` then "
         "`governance approve VERSION --key KEY --reason ...`, a promoter `governance "
         "promote-production --key KEY`",
         [evidence["model_card_md"]]),
        ("Art. 15", "Accuracy and robustness",
         _accuracy_status(card),
         f"{_auc_rows(card)}; outlier/poisoning screen and drift report ran; "
         + robustness_finding(card),
         [evidence["performance"], evidence["drift_html"], evidence["validation"],
          evidence["robustness"], evidence["reference_agreement"]]),
        ("Art. 11 / Annex IV", "Technical documentation",
         MET, "schema-validated governance record with Markdown rendering",
         [evidence["model_card_json"], evidence["model_card_md"]]),
    ]
    return [{"article": a, "requirement": r, "status": s, "finding": f, "evidence": e}
            for a, r, s, f, e in items]


def ledger_references(card: dict, articles: dict[str, tuple[str, ...]]) -> dict[str, list]:
    """Per article, the ledger verdict entries it rests on, named by gate and fingerprint
    (deterministic, so the report is the same on the same inputs; `governance history`
    finds them)."""
    from ..decide.verdicts import Fingerprint

    keys = {g["gate"]: Fingerprint(**g["fingerprint"]).key for g in card["gates"]
            if g.get("fingerprint")}
    return {article: [{"gate": gate, "fingerprint": keys[gate]} for gate in gates
                      if gate in keys] for article, gates in articles.items()}


ARTICLE_GATES = {
    "Art. 10": DATA_GATES, "Art. 10(2)(f)-(g)": BIAS_GATES,
    "Art. 15": (*ACCURACY_GATES, "drift_psi", *ROBUSTNESS_GATES),
}


def report(card: dict) -> dict:
    """The checklist with its ledger references and the items not met, named."""
    items = checklist(card)
    references = ledger_references(card, ARTICLE_GATES)
    for item in items:
        item["ledger_entries"] = references.get(item["article"], [])
    return {"model_name": card["model_name"], "items": items,
            "not_met": [f"{i['article']}: {i['requirement']}" for i in items
                        if i["status"] == NOT_MET],
            "needs_human": [f"{i['article']}: {i['requirement']}" for i in items
                            if i["status"] == NEEDS_HUMAN]}


def evidence_link(path: str, link: Callable[[str], str | None]) -> str:
    """A Markdown link to an evidence file, or its name in text where `link` has no target
    (a registered copy names what lives outside its version folder)."""
    target = link(path)
    return f"[{path.split('/')[-1]}]({target})" if target else markdown.code(path)


def render_markdown(items: list[dict], model_name: str,
                    link: Callable[[str], str | None] = link_from_reports) -> str:
    lines = [f"# EU AI Act checklist: {markdown.text(model_name)}\n",
             "| article | requirement | status | finding | evidence |", "|---|---|---|---|---|"]
    for item in items:
        links = ", ".join(evidence_link(p, link) for p in item["evidence"])
        cells = [markdown.cell(item[key])
                 for key in ("article", "requirement", "status", "finding")]
        lines.append("| " + " | ".join([*cells, links]) + " |")
    return "\n".join(lines) + "\n"
