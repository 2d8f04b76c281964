"""The Dagster UI as a reviewer meets it: a real `dg dev` (its own process group) on an
instance with a promoted run and then a run whose candidate a gate refuses, read over GraphQL,
then driven in headless Debian chromium through the lineage graph, the check results, the
evidence on the evaluation pages, the gate summary and what staging holds after the refusal.
Screenshots go to reports/ui/ in the repository; every process started is stopped."""

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
from governance_assets.core.files import read_json
from governance_assets.core.record import registry
from governance_assets.definitions import defs
from governance_assets.ui_server import stop_group

from .conftest import REPO, make_project, run_graph, set_params
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


# A flip-rate bound no candidate meets: perturbation_flips (judged in `document`) refuses the
# second run's candidate, so staging keeps the first run's version.
REFUSING_FLIP_RATE = 0.0001


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A project whose first run is promoted and whose second run is refused by a gate."""
    root = make_project(tmp_path_factory.mktemp("ui") / "project")
    shutil.copy(REPO / "workspace.yaml", root / "workspace.yaml")
    home = root / ".dagster"
    home.mkdir()
    with DagsterInstance.local_temp(str(home)) as instance:
        assert run_graph(root, instance).success
        staged = registry.get_alias(root / "registry", "staging")
        set_params(root, policy__max_flip_rate=REFUSING_FLIP_RATE)
        assert not run_graph(root, instance).success
    assert registry.get_alias(root / "registry", "staging") == staged
    return root, staged


@pytest.fixture(scope="module")
def ui(project):
    """The project served by `dg dev`."""
    root, home = project[0], project[0] / ".dagster"
    port = free_port()
    server = subprocess.Popen(
        [str(REPO / ".venv/bin/dg"), "dev", "-w", "workspace.yaml", "-p", str(port)],
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
            pytest.fail("dg dev did not answer within 180 s")
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


@pytest.fixture(scope="module")
def page(ui):
    """One headless chromium page on the served UI, closed with the module."""
    chromium = _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium, headless=True,
                                         args=["--no-sandbox"])
        try:
            yield browser.new_page(viewport={"width": 1600, "height": 1000}), \
                f"http://127.0.0.1:{ui}"
        finally:
            browser.close()


def _open(page, base: str, path: str, shown: str) -> None:
    """Go to a page and wait until `shown` is on it (the UI loads its data after the page)."""
    page.goto(f"{base}{path}", wait_until="networkidle")
    _dismiss_newsletter(page)
    page.get_by_text(shown).first.wait_for(timeout=60_000)
    _dismiss_newsletter(page)


def _metadata_markdown(page, key: str) -> str:
    """The text of a Markdown metadata value as the page shows it, inline or (a long value, or
    on an event) in the dialog behind its `[Show Markdown]` link: table cells tab-separated,
    rows on lines."""
    row = page.locator("tr").filter(has=page.get_by_text(key, exact=True)).first
    row.wait_for(timeout=30_000)
    link = row.get_by_text("[Show Markdown]")
    if not link.count():
        return row.inner_text()
    link.click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for(timeout=30_000)
    dialog.locator("table, p").first.wait_for(timeout=30_000)
    text = dialog.inner_text()
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden", timeout=30_000)
    return text


def _latest_execution(page, base: str, asset: str, check: str) -> str:
    """What the check's page says about its latest evaluation (description and result)."""
    _open(page, base, f"/assets/{asset}?view=checks&checkDetail={check}", "Latest execution")
    page.get_by_text("Evaluation result").first.wait_for(timeout=60_000)
    return page.inner_text("body")


def test_a_reviewer_walks_lineage_an_assets_checks_and_the_gate_summary(page, project):
    page, base = page
    _open(page, base, "/assets/fairness_report?view=lineage", "model_card")
    # its neighbours, each with its group, latest event and check tally
    for name in ("dataset_splits", "candidate_model", "proxy_report", "evaluation"):
        assert page.get_by_text(name).count() > 0, name
    page.get_by_text(re.compile(r"\d+ / \d+ Passed")).first.wait_for(timeout=60_000)
    page.screenshot(path=str(SCREENSHOTS / "lineage.png"))

    _open(page, base, "/assets/fairness_report?view=checks", "four_fifths_rule")
    for check in ("equalized_odds", "counterfactual_flip", "demographic_parity"):
        assert page.get_by_text(check).count() > 0, check
    page.screenshot(path=str(SCREENSHOTS / "fairness_checks.png"))

    _open(page, base, "/assets/promotion_decision", "BLOCKED by perturbation_flips")
    text = _metadata_markdown(page, "gates")
    missing = [gate.name for gate in GATES if gate.name not in text]
    assert not missing
    # each row says what its verdict judged: the parts of its fingerprint
    judged = re.findall(r"policy [0-9a-f]{8} data [0-9a-f]{8}", text)
    assert len(judged) >= len(GATES) - 2   # no current verdict: '-'; none here
    # the text of every message reads as written: nothing taken for a tag or a table rule
    assert "(datasets.<name>.retention)" in text and "share of mean |SHAP|" in text
    assert "None" not in text and "\\" not in text
    page.screenshot(path=str(SCREENSHOTS / "gate_summary.png"))
    assert all((SCREENSHOTS / f"{name}.png").stat().st_size > 10_000
               for name in ("lineage", "fairness_checks", "gate_summary"))


def test_the_evaluation_pages_show_intervals_and_noise_floors_inline(page, project):
    """Kills: performance_report or drift_report publishing only point values again, or a
    table that drops a metric's interval or a feature's noise floor."""
    page, base = page
    root = project[0]
    _open(page, base, "/assets/performance_report", "Metadata")
    evidence = _metadata_markdown(page, "evidence")
    performance = read_json(root / "reports/performance.json")
    for name, metric in performance["metrics"].items():
        low, high = metric["ci95"]
        assert re.search(rf"^{name}\t[^\n]*\t{low:.4g} to {high:.4g}$", evidence, re.M), name
    assert "p99 spread ms" in evidence and "Regression against production" in evidence
    page.screenshot(path=str(SCREENSHOTS / "performance.png"))

    _open(page, base, "/assets/drift_report", "Metadata")
    table = _metadata_markdown(page, "psi_by_feature")
    drift = read_json(root / "reports/drift.json")
    for feature, value in drift["psi"].items():
        floor = drift["psi_noise_floor"][feature]
        assert re.search(rf"^{re.escape(feature)}\t{value:.4g}\t{floor:.4g}\t", table, re.M), \
            feature


def _verdicts(root) -> dict[str, dict]:
    return {row["name"]: row for row in read_json(root / "reports/decision.json")["verdicts"]}


def test_a_blocking_failure_and_a_warning_read_differently(page, project):
    """Kills: a check description that no longer says whether the failure blocks promotion,
    a warning on thin evidence worded as a failure, the rule's message rendered with its
    `<name>` taken for a tag."""
    page, base = page
    verdicts = _verdicts(project[0])
    shown = _latest_execution(page, base, "robustness_report", "perturbation_flips")
    assert "BLOCKS PROMOTION: share of golden-test decisions that flip" in shown
    assert re.search(rf"Value [0-9.]+; threshold: must be <= {REFUSING_FLIP_RATE:g}\.", shown)
    assert "Blocks promotion (via every_blocking_gate_passed)" in shown
    page.screenshot(path=str(SCREENSHOTS / "blocking_failure.png"))

    thin = [name for name, row in verdicts.items()
            if row["outcome"] == "insufficient_evidence" and not row["blocks_promotion"]]
    assert thin, "the bundled data gives no warning on thin evidence to look at"
    spec = next(gate for gate in GATES if gate.name == thin[0])
    shown = _latest_execution(page, base, spec.asset, spec.name)
    assert "insufficient evidence, warning, does not block promotion: " in shown
    assert "BLOCKS PROMOTION" not in shown
    page.screenshot(path=str(SCREENSHOTS / "warning.png"))

    shown = _latest_execution(page, base, "validated_dataset", "retention")
    assert "(datasets.<name>.retention)" in shown


def test_after_a_refusal_the_decision_and_staging_say_why_and_what_staging_holds(page, project):
    """Kills: the refused run's pages not naming the version staging still holds, or staging's
    page showing only the registered version's all-PASS gates as its latest metadata."""
    page, base = page
    staged = project[1]
    _open(page, base, "/assets/promotion_decision", "BLOCKED by perturbation_flips")
    still = re.compile(rf"^still {staged} \(all blocking gates passed \(run [0-9a-f-]+\)\); "
                       "this candidate is not registered$")
    assert page.get_by_text(still).count() == 1
    # The refused run does not materialize staging_model: its Events open on the observation.
    _open(page, base, "/assets/staging_model?view=events", "latest_decision")
    assert page.get_by_text(re.compile(r"^BLOCKED by perturbation_flips \(run ")).count() == 1
    assert page.get_by_text(still).count() == 1
    gates = _metadata_markdown(page, "gates")
    assert "refused its candidate" in gates and "perturbation_flips\tFAIL" in gates
    page.screenshot(path=str(SCREENSHOTS / "staging_after_refusal.png"))


def test_the_model_card_page_shows_the_cards_text(page, project):
    """Kills: model_card publishing only the path of its Markdown."""
    page, base = page
    _open(page, base, "/assets/model_card", "Metadata")
    card = _metadata_markdown(page, "card")
    for heading in ("Intended use", "Data lineage", "Performance", "Fairness", "Limitations"):
        assert heading in card, heading
    assert "reports/model_card.md" in card
