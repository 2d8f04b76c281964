"""policy.small_groups: a sensitive group below policy.min_group_size fails validation (saying
how to go on), is reported as insufficient evidence while the other groups are judged, or is
merged into one group "other" that validation.json and the card record."""

import pytest

from governance_assets.core.data.columns import FAVOURABLE
from governance_assets.core.data.group_rules import OTHER_GROUP, small_group_rule
from governance_assets.core.data.raw_files import read_raw
from governance_assets.core.data.validation import validate
from governance_assets.core.decide.data_gates import group_sizes
from governance_assets.core.evidence import fairness
from governance_assets.core.params import load_params
from governance_assets.core.report import assurance_card

from .conftest import GERMAN, REPO

# UCI purpose codes; A48 (retraining, 9 rows), A44 (12) and A410 (12) are below 20 rows.
PURPOSES = {"A40": "car_new", "A41": "car_used", "A42": "furniture", "A43": "radio_tv",
            "A44": "appliances", "A45": "repairs", "A46": "education", "A48": "retraining",
            "A49": "business", "A410": "other_purpose"}
SMALL = {"appliances": 12, "other_purpose": 12, "retraining": 9}


def _params(small_groups=None, external=False):
    """The bundled params with a `purpose_group` sensitive attribute that has small groups."""
    params = load_params(REPO)
    block = params.active.model_dump()
    block["derived"]["purpose_group"] = {"source": "purpose", "mapping": PURPOSES}
    block["sensitive_features"] = [*block["sensitive_features"], "purpose_group"]
    if external:
        block["external_model"] = {"path": "data/external/model.skops", "provenance": "test"}
    spec = type(params.active).model_validate(block)
    policy = params.policy.model_copy(update={"small_groups": small_groups})
    return spec, policy


def test_fail_names_the_small_groups_and_suggests_merge_and_derived():
    spec, policy = _params()
    assert small_group_rule(spec, policy) == "fail"
    frame, report = validate(read_raw(GERMAN), spec, policy, "german.csv")
    assert frame is None
    verdict = group_sizes(report.to_dict(), "reports/validation.json")
    assert verdict.outcome == "fail"
    for text in ("'retraining'=9", "policy.small_groups", "merge", "insufficient_evidence",
                 "derived.purpose_group"):
        assert text in verdict.message, text


def test_an_audit_reports_small_groups_as_insufficient_evidence_and_judges_the_others():
    spec, policy = _params(external=True)
    assert small_group_rule(spec, policy) == "insufficient_evidence"
    frame, report = validate(read_raw(GERMAN), spec, policy, "german.csv")
    assert frame is not None
    assert report.to_dict()["small_groups"]["attributes"]["purpose_group"] == {
        "handled": "insufficient_evidence", "groups": SMALL}
    assert group_sizes(report.to_dict(), "reports/validation.json").outcome == "pass"
    result = fairness.feature_fairness(frame[FAVOURABLE], frame[FAVOURABLE],
                                       frame["purpose_group"], policy.min_group_size, 10)
    assert sorted(result["insufficient_groups"]) == sorted(SMALL)
    assert result["disparate_impact_ratio_min"] is not None   # the other groups are judged


def test_merge_folds_the_small_groups_into_other_and_the_card_records_it():
    spec, policy = _params("merge")
    frame, report = validate(read_raw(GERMAN), spec, policy, "german.csv")
    assert frame is not None
    counts = frame["purpose_group"].value_counts()
    assert counts[OTHER_GROUP] == sum(SMALL.values()) == 33
    assert not set(SMALL) & set(counts.index)
    assert counts.min() >= policy.min_group_size
    recorded = report.to_dict()["small_groups"]
    assert recorded["attributes"]["purpose_group"] == {
        "handled": "merge", "into": OTHER_GROUP, "groups": SMALL, "merged_rows": 33,
        "merged_group_still_small": False}
    assert report.group_sizes["purpose_group"][OTHER_GROUP] == 33
    governance = {"small_groups": recorded}
    text = assurance_card._small_groups(governance)
    assert "merged into one group `other` (33 rows)" in text and "retraining (9 rows)" in text


def test_merge_refuses_to_rewrite_a_model_input():
    params = load_params(REPO)
    spec = type(params.active).model_validate({**params.active.model_dump(),
                                               "sensitive_features": ["sex", "purpose"]})
    policy = params.policy.model_copy(update={"small_groups": "merge"})
    frame, report = validate(read_raw(GERMAN), spec, policy, "german.csv")
    assert frame is None
    assert any("a model input" in f.message for f in report.failures("groups"))


@pytest.mark.parametrize("value", ["fail", "insufficient_evidence", "merge", None])
def test_the_policy_key_accepts_its_three_choices_and_null(value):
    params = load_params(REPO)
    assert type(params.policy).model_validate(
        {**params.policy.model_dump(), "small_groups": value}).small_groups == value
