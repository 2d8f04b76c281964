"""The Markdown a reviewer reads on the Dagster pages, from the pure text builders: rendered with
a CommonMark + tables parser (what the UI's renderer follows), every cell reads as its data,
no comparison is printed against a missing threshold, and each figure sits beside the interval,
noise floor or bound it is judged with."""

import re
from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt

from governance_assets import checks
from governance_assets.core.decide import blocking, data_gates, fairness_gates
from governance_assets.core.decide.gate_catalog import GATES_BY_NAME
from governance_assets.core.decide.gate_table import card_gate_table_markdown, gate_table_markdown
from governance_assets.core.decide.rule_verdict import judged
from governance_assets.core.params import load_params
from governance_assets.core.report import card, evidence_view

from .conftest import REPO

RETENTION_MESSAGE = ("not applicable: no collection-date column declared "
                     "(datasets.<name>.retention), so row age cannot be checked")
SHAP_MESSAGE = "share of mean |SHAP| on protected features and proxies 0.04 passes: must be <= 0.1"


class _Cells(HTMLParser):
    """The text of every table cell and of the whole page, as a browser would show it."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.rows, self.text, self._cell = [], [], None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.rows[-1].append(self._cell)
            self._cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell += data


def _shown(markdown_text: str) -> _Cells:
    page = _Cells()
    page.feed(MarkdownIt("commonmark").enable("table").render(markdown_text))
    return page


def _gate_row(name: str, message: str, threshold: float | None, comparison: str = "<=") -> dict:
    return {"name": name, "verdict": "PASS", "value": 0.0386, "threshold": threshold,
            "comparison": comparison, "blocks_promotion": False, "message": message,
            "fingerprint": {"policy_hash": "046d71e2aa", "data_version": "4609dadebb"}}


def test_the_gate_table_shows_every_message_as_written_and_no_comparison_without_threshold():
    """Kills: a message cell not escaped (`<name>` taken as a tag, `|` splitting the row),
    a threshold of None printed as `<= None`, the comparison's `<` not escaped."""
    rows = [_gate_row("retention", RETENTION_MESSAGE, 0.0),
            _gate_row("protected_influence", SHAP_MESSAGE, 0.1),
            _gate_row("carbon_budget", "no carbon budget set", None)]
    page = _shown(gate_table_markdown(rows))
    header, *body = page.rows
    assert all(len(row) == len(header) == 7 for row in body)
    assert [row[5] for row in body] == [RETENTION_MESSAGE, SHAP_MESSAGE, "no carbon budget set"]
    assert [row[3] for row in body] == ["<= 0", "<= 0.1", "-"]
    assert "None" not in "".join(page.text)


def test_the_card_gate_table_on_the_card_page_never_prints_none():
    """Kills: the card's gate table interpolating raw values (`<= None`, `None` as a value)."""
    gates = [{"gate": "retention", "verdict": "NOT_APPLICABLE", "value": None, "threshold": None,
              "comparison": "<=", "blocks_promotion": False},
             {"gate": "four_fifths_rule", "verdict": "PASS", "value": 0.9215, "threshold": 0.8,
              "comparison": ">=", "blocks_promotion": False}]
    _, retention, fifths = _shown(card_gate_table_markdown(gates)).rows
    assert retention == ["retention", "NOT_APPLICABLE", "-", "-", "no"]
    assert fifths == ["four_fifths_rule", "PASS", "0.9215", ">= 0.8", "no"]


@pytest.fixture(scope="module")
def policy():
    return load_params(REPO).policy


def test_a_check_description_reads_as_written_with_value_threshold_and_what_a_failure_does(
        policy):
    """Kills: the rule's message passed to the UI unescaped (`datasets..retention`), the value
    and threshold left out, the gate's consequence left out, a missing threshold shown."""
    retention = data_gates.retention({"findings": []}, "reports/validation.json")
    shown = "".join(_shown(checks.check_description(
        retention, GATES_BY_NAME["retention"])).text)
    assert RETENTION_MESSAGE in shown
    assert "Value -; threshold: must be <= 0." in shown
    assert f"On a failure: {blocking.what_a_failure_does(GATES_BY_NAME['retention'])}" in shown

    thin = fairness_gates.four_fifths(
        {"features": {"sex": {"disparate_impact_ratio_min": 0.9, "equalized_odds_difference": 0.05,
                              "demographic_parity_difference": 0.05,
                              "insufficient_groups": ["other"]}}},
        policy.model_copy(update={"insufficient_evidence": "warn"}), "reports/fairness.json")
    spec = GATES_BY_NAME["four_fifths_rule"]
    shown = "".join(_shown(checks.check_description(thin, spec)).text)
    assert shown.startswith("insufficient evidence, warning, does not block promotion: ")
    assert "Value 0.9; threshold: must be >= 0.8." in shown

    unbudgeted = judged("carbon_budget", blocking.NOT_APPLICABLE, None, None, "<=",
                        "no carbon budget set", "reports/runtime/carbon.json")
    shown = "".join(_shown(checks.check_description(
        unbudgeted, GATES_BY_NAME["carbon_budget"])).text)
    assert "Value -; no threshold." in shown and "None" not in shown


def _metric(value: float, low: float, high: float) -> dict:
    return {"value": value, "ci95": [low, high]}


PERFORMANCE = {"evaluation_rows": {"rows": 200}, "decision_threshold": 0.42,
               "bootstrap_rounds": 500,
               "metrics": {"auc": _metric(0.79, 0.72, 0.85), "f1": _metric(0.8, 0.75, 0.84)},
               "regression": {"production_version": "13a31b52eaea", "mean": 0.011,
                              "ci95": [-0.02, 0.043]}}
LATENCY = {"p50": 0.61, "p99": 1.8, "p99_min": 1.5, "p99_max": 2.9, "repeats": 5,
           "calls_per_repeat": 200, "warmup_calls": 20}


def test_the_performance_page_shows_each_metric_with_its_interval_and_the_regression_bound():
    """Kills: a metric shown without its interval, the latency without its spread, the
    regression without the bound its upper end is held to."""
    tables = _shown(evidence_view.performance_markdown(PERFORMANCE, LATENCY, 50.0, 0.02)).rows
    assert ["auc", "0.79", "0.72 to 0.85"] in tables
    assert ["f1", "0.8", "0.75 to 0.84"] in tables
    assert ["0.61", "1.8", "1.5 to 2.9", "5 x 200", "50"] in tables
    assert ["13a31b52eaea", "0.011", "-0.02 to 0.043", "0.02"] in tables
    alone = evidence_view.performance_markdown({**PERFORMANCE, "regression": None}, LATENCY,
                                               50.0, 0.02)
    assert "No production version in the registry" in alone


def test_the_drift_page_shows_every_features_psi_beside_its_floor_and_band():
    """Kills: the floor read from another feature, a band boundary moved, a feature within
    its noise floor called drifted, features left out."""
    report = {"psi": {"age": 0.05, "purpose": 0.31, "housing": 0.18, "__unseen__": 0.1},
              "psi_noise_floor": {"age": 0.02, "purpose": 0.40, "housing": 0.03,
                                  "__unseen__": 0.01},
              "above_noise_floor": ["age", "housing", "__unseen__"],
              "drifted_features": ["housing"]}
    header, *rows = _shown(evidence_view.drift_table(report, 0.15)).rows
    assert header[-1] == "drifted (PSI > 0.15 and above floor)"
    assert rows == [["purpose", "0.31", "0.4", "significant", "no", "no"],
                    ["housing", "0.18", "0.03", "moderate", "yes", "yes"],
                    ["__unseen__", "0.1", "0.01", "moderate", "yes", "no"],
                    ["age", "0.05", "0.02", "stable", "yes", "no"]]


CARD = """---
license: other
---

# Model card: credit

**Decision: promotable.**

## Intended use

Screening.

## Performance

| metric | value |
|---|---|
| auc | 0.79 |

## Limitations

- Small groups.

## Environment

Python 3.11; """ + "pkg 1.0, " * 400 + "\n"


def test_the_card_page_shows_whole_sections_and_says_what_it_left_out():
    """Kills: the YAML front matter shown, a section cut in the middle (a half table), the
    left-out sections or the card's path not named."""
    whole = card.ui_markdown(CARD, "reports/model_card.md")
    assert not whole.startswith("---") and "license: other" not in whole
    assert "## Environment" in whole and "not shown here" not in whole
    short = card.ui_markdown(CARD, "reports/model_card.md", limit=300)
    shown = "".join(_shown(short).text)
    for kept in ("Model card: credit", "Screening.", "auc", "Small groups."):
        assert kept in shown
    assert "pkg 1.0" not in shown
    assert re.search(r"The whole card: reports/model_card\.md; not shown here: Environment\.",
                     shown)
