"""The auditor-facing outputs of a real graph run on German credit: the self-contained HTML
compliance report, its ledger references, and the ledger entries a staging move rests on."""

import re
from html.parser import HTMLParser

from governance_assets.core.files import read_json
from governance_assets.core.record import audit, ledger, registry
from governance_assets.core.report import compliance, compliance_html


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs, self.external = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "link", "img", "iframe") or "src" in attrs:
            self.external.append(tag)
        if tag == "a":
            self.hrefs.append(attrs["href"])


def test_the_html_report_is_self_contained_and_every_link_resolves(passing):
    root = passing[0]
    page = (root / "reports/compliance.html").read_text()
    links = _Links()
    links.feed(page)
    assert links.external == [] and not re.search(r"https?://", page)
    assert links.hrefs and all((root / "reports" / href).exists() for href in links.hrefs)
    report = read_json(root / "reports/compliance.json")
    statuses = {item["article"]: item["status"] for item in report["items"]}
    assert set(statuses.values()) <= set(compliance.STATUSES)
    assert statuses["Art. 14"] == "needs_human" and statuses["Art. 12"] == "met"
    assert report["not_met"] == [] and "Art. 14: Human oversight" in report["needs_human"][0]
    oversight = next(i["finding"] for i in report["items"] if i["article"] == "Art. 14")
    assert "`governance approve VERSION --key KEY" in oversight and "--by" not in oversight


def test_its_ledger_references_are_verdict_entries_of_this_run(passing):
    root = passing[0]
    report = read_json(root / "reports/compliance.json")
    cited = {(e["gate"], e["fingerprint"]) for item in report["items"]
             for e in item["ledger_entries"]}
    recorded = {(e["data"]["gate"], e["data"]["fingerprint"])
                for e in ledger.entries(root / "registry", ("verdict",))}
    assert len(cited) >= 10 and cited <= recorded


def test_an_item_not_met_is_named_not_counted(passing):
    card = read_json(passing[0] / "reports/model_card.json")
    for gate in card["gates"]:
        if gate["gate"] == "performance_floor":
            gate["outcome"] = "fail"
    report = compliance.report(card)
    assert report["not_met"] == ["Art. 15: Accuracy and robustness"]
    page = compliance_html.render_html(report)
    assert re.search(r"<h2>Not met</h2>\s*<ul><li>Art. 15: Accuracy and robustness</li>", page)


def test_the_staging_move_rests_on_a_ledger_entry_naming_run_and_verdicts(passing):
    root, _, result = passing
    moved = registry.alias_entry(root / "registry", "staging")
    assert moved["data"]["run_id"] == result.run_id
    verdicts = {(e["data"]["gate"], e["data"]["fingerprint"])
                for e in ledger.entries(root / "registry", ("verdict",))}
    assert {(v["gate"], v["fingerprint"]) for v in moved["data"]["verdicts"]} <= verdicts
    decided = ledger.last_entry(root / "registry", "decision")
    assert decided["data"]["decision"] == "promote" and decided["seq"] < moved["seq"]
    assert ledger.entries(root / "registry", ("policy",))[0]["data"]["changed_keys"]
    assert audit.verify(root / "registry").problems == []
