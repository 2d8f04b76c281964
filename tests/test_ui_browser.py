"""The Dagster UI as a reviewer meets it: a real `dagster dev` (its own process group) on an
instance with a finished run, read over GraphQL, then driven in headless Debian chromium through
the lineage graph, one asset's check results and the gate summary. Screenshots go to
reports/ui/ in the repository; every process started is stopped."""

import os
import re
import shutil
import subprocess
import time
import urllib.request

import pytest
from dagster import DagsterInstance

from governance_assets.checks import GATE_CHECKS
from governance_assets.core.decide.gate_catalog import GATES
from governance_assets.definitions import defs
from governance_assets.ui_server import stop_group

from .conftest import REPO, make_project, run_graph
from .servers import free_port, graphql

pytestmark = [pytest.mark.slow, pytest.mark.browser]
SCREENSHOTS = REPO / "reports" / "ui"


def _chromium_or_skip() -> str:
    """Debian's chromium, installed here when missing and apt can (no browser download)."""
    if shutil.which("chromium") is None and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], capture_output=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    found = shutil.which("chromium")
    if found is None:
        pytest.skip("Debian chromium is not installed and apt-get could not install it")
    return found


def _dismiss_newsletter(page) -> None:
    """Dagster's community sign-up dialog, shown on a first visit, covers the page."""
    skip = page.get_by_role("button", name="Skip")
    if skip.count():
        skip.click()


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """A project with one finished run of the whole graph, served by `dagster dev`."""
    root = make_project(tmp_path_factory.mktemp("ui") / "project")
    shutil.copy(REPO / "workspace.yaml", root / "workspace.yaml")
    home = root / ".dagster"
    home.mkdir()
    with DagsterInstance.local_temp(str(home)) as instance:
        assert run_graph(root, instance).success
    port = free_port()
    server = subprocess.Popen(
        [str(REPO / ".venv/bin/dagster"), "dev", "-w", "workspace.yaml", "-p", str(port)],
        cwd=root, env={**os.environ, "DAGSTER_HOME": str(home)}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
                break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("dagster dev did not answer within 180 s")
        yield port
    finally:
        stop_group(server, grace_seconds=60)


def test_every_asset_and_check_is_loaded_with_its_latest_verdict(ui):
    nodes = graphql(ui, """{ assetNodes { assetKey { path } assetChecksOrError {
        ... on AssetChecks { checks { name executionForLatestMaterialization {
        evaluation { success } } } } } } }""")["assetNodes"]
    assert {n["assetKey"]["path"][0] for n in nodes} == {
        key.to_user_string() for key in defs.resolve_all_asset_keys()}
    checks = {c["name"]: c for n in nodes for c in n["assetChecksOrError"]["checks"]}
    expected = {key.name for check in GATE_CHECKS for key in check.check_keys}
    assert expected <= set(checks)
    unjudged = [name for name in expected
                if checks[name]["executionForLatestMaterialization"] is None
                or checks[name]["executionForLatestMaterialization"]["evaluation"] is None]
    assert not unjudged


def test_a_reviewer_walks_lineage_an_assets_checks_and_the_gate_summary(ui):
    chromium = _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    base = f"http://127.0.0.1:{ui}"
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium, headless=True,
                                         args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(f"{base}/assets/fairness_report?view=lineage", wait_until="networkidle")
            _dismiss_newsletter(page)
            # its neighbours, each with its group, latest event and check tally
            page.get_by_text("model_card").first.wait_for(timeout=60_000)
            for name in ("dataset_splits", "candidate_model", "proxy_report", "evaluation"):
                assert page.get_by_text(name).count() > 0, name
            page.get_by_text(re.compile(r"\d+ / \d+ Passed")).first.wait_for(timeout=60_000)
            page.screenshot(path=str(SCREENSHOTS / "lineage.png"))

            page.goto(f"{base}/assets/fairness_report?view=checks", wait_until="networkidle")
            page.get_by_text("four_fifths_rule").first.wait_for(timeout=60_000)
            for check in ("equalized_odds", "counterfactual_flip", "demographic_parity"):
                assert page.get_by_text(check).count() > 0, check
            page.screenshot(path=str(SCREENSHOTS / "fairness_checks.png"))

            page.goto(f"{base}/assets/promotion_decision", wait_until="networkidle")
            page.get_by_text("every blocking gate passed").first.wait_for(timeout=60_000)
            page.get_by_text("[Show Markdown]").first.click()   # the gate table
            dialog = page.get_by_role("dialog")
            dialog.get_by_text("performance_floor").first.wait_for(timeout=30_000)
            text = dialog.inner_text()
            missing = [gate.name for gate in GATES if gate.name not in text]
            assert not missing
            # each row says what its verdict judged: the parts of its fingerprint
            judged = re.findall(r"policy [0-9a-f]{8} data [0-9a-f]{8}", text)
            assert len(judged) >= len(GATES) - 2   # no current verdict: '-'; none here
            page.screenshot(path=str(SCREENSHOTS / "gate_summary.png"))
        finally:
            browser.close()
    assert all((SCREENSHOTS / f"{name}.png").stat().st_size > 10_000
               for name in ("lineage", "fairness_checks", "gate_summary"))
