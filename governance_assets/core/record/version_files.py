"""What a registry version holds: the judged evidence byte for byte, and the views a reviewer
reads, regenerated from that evidence at registration.

A version is a model and its evidence, not a run. Every file registered with it is one of two
kinds:
- judged (`JUDGED`, and the model): bytes a current verdict's fingerprint binds by sha256;
  registered as they are, and the copies are re-hashed against those fingerprints;
- rendered (`RENDERED`): the card's Markdown, the EU AI Act checklist (JSON, Markdown, HTML),
  the charts and the decision on the verdicts, regenerated here from judged bytes only.

So text added to `reports/model_card.md` or `reports/compliance.html` after the gates never
reaches the registry (the rendered copy replaces it; refusing would block a promotion over a
file nobody judged), the same candidate on the same evidence gives the same bytes (the same
version id, so no new approval), and every link in a rendered page resolves inside the version
folder: what lies outside it (the datasheet, the ledger) is named in text.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..decide.decisions import judged_decision
from ..decide.verdicts import CURRENT, Standing, combined_sha256
from ..files import sha256_of_file, write_json_atomic, write_text_atomic
from ..layout import Layout
from ..params import Params
from ..report import compliance, compliance_html, search_card
from ..report.card import render_markdown as render_card_markdown
from .registry import MODEL_FILE, RegistryError

JUDGED = ("model_card.json", "validation.json", "splits.json", "search.json",
          "performance.json", "fairness.json", "proxies.json", "explanation.json", "drift.json",
          "drift.html", "robustness.json", "reference_agreement.json")
CHARTS = ("fairness_rates.png", "shap_importance.png", "search_pareto.png")
RENDERED = ("model_card.md", "compliance.json", "compliance.md", "compliance.html",
            "decision.json", *CHARTS)


def judged_hashes(layout: Layout, items: list[Standing]) -> dict[str, str]:
    """The sha256 each current verdict binds, by the name the file gets in the version.

    A gate judging several files binds one combined hash: each file's own hash is taken now
    and counts only if together they give the verdict's hash again.
    """
    expected: dict[str, str] = {}
    for item in items:
        fingerprint = item.fingerprint
        if item.state != CURRENT or fingerprint is None:
            continue
        if fingerprint.candidate_sha256:
            expected[MODEL_FILE] = fingerprint.candidate_sha256
        if fingerprint.evidence_sha256 is None:
            continue
        files = {Path(relative).name: sha256_of_file(layout.root / relative)
                 for relative in item.gate.evidence}
        if combined_sha256(files) != fingerprint.evidence_sha256:
            raise RegistryError(f"{', '.join(item.gate.evidence)} changed after "
                                f"{item.gate.name} judged them; nothing is registered")
        expected.update(files)
    return expected


def unbound(expected: dict[str, str]) -> list[str]:
    """Judged files no current verdict binds: registering them would register unjudged bytes."""
    return [name for name in (MODEL_FILE, *JUDGED) if name not in expected]


def version_link(path: str) -> str | None:
    """A project path as a link from inside a version folder; None when the version does not
    hold it (the page then names it in text)."""
    name = path.rsplit("/", 1)[-1]
    held = path.startswith("reports/") and name in (*JUDGED, *RENDERED)
    return name if held else None


def _judged_json(layout: Layout, name: str, expected: dict[str, str]) -> dict:
    """A judged report parsed from bytes whose sha256 is the verdict's, read once."""
    data = layout.report(name).read_bytes()
    if hashlib.sha256(data).hexdigest() != expected[name]:
        raise RegistryError(f"{layout.relative(layout.report(name))} changed after it was "
                            "judged; nothing is registered")
    return json.loads(data)


def render(params: Params, layout: Layout, items: list[Standing], expected: dict[str, str],
           into: Path) -> dict[str, Path]:
    """Every view a reviewer reads, written into `into` from the judged reports alone."""
    card = _judged_json(layout, "model_card.json", expected)
    checklist = compliance.report(card)
    views = {
        "model_card.md": write_text_atomic(into / "model_card.md", render_card_markdown(card)),
        "compliance.json": write_json_atomic(into / "compliance.json", checklist),
        "compliance.md": write_text_atomic(into / "compliance.md", compliance.render_markdown(
            checklist["items"], card["model_name"], version_link)),
        "compliance.html": write_text_atomic(into / "compliance.html", compliance_html.render_html(
            checklist, version_link)),
        "decision.json": write_json_atomic(into / "decision.json",
                                           judged_decision(params, layout, items)),
    }
    return {**views, **_charts(layout, card, expected, into)}


def _charts(layout: Layout, card: dict, expected: dict[str, str], into: Path
            ) -> dict[str, Path]:
    """The PNGs the pages show, drawn from the judged JSON as the evaluation drew them."""
    from ..evidence import explain_plots, fairness_view
    from ..model import search_view

    charts = {
        "fairness_rates.png": fairness_view.plot_selection_rates(
            _judged_json(layout, "fairness.json", expected), into / "fairness_rates.png"),
        "shap_importance.png": explain_plots.plot_importance(
            _judged_json(layout, "explanation.json", expected), into / "shap_importance.png"),
    }
    if search_card.shows_pareto(card):
        charts["search_pareto.png"] = search_view.pareto_plot(
            _judged_json(layout, "search.json", expected), into / "search_pareto.png")
    return charts
