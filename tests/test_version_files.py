"""What a registry version holds is what the gates judged, and every page in it works offline.

Through the real graph (a project the whole graph ran on, copied, then `staging_model` or the
promotion group materialized again on a real instance) and the real `governance` CLI: pages
edited after the gates are not registered, a second run of the same candidate on the same
evidence is the same version, links resolve inside the version folder, the approval's evidence
hash covers every registered file, and a rollback to the same model bytes says so.
"""

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from markdown_it import MarkdownIt

from governance_assets.assets import promotion_decision, staging_model
from governance_assets.core.decide.gate_catalog import GATES
from governance_assets.core.files import read_json
from governance_assets.core.params import SignoffSpec
from governance_assets.core.record import ledger, registry, version_files
from governance_assets.core.report import card
from governance_assets.core.trust import signoff

from .conftest import REPO, make_project, materialized, run_graph
from .signing import PIPELINE, keys

GOVERNANCE = REPO / ".venv" / "bin" / "governance"
__all__ = ["keys"]  # fixture, used by name
INJECTED = "Reviewed and cleared by the board"


@pytest.fixture
def judged(passing, tmp_path):
    """A copy of a project whose every gate passed and whose candidate is `staging`."""
    root = tmp_path / "project"
    shutil.copytree(passing[0], root)
    return root


def _staged(root: Path) -> str:
    return registry.get_alias(root / "registry", "staging")


def _versions(root: Path) -> list[str]:
    return [entry["data"]["version"] for entry in registry.versions(root / "registry")]


def _refusal(result) -> str:
    [failure] = result.get_step_failure_events()
    return failure.step_failure_data.error.message


def test_pages_edited_after_the_gates_are_rendered_again_not_registered(judged, instance):
    root = judged
    staged, versions = _staged(root), _versions(root)
    for page in ("model_card.md", "compliance.html", "compliance.md"):
        with (root / "reports" / page).open("a") as handle:
            handle.write(f"\n{INJECTED}\n")
    result = run_graph(root, instance, selection=[staging_model])
    assert result.success, result.get_step_failure_events()
    assert _staged(root) == staged and _versions(root) == versions
    folder = root / "registry" / "versions" / staged
    for page in ("model_card.md", "compliance.html", "compliance.md"):
        assert INJECTED not in (folder / page).read_text(), page
    assert (folder / "model_card.md").read_text() == card.render_markdown(
        read_json(folder / "model_card.json"))


def test_a_judged_page_edited_after_the_gates_is_refused(judged, instance):
    root = judged
    staged = _staged(root)
    with (root / "reports/drift.html").open("a") as handle:
        handle.write(f"<p>{INJECTED}</p>\n")
    refused = run_graph(root, instance, selection=[staging_model])
    assert "staging_model" not in materialized(refused)
    assert "drift_psi on drift_report: STALE" in _refusal(refused)
    assert "evidence file changed" in _refusal(refused)
    assert _staged(root) == staged


def test_two_runs_of_the_same_candidate_are_one_version(judged, instance):
    root = judged
    staged, versions = _staged(root), _versions(root)
    first_run = read_json(root / "reports/decision.json")["run_id"]
    again = run_graph(root, instance, selection=[promotion_decision, staging_model])
    assert again.success
    assert _staged(root) == staged and _versions(root) == versions
    assert read_json(root / "reports/decision.json")["run_id"] == again.run_id != first_run
    moved = registry.alias_entry(root / "registry", "staging")["data"]
    assert moved["run_id"] == again.run_id and moved["version"] == staged
    registered = read_json(root / "registry/versions" / staged / "decision.json")
    assert not set(registered) & {"run_id", "decided_at", "git_commit", "triggered_by"}
    assert all("judged_in_run" not in verdict for verdict in registered["verdicts"])

    listed = subprocess.run([str(GOVERNANCE), "--root", str(root), "list"],
                            capture_output=True, text=True, check=True).stdout
    model = registry.registration(root / "registry", staged)["data"]["model_sha256"]
    assert f"{staged}  model {model[:12]}" in listed


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.targets: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.targets += [value for name, value in attrs if name in ("href", "src") and value]


def _markdown_targets(text: str) -> list[str]:
    targets = []
    for token in MarkdownIt("commonmark").enable("table").parse(text):
        for child in [token, *(token.children or [])]:
            targets += [child.attrs[name] for name in ("href", "src") if child.attrs.get(name)]
    return targets


def _outside(folder: Path, target: str) -> str | None:
    """Why a link does not resolve inside the version folder, or None."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("/"):
        return f"{target}: not a relative path"
    resolved = (folder / parts.path).resolve()
    if not resolved.is_relative_to(folder.resolve()):
        return f"{target}: outside the version folder"
    return None if resolved.is_file() else f"{target}: no such file in the version"


def test_every_link_in_the_registered_pages_resolves_inside_the_version(passing):
    root = passing[0]
    folder = root / "registry" / "versions" / _staged(root)
    targets = {page: _markdown_targets((folder / page).read_text())
               for page in ("model_card.md", "compliance.md")}
    parser = _Links()
    parser.feed((folder / "compliance.html").read_text())
    targets["compliance.html"] = parser.targets
    broken = [f"{page}: {why}" for page, links in targets.items() for link in links
              if (why := _outside(folder, link))]
    assert not broken, broken
    assert {"shap_importance.png", "fairness_rates.png", "search_pareto.png",
            "drift.html"} <= set(targets["model_card.md"])
    assert "decision.json" in targets["compliance.html"]
    for page in ("compliance.md", "compliance.html"):  # outside the version: named in text
        text = (folder / page).read_text()
        assert "data/DATASHEET_german_credit.md" in text and "registry/ledger.jsonl" in text


def test_the_evidence_hash_covers_every_file_a_reviewer_is_shown(passing):
    root = passing[0]
    entry = registry.registration(root / "registry", _staged(root))
    files = entry["data"]["files"]
    assert set(files) == {registry.MODEL_FILE, *version_files.JUDGED, *version_files.RENDERED}
    approved = signoff.evidence_hash(entry)
    for name in files:
        edited = {**entry, "data": {**entry["data"], "files": {**files, name: "0" * 64}}}
        assert signoff.evidence_hash(edited) != approved, name


def test_every_file_registered_as_judged_is_evidence_of_some_gate():
    judged = {Path(path).name for gate in GATES for path in gate.evidence}
    assert set(version_files.JUDGED) <= judged, set(version_files.JUDGED) - judged


SPEC = SignoffSpec(approvers=["alice"], promoters=["dave"], pipeline_signers=[PIPELINE],
                   require_signed_run=False, approval_expiry_days=30)


def _version(root: Path, folder: Path, model: bytes, card_text: str, keys) -> str:
    """A registered version of these model bytes with this card, approved and in production,
    every step signed by its role's key."""
    folder.mkdir(parents=True)
    (folder / "model.joblib").write_bytes(model)
    (folder / "model_card.json").write_text(card_text)
    version = registry.register(root, folder / "model.joblib",
                                {"model_card.json": folder / "model_card.json"},
                                {"decision": "promote"})["version"]
    trust = keys.trust(SPEC)
    signoff.approve(root, version, keys.signer("alice"), "reviewed", trust)
    signoff.request_promotion(root, version, keys.signer("dave"), trust)
    signoff.promote_to_production(root, version, trust)
    return version


def test_a_rollback_to_the_same_model_bytes_says_so(tmp_path, keys):
    project = make_project(tmp_path / "project", signoff__approvers=["alice"],
                           signoff__promoters=["dave"], signoff__require_signed_run=False)
    keys.install(project)
    root = project / "registry"
    root.mkdir(parents=True)
    first = _version(root, tmp_path / "a", b"model bytes", '{"policy": "loose"}', keys)
    second = _version(root, tmp_path / "b", b"model bytes", '{"policy": "strict"}', keys)
    assert first != second
    rolled = subprocess.run([str(GOVERNANCE), "--root", str(project), "rollback",
                             "--key", str(keys.path("dave")), "--reason", "fairness breach"],
                            capture_output=True, text=True)
    assert rolled.returncode == 0, rolled.stdout
    assert f"{first} has the same model bytes as {second}" in rolled.stdout
    move = ledger.last_entry(root, "alias", alias="production")["data"]
    assert move["version"] == first and move["same_model"] == \
        registry.registration(root, first)["data"]["model_sha256"]
    assert move["reason"].startswith("fairness breach; ") and "does not change" in move["reason"]


def test_a_rollback_to_another_model_is_a_plain_rollback(tmp_path, keys):
    root = tmp_path / "registry"
    root.mkdir()
    first = _version(root, tmp_path / "a", b"model one", "{}", keys)
    _version(root, tmp_path / "b", b"model two", "{}", keys)
    move = signoff.rollback(root, keys.trust(SPEC), keys.signer("dave"), "fairness breach")
    assert move["data"]["version"] == first and "same_model" not in move["data"]
    assert move["data"]["reason"] == "fairness breach"
