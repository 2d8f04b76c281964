"""The documentation site: it builds with --strict, its generated pages match the code, and every
gate, params key and command a page links to has its anchor."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from governance_assets.cli import build_parser
from governance_assets.core.decide.gate_catalog import GATES
from governance_assets.core.params import Policy
from governance_assets.definitions import defs
from governance_assets.docs_site import architecture_page, gate_page
from governance_assets.docs_site.__main__ import stale_pages, write_pages
from governance_assets.docs_site.cli_page import _subcommands
from governance_assets.docs_site.outputs_page import files_table
from governance_assets.docs_site.page_text import anchor_id
from governance_assets.docs_site.params_page import keys

REPO = Path(__file__).resolve().parents[1]
MKDOCS = Path(sys.executable).with_name("mkdocs")


def build(root: Path, site: Path) -> subprocess.CompletedProcess:
    """`mkdocs build --strict` of the site under root, into site (never into the checkout)."""
    return subprocess.run([str(MKDOCS), "build", "--strict", "-d", str(site)], cwd=root,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})


def site_copy(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(REPO / "docs", root / "docs")
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    shutil.copy(REPO / "dvc.yaml", root / "dvc.yaml")
    return root


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("site")
    built = build(REPO, folder)
    assert built.returncode == 0, built.stderr
    return folder


def ids_of(html_page: Path) -> set[str]:
    return set(re.findall(r'id="([^"]+)"', html_page.read_text()))


def test_the_site_builds_strict(site: Path) -> None:
    """Kills: a nav entry without its page, a link to a missing page or anchor."""
    for page in ("index.html", "architecture/index.html", "reference/gates/index.html",
                 "reference/params/index.html", "reference/cli/index.html",
                 "reference/outputs/index.html"):
        assert (site / page).is_file(), page


def test_generated_pages_match_the_code() -> None:
    """Kills: a gate, params default, command or output path changed without `make docs`."""
    assert stale_pages(REPO) == []


def test_a_new_gate_or_default_makes_the_pages_stale(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Kills: a generator that ignores the catalogue or the params models' defaults."""
    root = site_copy(tmp_path)
    write_pages(root)
    assert stale_pages(root) == []
    new_gate = replace(GATES[0], name="new_rule")
    monkeypatch.setattr(gate_page, "GATES", (*GATES, new_gate))
    monkeypatch.setattr(Policy.model_fields["min_balanced_accuracy"], "default", 0.7)
    docs = root / "docs" / "reference"
    assert stale_pages(root) == [docs / "gates.md", docs / "params.md"]
    write_pages(root)
    assert "## new_rule" in (docs / "gates.md").read_text()
    row = next(line for line in (docs / "params.md").read_text().splitlines()
               if 'id="policy.min_balanced_accuracy"' in line)
    assert "| `0.7` |" in row


def test_strict_refuses_a_broken_anchor_and_a_page_out_of_the_nav(tmp_path: Path) -> None:
    """Kills: mkdocs.yml's validation options dropped (both findings are only logged then)."""
    root = site_copy(tmp_path)
    tour = root / "docs" / "tour.md"
    text = tour.read_text()
    tour.write_text(text + "\n[a gate](reference/gates.md#no_such_gate)\n")
    refused = build(root, tmp_path / "site")
    assert refused.returncode != 0 and "no_such_gate" in refused.stderr
    tour.write_text(text)
    (root / "docs" / "stray.md").write_text("# Not in the nav\n")
    refused = build(root, tmp_path / "site")
    assert refused.returncode != 0 and "stray.md" in refused.stderr


def test_every_gate_params_key_and_command_has_its_anchor(site: Path) -> None:
    """Kills: a gate, key or subcommand rendered without the anchor the prose links to."""
    gate_ids = ids_of(site / "reference/gates/index.html")
    assert {gate.name for gate in GATES} <= gate_ids
    params_ids = ids_of(site / "reference/params/index.html")
    assert {"policy.min_auc", "datasets.name.path", "model.search.trials"} <= params_ids
    assert {anchor_id(key.path) for key in keys()} <= params_ids
    cli_ids = ids_of(site / "reference/cli/index.html")
    assert {name for name, _, _ in _subcommands(build_parser())} <= cli_ids


def test_the_graph_has_every_asset_and_dependency_of_the_definitions() -> None:
    """Kills: an asset, an edge or a group left out of the Mermaid drawing."""
    graph = defs.resolve_asset_graph()
    drawing = architecture_page.mermaid()
    edges = set(re.findall(r"^  (\w+) --> (\w+)$", drawing, re.MULTILINE))
    expected = {(parent.to_user_string(), key.to_user_string())
                for key in graph.get_all_asset_keys() for parent in graph.get(key).parent_keys}
    assert edges == expected
    for group in graph.all_group_names:
        assert f"  subgraph {group}\n" in drawing
    block = architecture_page.block()
    assert block in (REPO / "docs" / "architecture.md").read_text()


def test_prose_from_the_code_keeps_its_angle_brackets(site: Path) -> None:
    """Kills: docstrings written into cells unescaped (`<batch_folder>` read as an HTML tag and
    dropped from the page)."""
    assert "&lt;batch_folder&gt;/&lt;dataset&gt;/" in (
        site / "reference/params/index.html").read_text()


def test_the_output_table_says_how_dvc_tracks_each_path() -> None:
    """Kills: outs, metrics and runtime files confused, or a stage named for another's file."""
    rows = {re.search(r"`([^`]+)`", line).group(1): [c.strip() for c in line.split("|")[2:6]]
            for line in files_table(REPO / "dvc.yaml").splitlines()[2:]}
    assert rows["reports/fairness.json"][:2] == ["`evaluate`", "out"]
    assert rows["reports/metrics/data.json"][:2] == ["`prepare`", "metric, not cached"]
    assert rows["reports/runtime/latency.json"][1] == "not tracked"
    assert rows["data/prepared/splits/golden_test.parquet"][1].startswith(
        "inside `data/prepared/splits` (out)")
    for gate in GATES:
        for path in gate.evidence:
            assert f"[{gate.name}](gates.md#{gate.name})" in rows[path][3], (gate.name, path)
