"""Personal data, retention, robustness and reference decisions on the real datasets (core)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeClassifier

from governance_assets.core.data import personal_data
from governance_assets.core.data.columns import FAVOURABLE
from governance_assets.core.data.raw_files import read_raw
from governance_assets.core.data.splits import split_dataset
from governance_assets.core.data.validation import validate
from governance_assets.core.decide import assurance_gates, data_gates
from governance_assets.core.evidence import reference_decisions, robustness
from governance_assets.core.model import training

from .conftest import REPO, make_project, params_of

TORONTO = REPO / "data" / "raw" / "toronto_arrests.csv"
FIVE_YEARS = 1826   # 2003-01-01 minus 1826 days (one leap day) is 1998-01-01
FIRST = ["Anna", "Ben", "Clara", "David", "Eva", "Felix", "Greta", "Hans", "Ida", "Jonas"]
LAST = ["Schmidt", "Meyer", "Weber", "Wagner", "Becker", "Hoffmann", "Koch", "Richter", "Klein",
        "Wolf"]


@pytest.fixture(scope="module")
def params(tmp_path_factory):
    return params_of(make_project(tmp_path_factory.mktemp("assurance")))


@pytest.fixture(scope="module")
def german_splits(params):
    spec = params.datasets["german_credit"]
    frame, report = validate(read_raw(REPO / spec.path), spec, params.policy, spec.path)
    assert report.valid
    return split_dataset(frame, spec, params.split).frames


@pytest.fixture(scope="module")
def smooth_model(params, german_splits):
    """The bundled champion family (logistic regression), refit as the pipeline does."""
    return training.refit("logistic_regression", {}, german_splits["train"],
                          german_splits["validation"], params.datasets["german_credit"],
                          params.model, params.split.seed)


def _screen(frame: pd.DataFrame, params, spec=None):
    spec = spec or params.datasets["german_credit"]
    return validate(frame, spec, params.policy, "german_credit.csv")


@pytest.mark.parametrize("name", ["german_credit", "census_income", "toronto_arrests"])
def test_the_bundled_datasets_hold_no_identifier(params, name):
    spec = params.datasets[name]
    _, report = validate(read_raw(REPO / spec.path), spec, params.policy, spec.path)
    assert report.personal_data["findings"] == []
    assert data_gates.personal_data(report.to_dict(), "v.json").passed


def test_a_planted_email_and_id_column_are_caught_named_and_masked(params, german):
    planted = german.assign(
        contact=[f"applicant{i}@example.org" for i in range(len(german))],
        customer_no=[str(100000 + i) for i in range(len(german))])
    frame, report = _screen(planted, params)
    assert frame is None and not report.valid
    verdict = data_gates.personal_data(report.to_dict(), "v.json")
    assert verdict.outcome == "fail" and verdict.blocks and verdict.value >= 2
    assert "column 'contact' rule personal_data: 1000 value(s) matching email" in verdict.message
    assert "column 'customer_no' rule personal_data: near-unique values" in verdict.message
    email = next(f for f in report.personal_data["findings"] if f["pattern"] == "email")
    assert all("@" not in e or "applicant" not in e for e in email["examples"])
    assert email["examples"][0].startswith("ap") and "*" in email["examples"][0]
    assert report.personal_data["undeclared_columns"] == ["contact", "customer_no"]


def test_a_declared_identifier_is_excluded_from_the_model_and_the_data(params, german):
    planted = german.assign(customer_no=[str(100000 + i) for i in range(len(german))])
    spec = params.datasets["german_credit"].model_copy(
        update={"identifier_columns": ["customer_no"], "numeric_columns": [
            *params.datasets["german_credit"].numeric_columns, "customer_no"]})
    frame, report = _screen(planted, params, spec)
    assert report.valid and "customer_no" not in frame.columns
    assert "customer_no" not in spec.model_features
    assert report.personal_data["findings"][0]["declared"] is True


@pytest.mark.parametrize("pattern, value", [
    ("payment_card", "4111 1111 1111 1111"), ("iban", "DE89 3704 0044 0532 0130 00"),
    ("phone", "+49 30 1234567"), ("national_id:us_ssn", "078-05-1120"),
    ("person_name", "Anna Schmidt")])
def test_each_identifier_pattern_is_recognised(params, german, pattern, value):
    values = [value] * len(german)
    if pattern == "person_name":   # names are flagged in a column of mostly distinct values
        values = [f"{FIRST[i % 10]} {FIRST[i // 10 % 10]}a {LAST[i // 100]}"
                  for i in range(len(german))]
    _, report = _screen(german.assign(free_text=values), params)
    found = {f["pattern"] for f in report.personal_data["findings"]}
    assert pattern in found


def test_luhn_and_mod97_reject_numbers_that_only_look_like_cards():
    assert personal_data.luhn_valid("4111111111111111")
    assert not personal_data.luhn_valid("4111111111111112")
    assert personal_data.iban_valid("DE89370400440532013000")
    assert not personal_data.iban_valid("DE89370400440532013001")


def _toronto(params, **policy):
    spec = params.datasets["toronto_arrests"]
    spec = type(spec).model_validate({**spec.model_dump(), "retention": {
        "column": "year", "as_of": "2003-01-01"}})
    raw = read_raw(TORONTO)
    return validate(raw, spec, params.policy.model_copy(update=policy), "toronto_arrests.csv"), raw


def test_rows_past_retention_are_dropped_and_the_oldest_row_used_is_stated(params):
    (frame, report), raw = _toronto(params, max_record_age_days=FIVE_YEARS, retention_action="drop")
    from_1997 = int((raw["year"] == "1997").sum())
    assert report.valid and from_1997 > 0
    assert report.retention["rows_expired"] == from_1997
    assert len(frame) == len(raw) - from_1997 and "1997" not in set(frame["year"])
    assert report.retention["oldest_row_used"] == "1998-01-01"
    assert report.retention["oldest_row_in_file"] == "1997-01-01"
    assert data_gates.retention(report.to_dict(), "v.json").passed


def test_rows_past_retention_block_when_the_policy_says_block(params):
    (frame, report), raw = _toronto(params, max_record_age_days=FIVE_YEARS,
                                    retention_action="block")
    assert frame is None
    verdict = data_gates.retention(report.to_dict(), "v.json")
    assert verdict.outcome == "fail" and verdict.blocks
    assert f"{int((raw['year'] == '1997').sum())} row(s) older than" in verdict.message
    assert "policy.retention_action=block" in verdict.message


def _perturbation(model, splits, spec, settings, seed):
    refit_rows = pd.concat([splits["train"], splits["validation"]])
    golden = splits["golden_test"]
    numeric = [c for c in spec.model_features if c in spec.numeric_columns]
    categorical = [c for c in spec.model_features if c in spec.categorical_columns]
    moved = robustness.perturb(golden, refit_rows, refit_rows[FAVOURABLE], numeric, categorical,
                               settings.numeric_shift, settings.categorical_swap_share, seed)
    return {"perturbation_rule": "test", "perturbation": robustness.perturbation_test(
        model.predict_proba(golden[spec.model_features])[:, 1],
        model.predict_proba(moved[spec.model_features])[:, 1],
        golden[FAVOURABLE].to_numpy(), 0.5)}


def test_a_model_keyed_on_one_feature_flips_and_is_blocked(params, german_splits, smooth_model):
    spec = params.datasets["german_credit"]
    both = pd.concat([german_splits["train"], german_splits["validation"]])
    keyed = Pipeline([("pick", ColumnTransformer([("amount", "passthrough",
                                                   ["credit_amount"])])),
                      ("tree", DecisionTreeClassifier(random_state=0))])
    keyed.fit(both[spec.model_features], both[FAVOURABLE])
    jagged = _perturbation(keyed, german_splits, spec, params.robustness, params.split.seed)
    verdict = assurance_gates.perturbation_flips(jagged, params.policy, "r.json")
    assert verdict.outcome == "fail" and verdict.blocks
    assert jagged["perturbation"]["flip_rate"] > 2 * params.policy.max_flip_rate
    smooth = _perturbation(smooth_model, german_splits, spec, params.robustness,
                           params.split.seed)
    assert assurance_gates.perturbation_flips(smooth, params.policy, "r.json").passed
    assert assurance_gates.perturbation_auc_drop(smooth, params.policy, "r.json").passed


def test_perturbation_is_seeded_and_swaps_to_the_nearest_category(params, german_splits):
    train = german_splits["train"]
    neighbours = robustness.nearest_categories(train, "status_of_existing_checking_account",
                                               train[FAVOURABLE])
    rates = train.groupby("status_of_existing_checking_account")[FAVOURABLE].mean()
    for category, neighbour in neighbours.items():
        others = rates.drop(category)
        assert neighbour == (others - rates[category]).abs().idxmin()
    args = (german_splits["golden_test"], train, train[FAVOURABLE], ["credit_amount"],
            ["purpose"], 0.1, 0.5, 7)
    pd.testing.assert_frame_equal(robustness.perturb(*args), robustness.perturb(*args))


def test_a_planted_weak_slice_is_found_with_its_size(params, german_splits, smooth_model):
    spec = params.datasets["german_credit"]
    golden = german_splits["golden_test"]
    decided = smooth_model.predict_proba(golden[spec.model_features])[:, 1] >= 0.5
    truth = golden[FAVOURABLE].to_numpy().astype(bool)
    planted = (golden["housing"] == "A152").to_numpy()
    truth = np.where(planted, ~decided, truth)   # the model is wrong on every such row
    labels = robustness.slice_labels(golden, spec.model_features,
                                     set(spec.numeric_columns), params.robustness.slice_bins)
    settings = params.robustness
    scan = robustness.slice_scan(labels, decided == truth, params.policy.min_slice_accuracy,
                                 settings.min_slice_rows, settings.slice_alpha)
    found = {s["slice"]: s for s in scan["significant_slices"]}
    assert "housing=A152" in found and found["housing=A152"]["rows"] == int(planted.sum())
    assert found["housing=A152"]["accuracy"] == 0.0
    assert found["housing=A152"]["p_adjusted"] >= found["housing=A152"]["p_value"]
    verdict = assurance_gates.slice_performance({"slices": scan}, params.policy, "r.json")
    assert verdict.outcome == "fail" and verdict.blocks
    clean = robustness.slice_scan(labels, decided == golden[FAVOURABLE].to_numpy().astype(bool),
                                  params.policy.min_slice_accuracy, settings.min_slice_rows,
                                  settings.slice_alpha)
    assert assurance_gates.slice_performance({"slices": clean}, params.policy, "r.json").passed


def test_holm_adjusts_like_the_textbook():
    adjusted = robustness.holm(np.array([0.01, 0.04, 0.03, 0.005]))
    assert adjusted.tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_a_wrong_expected_decision_shows_up_as_a_disagreement(params, smooth_model, tmp_path):
    spec = params.datasets["german_credit"]
    cases = pd.read_csv(REPO / spec.reference_decisions, dtype=str, keep_default_na=False)
    cases.loc[cases["case_id"] == "G1", "expected_decision"] = "2"   # a clear approval, flipped
    path = tmp_path / "reference.csv"
    cases.to_csv(path, index=False)
    read = reference_decisions.read_reference(path, spec)
    result = reference_decisions.agreement(
        read, smooth_model.predict_proba(read[spec.model_features])[:, 1], spec, 0.5)
    assert [d["case_id"] for d in result["disagreements"]] == ["G1"]
    assert result["disagreements"][0]["expected"] == "unfavourable"
    assert result["disagreements"][0]["model"] == "favourable"
    assert result["agreement_rate"] == 0.9
    strict = params.policy.model_copy(update={"min_reference_agreement": 0.95})
    verdict = assurance_gates.reference_agreement({"file": "r.csv", **result}, strict, "a.json")
    assert verdict.outcome == "fail" and verdict.blocks and "G1" in verdict.message


def test_large_amounts_and_decimals_are_not_taken_for_phones_or_cards(params, german):
    amounts = [f"{123456789 + 7919 * i}.0" for i in range(len(german))]
    _, report = _screen(german.assign(credit_amount=amounts), params)
    assert not {f["pattern"] for f in report.personal_data["findings"]} & {"phone",
                                                                           "payment_card"}
