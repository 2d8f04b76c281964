"""Each bad input is caught with the file, column and rule named, and no typed frame results."""

import pandas as pd
import pytest

from governance_assets.core.data.columns import FAVOURABLE
from governance_assets.core.data.raw_files import read_raw
from governance_assets.core.data.validation import validate
from governance_assets.core.decide.data_gates import group_sizes, label_sanity, schema

from .conftest import GERMAN, make_project, params_of

FILE = "data/raw/german_credit.csv"


@pytest.fixture
def params(tmp_path):
    return params_of(make_project(tmp_path))


def failed(report, gate):
    return [f.message for f in report.failures(gate)]


def test_bundled_german_credit_is_valid(params):
    frame, report = validate(read_raw(GERMAN), params.active, params.policy, FILE)
    assert report.valid and frame is not None
    assert report.group_sizes["sex"] == {"female": 310, "male": 690}
    assert report.group_sizes["age_band"] == {"25_and_over": 851, "under_25": 149}
    assert frame[FAVOURABLE].sum() == 700


def test_missing_target_column(params, german):
    frame, report = validate(german.drop(columns="credit_risk"), params.active, params.policy,
                             FILE)
    assert frame is None
    assert failed(report, "schema") == [f"{FILE}: required column 'credit_risk' is missing"]
    assert "credit_risk" in schema(report.to_dict(), FILE).message


def test_unknown_label_value(params, german):
    german.loc[4, "credit_risk"] = "3"
    frame, report = validate(german, params.active, params.policy, FILE)
    assert frame is None
    [message] = failed(report, "labels")
    assert "column 'credit_risk' rule known_label" in message and "'3' at line 6" in message
    assert label_sanity(report.to_dict(), FILE).outcome == "fail"


def test_empty_file(params, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    frame, report = validate(read_raw(empty), params.active, params.policy, "empty.csv")
    assert frame is None
    assert failed(report, "schema") == ["empty.csv: the file has no data rows"]


def test_header_only_file(params, german, tmp_path):
    header_only = tmp_path / "header.csv"
    german.head(0).to_csv(header_only, index=False)
    frame, report = validate(read_raw(header_only), params.active, params.policy, "header.csv")
    assert frame is None and "no data rows" in failed(report, "schema")[0]


def test_missing_sensitive_column(params, german):
    frame, report = validate(german.drop(columns="personal_status_and_sex"), params.active,
                             params.policy, FILE)
    assert frame is None
    assert f"{FILE}: required column 'personal_status_and_sex' is missing" in failed(report,
                                                                                     "schema")
    assert any("column 'personal_status_and_sex' rule sensitive_present" in m
               for m in failed(report, "groups"))


def test_text_in_numeric_column(params, german):
    german.loc[[10, 20], "credit_amount"] = ["lots", "n/a"]
    frame, report = validate(german, params.active, params.policy, FILE)
    assert frame is None
    [message] = failed(report, "schema")
    assert message == (f"{FILE}: column 'credit_amount' rule numeric: 2 non-numeric value(s), "
                       "first 'lots' at line 12")


def test_group_below_minimum_size(params, german):
    young = german["age_in_years"].astype(int) < 25
    german = pd.concat([german[~young], german[young].head(5)])
    frame, report = validate(german, params.active, params.policy, FILE)
    assert frame is None
    [message] = failed(report, "groups")
    assert "column 'age_band' rule min_group_size" in message and "'under_25'=5" in message
    verdict = group_sizes(report.to_dict(), FILE)
    assert verdict.outcome == "fail" and verdict.blocking


def test_unmapped_code_in_sensitive_source(params, german):
    german.loc[0, "personal_status_and_sex"] = "A99"
    frame, report = validate(german, params.active, params.policy, FILE)
    assert frame is None
    assert any("rule known_code" in m and "A99" in m for m in failed(report, "groups"))


def test_outlier_screen_warns_on_injected_extremes(params, german):
    german.loc[:79, "credit_amount"] = "9999999"
    frame, report = validate(german, params.active, params.policy, FILE)
    assert frame is not None, "the screen only warns"
    [screen] = [f for f in report.findings if f.gate == "outliers"]
    assert not screen.passed and screen.value >= 0.08
