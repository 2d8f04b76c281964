"""One owner decides what an outcome does (core/decide/blocking.py), and every gate names the
rule that judges it and the function that computes what the rule reads.

The expected answers below are written out by hand from the policy's words, not computed by the
owner's own logic: flipping any branch of the owner turns a row red.
"""

import ast
import importlib
from dataclasses import replace
from functools import cache

import pytest
from dagster import AssetCheckSeverity

from governance_assets import checks
from governance_assets.core.decide import blocking, data_gates, fairness_gates
from governance_assets.core.decide.blocking import (
    FAIL,
    INSUFFICIENT,
    NOT_APPLICABLE,
    PASS,
    Handling,
)
from governance_assets.core.decide.gate_catalog import GATES, GATES_BY_NAME
from governance_assets.core.decide.verdicts import CURRENT, Standing

from .conftest import REPO

PACKAGE = REPO / "governance_assets"
OUTCOMES = (PASS, FAIL, INSUFFICIENT, NOT_APPLICABLE)
BLOCKING_GATE, WARN_ONLY_GATE = GATES_BY_NAME["decision_skill"], GATES_BY_NAME["demographic_parity"]

# (gate blocks?, policy.insufficient_evidence) -> {outcome: holds promotion back}
BLOCKS_PROMOTION = {
    (True, "fail"): {PASS: False, FAIL: True, INSUFFICIENT: True, NOT_APPLICABLE: False},
    (True, "warn"): {PASS: False, FAIL: True, INSUFFICIENT: False, NOT_APPLICABLE: False},
    (False, "fail"): {PASS: False, FAIL: False, INSUFFICIENT: False, NOT_APPLICABLE: False},
    (False, "warn"): {PASS: False, FAIL: False, INSUFFICIENT: False, NOT_APPLICABLE: False},
}


@pytest.fixture(scope="module")
def policies():
    from governance_assets.core.params import load_params

    bundled = load_params(REPO).policy
    return {way: bundled.model_copy(update={"insufficient_evidence": way})
            for way in ("fail", "warn")}


@pytest.mark.parametrize("spec", [BLOCKING_GATE, WARN_ONLY_GATE], ids=lambda s: s.name)
@pytest.mark.parametrize("way", ["fail", "warn"])
@pytest.mark.parametrize("outcome", OUTCOMES)
def test_the_owner_answers_every_combination(spec, way, outcome, policies):
    """Kills: a branch of verdict_blocking / blocks_promotion flipped (e.g. not-applicable
    blocking, a warned insufficiency blocking, a warn-only gate blocking)."""
    recorded = blocking.verdict_blocking(spec, outcome, policies[way], (Handling.BY_POLICY,))
    expected = BLOCKS_PROMOTION[(spec.blocking, way)][outcome]
    assert blocking.blocks_promotion(spec, outcome, recorded) is expected
    assert blocking.check_severity(spec, recorded) == "WARN"   # a gate judged in `document`
    assert blocking.shown_as_passed(outcome) is (outcome in (PASS, NOT_APPLICABLE))


def test_a_gate_without_a_current_verdict_blocks_only_if_it_is_a_blocking_gate():
    assert blocking.blocks_promotion(BLOCKING_GATE, None, False)
    assert not blocking.blocks_promotion(WARN_ONLY_GATE, None, True)


def test_how_thin_evidence_is_handled_is_named_by_the_rule_and_decided_here(policies):
    """Kills: intersections read from policy.insufficient_evidence, a disclosed limit that
    blocks, or an unmeasured statistic that a warn policy lets through."""
    strict_cells = policies["warn"].model_copy(
        update={"intersection_insufficient_evidence": "fail"})
    counts = blocking.insufficient_counts_as_failure
    assert counts(policies["warn"], [Handling.AS_FAILURE])
    assert not counts(policies["fail"], [Handling.DISCLOSED])
    assert counts(strict_cells, [Handling.BY_INTERSECTION_POLICY])
    assert not counts(strict_cells, [Handling.BY_POLICY])
    assert not counts(policies["fail"].model_copy(
        update={"intersection_insufficient_evidence": "warn"}), [Handling.BY_INTERSECTION_POLICY])
    assert counts(strict_cells, [Handling.BY_POLICY, Handling.BY_INTERSECTION_POLICY])
    with pytest.raises(ValueError, match="needs the policy"):
        counts(None, [Handling.BY_POLICY])


def test_what_a_failure_does_in_words_and_severity():
    """Kills: stops_the_run true for a document-stage gate or a warn-only gate."""
    schema, outliers = GATES_BY_NAME["schema"], GATES_BY_NAME["outlier_screen"]
    assert blocking.stops_the_run(schema) and not blocking.stops_the_run(BLOCKING_GATE)
    assert not blocking.stops_the_run(outliers)
    assert blocking.what_a_failure_does(schema) == "Stops the run and blocks promotion."
    assert blocking.what_a_failure_does(BLOCKING_GATE).startswith("Blocks promotion (via ")
    assert blocking.what_a_failure_does(outliers) == "Warning only, never blocks promotion."
    assert blocking.check_severity(schema, True) == "ERROR"
    assert blocking.check_severity(schema, False) == "WARN"
    assert blocking.check_severity(outliers, False) == "WARN"


def _thin_fairness() -> dict:
    """DIR 0.9 measured, one group too small to count: insufficient evidence."""
    return {"features": {"sex": {"disparate_impact_ratio_min": 0.9,
                                 "equalized_odds_difference": 0.05,
                                 "demographic_parity_difference": 0.05,
                                 "insufficient_groups": ["other"]}}}


def _validation(failed: bool) -> dict:
    return {"file": "credit.csv", "findings": [
        {"gate": "schema", "rule": "required_column", "column": "age", "passed": not failed,
         "message": "credit.csv: required column 'age' is missing" if failed else "present",
         "value": None}]}


def _real_verdicts(policies) -> list:
    """Verdicts of real rules on hand-made evidence: every kind the owner distinguishes."""
    drift = {"max_psi_feature": "age", "max_psi": 0.9, "drifted_features": ["age"],
             "drifted_share": 1.0, "simulated": True}
    return [data_gates.schema(_validation(failed=True), "v.json"),
            data_gates.schema(_validation(failed=False), "v.json"),
            fairness_gates.four_fifths(_thin_fairness(), policies["fail"], "f.json"),
            fairness_gates.four_fifths(_thin_fairness(), policies["warn"], "f.json"),
            fairness_gates.demographic_parity(_thin_fairness(), policies["fail"], "f.json"),
            data_gates.drift_psi(drift, policies["fail"], "d.json"),
            data_gates.retention({"findings": []}, "v.json")]


THIN_WARNING = "insufficient evidence, warning, does not block promotion: "


def test_the_guard_the_check_and_the_verdict_all_ask_the_owner(policies):
    """For real gates and real rules: Standing.blocks (the promotion guard), the check's
    severity and wording, and Verdict.blocks all say what the owner says.
    Kills: Standing.blocks or as_check_result deciding on its own again (e.g. severity from
    spec.blocking instead of the verdict's, a warned insufficiency shown as BLOCKS)."""
    expected = {  # gate, outcome -> (blocks promotion, severity, description starts)
        ("schema", FAIL): (True, AssetCheckSeverity.ERROR,
                           "BLOCKS PROMOTION and stops the run: "),
        ("schema", PASS): (False, AssetCheckSeverity.ERROR, "1 schema rule(s) on credit.csv"),
        ("four_fifths_rule", INSUFFICIENT, True): (
            True, AssetCheckSeverity.WARN,
            "BLOCKS PROMOTION (insufficient evidence counts as a failure): "),
        ("four_fifths_rule", INSUFFICIENT, False): (False, AssetCheckSeverity.WARN, THIN_WARNING),
        ("demographic_parity", INSUFFICIENT): (False, AssetCheckSeverity.WARN, THIN_WARNING),
        ("drift_psi", INSUFFICIENT): (False, AssetCheckSeverity.WARN, THIN_WARNING),
        ("retention", NOT_APPLICABLE): (False, AssetCheckSeverity.ERROR, "not applicable"),
    }
    for verdict in _real_verdicts(policies):
        spec = GATES_BY_NAME[verdict.gate]
        key = (verdict.gate, verdict.outcome)
        key = key + (verdict.blocking,) if key not in expected else key
        blocks, severity, starts = expected[key]
        standing = Standing(spec, CURRENT, {"verdict": verdict.to_dict()}, None, "")
        result = checks.as_check_result(verdict, {}, spec)
        owner = blocking.blocks_promotion(spec, verdict.outcome, verdict.blocking)
        assert owner is blocks is standing.blocks is verdict.blocks, key
        assert result.metadata["blocks_promotion"].value is blocks, key
        assert result.severity == severity, key
        assert result.description.startswith(starts), (key, result.description)
        assert result.passed is (verdict.outcome in (PASS, NOT_APPLICABLE)), key


def test_a_passing_side_does_not_make_a_warned_insufficiency_block(policies):
    """Two-sided four-fifths: the low side passes, the high side rests on a thin group that
    the policy warns on. Kills: the combined verdict taking `blocking` from the passing side
    (as it did before one owner decided)."""
    two_sided = {"features": {"g": {"disparate_impact_ratio_min": 0.9,
                                    "disparate_impact_ratio_max": 1.1,
                                    "insufficient_groups": [],
                                    "left_out": {"disparate_impact_ratio_max": ["tiny"]}}}}
    for way, blocks in (("warn", False), ("fail", True)):
        policy = policies[way].model_copy(update={"max_disparate_impact": 1.25})
        verdict = fairness_gates.four_fifths(two_sided, policy, "f.json")
        assert verdict.outcome == INSUFFICIENT and "g=tiny" in verdict.message
        assert verdict.blocks is blocks, way


def _resolved(dotted: str):
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("spec", GATES, ids=lambda s: s.name)
def test_every_gate_names_its_rule_and_what_computes_its_statistic(spec):
    """Kills: a gate whose `rule` is not the function checks.py judges it with, or whose
    `rule`/`computes` does not resolve, lives in the wrong domain, or is called nowhere."""
    rule, computes = _resolved(spec.rule), _resolved(spec.computes)
    assert callable(rule) and callable(computes)
    assert spec.rule.startswith("governance_assets.core.decide.")
    assert spec.computes.split(".")[2] in ("data", "model", "evidence", "report"), spec.computes
    assert checks.JUDGES[spec.name].rule is rule
    assert computes.__name__ in _called_names(), spec.computes


def test_checks_judge_exactly_the_catalogued_gates():
    assert set(checks.JUDGES) == set(GATES_BY_NAME)


@cache
def _called_names() -> frozenset[str]:
    """Names of every function the package calls (outside tests), read from its source."""
    names = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                names.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    return frozenset(names)


@pytest.mark.parametrize(("gate_blocks", "outcome", "blocks", "label"), [
    (False, FAIL, False, "warn"),
    (True, INSUFFICIENT, False, "warn (policy)"),
    (True, INSUFFICIENT, True, "yes"),
    (True, FAIL, True, "yes"),
    (True, PASS, False, "yes"),
])
def test_the_gate_tables_blocking_column_is_the_owners_label(gate_blocks, outcome, blocks,
                                                             label):
    """Kills: `warn (policy)` shown for a blocking insufficiency, or a warning-only gate
    labelled as blocking."""
    spec = replace(GATES_BY_NAME["four_fifths_rule"], blocking=gate_blocks)
    assert blocking.blocking_label(spec, outcome, blocks) == label


def test_every_finding_family_is_judged_by_a_gate_and_only_blocking_ones_invalidate_data():
    """Kills: the data validation deciding on its own that outliers do not block (a family
    missing from the mapping raises), or a warning-only gate's findings invalidating the data."""
    from governance_assets.core.data.validation_report import ValidationReport

    assert {blocking.failed_finding_blocks(family) for family in
            ("schema", "labels", "groups", "personal_data", "retention")} == {True}
    assert blocking.failed_finding_blocks("outliers") is False
    report = ValidationReport(file="x.csv", rows=1)
    report.add("outliers", "duplicates", None, False, "one duplicate")
    assert report.valid
    report.add("groups", "min_group_size", "sex", False, "too small")
    assert not report.valid
