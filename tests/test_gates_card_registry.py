"""Gate functions both ways, the card's schema gate, and the registry's integrity rules."""

import copy
import json

import pytest
from sklearn.dummy import DummyClassifier

from governance_assets.core.decide import assurance_gates, fairness_gates, model_gates
from governance_assets.core.layout import Layout
from governance_assets.core.model import model_files
from governance_assets.core.record import registry
from governance_assets.core.report.card import render_markdown, validate_card

from .conftest import REPO, make_project, params_of
from .registry_backends import backend, registry_root

__all__ = ["backend", "registry_root"]  # fixtures, used by name


@pytest.fixture
def policy(tmp_path):
    return params_of(make_project(tmp_path)).policy


def fairness_evidence(ratio, insufficient=()):
    return {"features": {"sex": {"disparate_impact_ratio_min": ratio,
                                 "equalized_odds_difference": 0.05,
                                 "demographic_parity_difference": 0.05,
                                 "insufficient_groups": list(insufficient)}}}


def test_four_fifths_passes_fails_and_names_the_threshold(policy):
    assert fairness_gates.four_fifths(fairness_evidence(0.9), policy, "f.json").outcome == "pass"
    failing = fairness_gates.four_fifths(fairness_evidence(0.71), policy, "f.json")
    assert failing.outcome == "fail" and failing.blocks
    assert failing.message == ("lowest disparate impact ratio (vs the highest_rate group) "
                               "fails: sex: DIR 0.71 < 0.8")


def test_insufficient_evidence_follows_the_policy(policy):
    evidence = fairness_evidence(0.9, insufficient=["other"])
    strict = fairness_gates.four_fifths(evidence, policy, "f.json")
    assert strict.outcome == "insufficient_evidence" and strict.blocks
    lenient = fairness_gates.four_fifths(
        evidence, policy.model_copy(update={"insufficient_evidence": "warn"}), "f.json")
    assert lenient.outcome == "insufficient_evidence" and not lenient.blocks
    assert "sex=other below policy.min_group_size=20" in lenient.message


def test_no_regression_without_production_is_not_applicable_and_does_not_block(policy):
    verdict = model_gates.no_regression({"regression": None}, policy, "p.json")
    assert verdict.outcome == "not_applicable" and not verdict.passed and not verdict.blocks
    assert "no production version" in verdict.message
    worse = model_gates.no_regression({"regression": {"production_version": "abc", "mean": 0.05,
                                                "ci95": [0.03, 0.07]}}, policy, "p.json")
    assert worse.outcome == "fail" and "abc" in worse.message


def test_no_regression_decides_on_the_upper_bound_not_the_mean(policy):
    """A mean drop of 0.01 passes a mean rule at 0.02; an interval reaching 0.05 cannot rule
    out a drop larger than the policy allows, so non-inferiority fails."""
    uncertain = model_gates.no_regression({"regression": {"production_version": "abc", "mean": 0.01,
                                                    "ci95": [-0.03, 0.05]}}, policy, "p.json")
    assert uncertain.outcome == "fail" and uncertain.value == 0.05
    assert "interval -0.030 to 0.050, mean 0.010" in uncertain.message
    tight = model_gates.no_regression({"regression": {"production_version": "abc", "mean": 0.0,
                                                "ci95": [-0.01, 0.015]}}, policy, "p.json")
    assert tight.passed


def test_card_schema_gate_fails_on_a_missing_section(tmp_path):
    schema = Layout(REPO).card_schema
    card = json.loads((REPO / "tests" / "data" / "model_card_example.json").read_text())
    assert validate_card(card, schema) == []
    broken = copy.deepcopy(card)
    del broken["data_lineage"]["md5"]
    broken["gates"][0]["outcome"] = "maybe"
    errors = validate_card(broken, schema)
    assert any("data_lineage: 'md5' is a required property" in e for e in errors)
    assert any(e.startswith("gates/0/outcome") for e in errors)
    assert assurance_gates.card_valid(errors, "card.json").blocks
    markdown = render_markdown(card)
    assert markdown.startswith("---\nlicense: cc-by-4.0") and "## Gates" in markdown


def _model(path, constant):
    model = DummyClassifier(strategy="constant", constant=constant).fit([[0], [1]], [0, 1])
    path.write_bytes(model_files.dumps(model))
    return path


def test_registry_versions_are_immutable_and_verified(tmp_path, registry_root):
    root, card = registry_root, tmp_path / "card.json"
    card.write_text("{}")
    model = _model(tmp_path / "m.skops", 1)
    first = registry.register(root, model, {"card.json": card}, {"run": 1})
    again = registry.register(root, model, {"card.json": card}, {"run": 2})
    assert again["version"] == first["version"] and again["metadata"] == {"run": 1}
    registry.set_alias(root, "staging", first["version"], "test")
    assert registry.get_alias(root, "staging") == first["version"]
    assert registry.load_model(root, first["version"]).predict([[0]])[0] == 1
    stored = root / "versions" / first["version"] / registry.MODEL_FILE
    stored.write_bytes(_model(tmp_path / "other.skops", 0).read_bytes())
    with pytest.raises(registry.RegistryError, match="does not match the registry's"):
        registry.load_model(root, first["version"])
    with pytest.raises(registry.RegistryError, match="unknown version"):
        registry.set_alias(root, "production", "feedbeef", "test")


def test_registry_refuses_bytes_other_than_the_judged_ones(tmp_path, registry_root):
    root, card = registry_root, tmp_path / "card.json"
    card.write_text('{"judged": true}')
    model = _model(tmp_path / "m.skops", 1)
    judged = {"card.json": registry.sha256_of_file(card),
              registry.MODEL_FILE: registry.sha256_of_file(model)}
    card.write_text('{"judged": false}')
    with pytest.raises(registry.RegistryError, match="card.json: sha256 .* is not the .* judged"):
        registry.register(root, model, {"card.json": card}, {}, expected=judged)
    assert not (root / "versions").exists()
    assert not list(root.glob(".incoming-*"))
    card.write_text('{"judged": true}')
    stored = registry.register(root, model, {"card.json": card}, {}, expected=judged)
    assert stored["files"] == judged
