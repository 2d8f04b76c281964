"""The poisoning screen both ways: quiet on the clean bundled data, failing on injected poison."""

import numpy as np
import pandas as pd
import pytest

from governance_assets.core.data.raw_files import read_raw
from governance_assets.core.data.validation import validate
from governance_assets.core.decide.data_gates import outlier_screen

from .conftest import GERMAN, REPO, make_project, params_of


@pytest.fixture(scope="module")
def params(tmp_path_factory):
    return params_of(make_project(tmp_path_factory.mktemp("poison")))


def screen(params, name, raw):
    frame, report = validate(raw, params.datasets[name], params.policy, name)
    assert frame is not None, "the screen only warns"
    [finding] = [f for f in report.findings if f.gate == "outliers"]
    return finding, report.poisoning


@pytest.mark.parametrize("name", ["german_credit", "census_income", "toronto_arrests"])
def test_clean_bundled_data_stays_under_the_policy_share(params, name):
    raw = read_raw(REPO / params.datasets[name].path)
    finding, details = screen(params, name, raw)
    assert finding.passed and details["flagged_share"] <= 0.001
    verdict = outlier_screen({"findings": [vars(finding)]}, params.policy, "v.json")
    assert verdict.outcome == "pass"


def test_duplicates_are_counted_over_whole_rows_and_not_flagged(params):
    census = read_raw(REPO / params.datasets["census_income"].path)
    _, details = screen(params, "census_income", census)
    assert details["exact_duplicate_rows"] == int(census.duplicated().sum()) == 58
    arrests = read_raw(REPO / params.datasets["toronto_arrests"].path)
    _, details = screen(params, "toronto_arrests", arrests)
    assert details["exact_duplicate_rows"] == 2347 and details["flagged_rows"] == 0
    german = read_raw(GERMAN)
    copied = pd.concat([german, german.head(30)], ignore_index=True)
    finding, details = screen(params, "german_credit", copied)
    assert details["exact_duplicate_rows"] == 30 and finding.passed


def flipped_near_duplicates(raw: pd.DataFrame, share: float, seed: int) -> pd.DataFrame:
    """Copies of real rows, credit amount nudged by 0.4 % so exact de-duplication misses
    them, label flipped."""
    copies = raw.sample(frac=share, random_state=seed).copy()
    nudged = (copies["credit_amount"].astype(int) * 1.004).round().astype(int)
    copies["credit_amount"] = nudged.astype(str)
    copies["credit_risk"] = copies["credit_risk"].map({"1": "2", "2": "1"})
    return pd.concat([raw, copies], ignore_index=True)


def test_five_percent_label_flipped_near_duplicates_fail_the_screen(params):
    raw = read_raw(GERMAN)
    finding, details = screen(params, "german_credit", flipped_near_duplicates(raw, 0.05, 1))
    assert not finding.passed
    assert details["label_flipped_near_duplicate_rows"] == 100, "each copy and its original"
    assert details["exact_duplicate_rows"] == 0
    assert finding.value == pytest.approx(100 / 1050)
    verdict = outlier_screen({"findings": [vars(finding)]}, params.policy, "v.json")
    assert verdict.outcome == "fail" and not verdict.blocking


def test_extreme_values_fail_the_screen_even_in_a_skewed_column(params):
    raw = read_raw(GERMAN)
    rng = np.random.default_rng(5)
    rows = raw.sample(frac=0.06, random_state=2).index
    raw.loc[rows, "credit_amount"] = (rng.uniform(5e6, 5e8, len(rows))).round().astype(str)
    finding, details = screen(params, "german_credit", raw)
    assert not finding.passed
    assert details["extreme_values_by_column"] == {"credit_amount": len(rows)}


def test_zero_inflated_columns_are_screened(params):
    """capital_losses is 0 in about 98 % of census rows (IQR 0), so a plain IQR fence never
    looks at it; the screen takes its quartiles over the non-zero rows. (Poison that outnumbers
    a quarter of those rows moves the quartiles: the documented limit of the fence.)"""
    census = read_raw(REPO / params.datasets["census_income"].path)
    rows = census.sample(60, random_state=3).index
    census.loc[rows, "capital_losses"] = "90000000"
    _, details = screen(params, "census_income", census)
    assert details["extreme_values_by_column"]["capital_losses"] >= 60
