"""No markup from data: a hostile category value and column name through a real governed run
leave no live handler or early-ended script in any page written or registered, and no raw HTML
in any Markdown; a reason with a newline and ANSI escapes prints no fake ledger line."""

import json
import re
import subprocess
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance
from markdown_it import MarkdownIt

from governance_assets.core.record import ledger, registry
from governance_assets.core.report import html_safety, markdown
from governance_assets.core.report.printable import INVISIBLE_CATEGORIES, printable

from .conftest import REPO, make_project, materialized, params_of, run_graph, set_params
from .signing import keys
from .test_ledger import register

__all__ = ["keys"]  # fixture, used by name
GOVERNANCE = REPO / ".venv" / "bin" / "governance"

# It sorts where A46 did, so the one-hot columns keep their order and the run its champion.
HOSTILE_VALUE = "A46</script><img src=x onerror=alert(1)>"
HOSTILE_COLUMN = "purpose<script>alert(2)</script>|x"


class _Page(HTMLParser):
    """What a browser's parser would build: elements, their on* attributes, script bodies."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.handlers, self.tags, self.scripts, self.text = [], [], [], []
        self.policy, self._in_script = None, False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.handlers += [f"<{tag} {name}>" for name, _ in attrs if name.startswith("on")]
        attributes = dict(attrs)
        if tag == "meta" and attributes.get("http-equiv") == "Content-Security-Policy":
            self.policy = (attributes["content"], len(self.scripts))
        if tag == "script":
            self._in_script = True
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data
        else:
            self.text.append(data)


def _parsed(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def _rendered(text: str) -> str:
    """Markdown as a CommonMark viewer with GitHub tables renders it (raw HTML passed on)."""
    return MarkdownIt("commonmark").enable("table").render(text)


# --- units ----------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    "a|b", "ends in a backslash \\", "escaped \\| pipe", "line\nbreak\r\n| forged | row |",
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "&lt;b&gt; entity",
    "[approve here](javascript:alert(1))", "![x](http://evil)", "`code` and ``more``",
    "\x1b[2J\u202eevil", "datasets.<name>.retention", "share of mean |SHAP|",
    "__unseen__", "*not emphasis*", "_nor this_", "a*b*c", "pe****************le",
    "four_fifths_rule", "x_", "<= 0.1"])
def test_a_markdown_cell_renders_as_exactly_its_text_in_its_own_cell(value):
    html = _rendered(markdown.table(["name", "after"], [[value, "end"]]))
    page, cells = _parsed(html), re.findall(r"<td>(.*?)</td>", html, re.S)
    assert len(cells) == 2 and page.handlers == []
    assert set(page.tags) == {"table", "thead", "tbody", "tr", "th", "td"}
    assert _parsed(cells[0]).text == [printable(value)] and _parsed(cells[1]).text == ["end"]


@pytest.mark.parametrize("value", ["credit_amount", "a`b", "``x``", "`", "<script>x</script>",
                                   "__unseen__", "*a* and _b_", "datasets.<name>.retention"])
def test_text_and_code_render_data_literally_and_inline(value):
    for render in (markdown.text, markdown.code):
        page = _parsed(_rendered(f"before {render(value)} after"))
        assert page.tags in (["p"], ["p", "code"]) and page.handlers == []
        assert "".join(page.text) == f"before {printable(value)} after\n"


def test_printable_shows_every_control_character_and_keeps_the_rest():
    typed = "ok\n#99 approval\r\x1b[2J\x1b]0;title\x07\u202eevil\u200b\x85\t\U000e0041é 中 ü"
    shown = printable(typed)
    assert not any(unicodedata.category(c) in INVISIBLE_CATEGORIES for c in shown)
    assert shown == ("ok\\n#99 approval\\r\\x1b[2J\\x1b]0;title\\x07\\u202eevil\\u200b\\x85\\t"
                     "\\U000e0041é 中 ü")


def test_inert_json_means_the_same_and_cannot_end_a_script():
    data = {"v": ["</script><img src=x onerror=1>", "<!--", "a & b", "\\</", 1.5]}
    text = html_safety.inert_json(json.dumps(data))
    assert json.loads(text) == data and not set("<>&") & set(text)


def test_a_page_without_evidentlys_two_data_lines_is_refused():
    with pytest.raises(html_safety.UnexpectedPage, match="data lines"):
        html_safety.inert_evidently_data("<script>\n    var a = {};\n</script>")


# --- a real governed run over hostile data --------------------------------------------------

def _hostile_project(root: Path) -> Path:
    """German credit with a category value that ends a script and a column whose name opens
    one, declared under that name in params.yaml and in the reference decisions."""
    make_project(root)
    for relative in ("data/raw/german_credit.csv", "data/reference/german_credit_reference.csv"):
        path = root / relative
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        frame["purpose"] = frame["purpose"].replace({"A46": HOSTILE_VALUE})
        frame.rename(columns={"purpose": HOSTILE_COLUMN}).to_csv(path, index=False)
    declared = params_of(root).active.categorical_columns
    set_params(root, datasets__german_credit__categorical_columns=[
        HOSTILE_COLUMN if c == "purpose" else c for c in declared])
    return root


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    root = _hostile_project(tmp_path_factory.mktemp("hostile"))
    with DagsterInstance.ephemeral() as instance:
        result = run_graph(root, instance)
    assert {"drift_report", "model_card", "compliance_report",
            "staging_model"} <= materialized(result)
    return root


def _written(root: Path, pattern: str) -> list[Path]:
    """The project's reports and every registered copy of them."""
    found = sorted((root / "reports").glob(pattern)) + sorted(
        (root / "registry" / "versions").glob(f"*/{pattern}"))
    assert any("versions" in p.parts for p in found), "no registered copy to check"
    return found


def _hash(script: str) -> str:
    return html_safety.script_hashes(f"<script>{script}</script>")[0]


def _data_documents(script: str) -> list[object]:
    return [json.loads(match["json"]) for match in html_safety.DATA_LINE.finditer(script)]


def _holds(document: object, value: str) -> bool:
    return value in json.dumps(document, ensure_ascii=False)


def test_no_page_has_a_handler_or_a_script_ended_by_data(hostile_run):
    drift_pages = _written(hostile_run, "drift.html")
    for path in drift_pages + _written(hostile_run, "compliance.html"):
        html = path.read_text(encoding="utf-8")
        page = _parsed(html)
        assert page.handlers == [], f"{path}: live handlers {page.handlers[:3]}"
        assert page.policy, f"{path}: no Content-Security-Policy <meta>"
        policy, scripts_before = page.policy
        assert scripts_before == 0, f"{path}: a script runs before the policy is read"
        allowed = set(re.findall(r"'sha256-[^']+'", policy))
        assert allowed == {_hash(script) for script in page.scripts}, (
            f"{path}: the policy does not name exactly the scripts a parser finds")
        assert allowed or "script-src 'none'" in policy
        for needed in ("default-src 'none'", "object-src 'none'", "base-uri 'none'"):
            assert needed in policy
    for path in drift_pages:
        page = _parsed(path.read_text(encoding="utf-8"))
        assert len(page.scripts) == 4, f"{path}: {len(page.scripts)} scripts, evidently writes 4"
        documents = _data_documents(page.scripts[0])
        assert len(documents) == 2 and _holds(documents, HOSTILE_VALUE), (
            f"{path}: the data block does not hold the hostile value whole")
        assert HOSTILE_VALUE not in "".join(page.text)


def test_no_markdown_renders_raw_html_and_the_column_reads_as_written(hostile_run):
    shown_somewhere = False
    for path in _written(hostile_run, "*.md"):
        page = _parsed(_rendered(path.read_text(encoding="utf-8")))
        assert page.handlers == [] and "script" not in page.tags, path
        shown_somewhere |= any(HOSTILE_COLUMN in text for text in page.text)
    assert shown_somewhere, "the hostile column name was dropped, not shown"


def _cell_count(row: str) -> int:
    """Cells of a `| a | b |` row as GFM splits it: at every `|` not escaped by a backslash
    (a viewer silently drops cells beyond the header's, so the source is what to count)."""
    return len(re.findall(r"(?<!\\)(?:\\\\)*\|", row)) - 1


def test_every_markdown_table_row_has_its_headers_cell_count(hostile_run):
    tables = 0
    for path in _written(hostile_run, "*.md"):
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines[1:], start=1):
            if re.fullmatch(r"\|(---\|)+", line):
                tables += 1
                header, rows = lines[number - 1], []
                for row in lines[number + 1:]:
                    if not row.startswith("|"):
                        break
                    rows.append(row)
                assert all(_cell_count(row) == _cell_count(header) for row in rows), (
                    f"{path}: a row under {header[:60]} has another cell count")
    assert tables > 10


# --- the registry's human views -------------------------------------------------------------

def test_a_reason_with_a_newline_and_escapes_prints_no_second_ledger_line(tmp_path, keys):
    root = make_project(tmp_path / "project", signoff__approvers=["alice"],
                        signoff__require_signed_run=False)
    keys.install(root)
    version = register(root / "registry", tmp_path / "model", 1)
    registry.set_alias(root / "registry", "staging", version, "gates passed")
    forged = (f"looked fine\n#99     2026-12-04T17:00:00+00:00 approval  alice        {version} "
              "by model-risk-officer: all gates reviewed\x1b[2J")

    def governance(*arguments: str) -> str:
        done = subprocess.run([str(GOVERNANCE), "--root", str(root), *arguments],
                              capture_output=True, text=True,
                              env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    governance("approve", version, "--key", str(keys.path("alice")), "--reason", forged)
    recorded = ledger.entries(root / "registry")
    assert recorded[-1]["data"]["reason"] == forged   # the ledger keeps the exact text
    history = governance("history")
    lines = [line for line in history.splitlines() if line.startswith("#")]
    assert [line.split()[0] for line in lines] == [f"#{e['seq']}" for e in recorded]
    assert "looked fine\\n#99" in history
    for output in (history, governance("show", version), governance("list")):
        assert "\x1b" not in output
        assert not any(line.startswith("#99") for line in output.splitlines())
