"""Each dataset-spec feature on a small real file: what params can now say, and what it catches."""

import gzip

import numpy as np
import pandas as pd
import pytest

from governance_assets.core.data.columns import FAVOURABLE, MISSING_CATEGORY, PERIOD
from governance_assets.core.data.raw_files import DataError, read_raw
from governance_assets.core.data.validation import validate
from governance_assets.core.params import DatasetSpec, ParamsError, load_params
from governance_assets.core.report.dataset_description import datasheet_status, describe_dataset

from .conftest import GERMAN, REPO, make_project, params_of, set_params

ARRESTS = REPO / "data" / "raw" / "toronto_arrests.csv"


@pytest.fixture
def params(tmp_path):
    return params_of(make_project(tmp_path))


def arrests_spec(params, **changes) -> DatasetSpec:
    spec = params.datasets["toronto_arrests"].model_dump(exclude_none=True)
    spec.update(changes)
    return DatasetSpec.model_validate(spec)


def arrests(rows: int = 600) -> pd.DataFrame:
    return read_raw(ARRESTS).head(rows)


def failed(report, gate="schema"):
    return [f.message for f in report.failures(gate)]


def test_label_mapping_folds_many_raw_values_into_two_outcomes(params):
    """`checks` (0-6 police databases) as a target: 0-1 favourable, 2-6 unfavourable."""
    spec = arrests_spec(params, target="checks", numeric_columns=["age"],
                        label_mapping={"favourable": [0, 1],
                                       "unfavourable": [2, 3, 4, 5, 6]})
    raw = arrests()
    frame, report = validate(raw, spec, params.policy, "arrests.csv")
    assert report.valid
    assert frame[FAVOURABLE].sum() == raw["checks"].isin(["0", "1"]).sum()
    raw.loc[7, "checks"] = "9"
    frame, report = validate(raw, spec, params.policy, "arrests.csv")
    assert frame is None
    [message] = failed(report, "labels")
    assert "column 'checks' rule known_label" in message and "'9' at line 9" in message


def test_label_mapping_must_not_overlap_or_mix_with_labels(params):
    with pytest.raises(ValueError, match="both favourable and unfavourable"):
        arrests_spec(params, label_mapping={"favourable": ["Yes"], "unfavourable": ["Yes"]})
    with pytest.raises(ValueError, match="not both"):
        arrests_spec(params, labels=["Yes", "No"], favourable_label="Yes")


def test_row_filters_drop_documented_rows_and_keep_file_line_numbers(params):
    spec = arrests_spec(params, row_filters=[
        {"column": "age", "op": "between", "value": [16, 60], "why": "adult-court ages"},
        {"column": "citizen", "op": "==", "value": "Yes", "why": "citizens only"}])
    raw = arrests()
    expected = raw[raw["age"].astype(int).between(16, 60) & raw["citizen"].eq("Yes")]
    frame, report = validate(raw, spec, params.policy, "arrests.csv")
    assert len(frame) == len(expected) == report.rows_used
    assert [f["rows_removed"] for f in report.row_filters] == [
        int((~raw["age"].astype(int).between(16, 60)).sum()),
        int((raw["age"].astype(int).between(16, 60) & raw["citizen"].ne("Yes")).sum())]
    assert "citizens only" in report.row_filters[1]["filter"]
    kept_line = int(expected.index[-1])
    raw.loc[kept_line, "checks"] = "many"
    _, report = validate(raw, spec, params.policy, "arrests.csv")
    assert f"first 'many' at line {kept_line + 2}" in failed(report)[0]


def test_row_filter_operator_needs_a_fitting_value():
    with pytest.raises(ValueError, match="'between' needs"):
        DatasetSpec.model_validate({**_minimal(), "row_filters": [
            {"column": "age", "op": "between", "value": 3, "why": "x"}]})


def _minimal() -> dict:
    return {"path": "x.csv", "datasheet": "d.md", "license": "x", "intended_use": "x",
            "target": "y", "labels": ["1", "0"], "favourable_label": "1",
            "numeric_columns": ["age"], "categorical_columns": ["g"],
            "sensitive_features": ["g"]}


def test_numeric_missing_code_fails_by_default_and_drops_rows_on_request(params, german):
    german.loc[[3, 8], "credit_amount"] = "99999"
    spec = params.active.model_copy(update={"missing_codes": {"credit_amount": ["99999"]}})
    frame, report = validate(german, spec, params.policy, "german.csv")
    assert frame is None
    assert failed(report) == ["german.csv: column 'credit_amount' rule no_missing: 2 missing "
                              "value(s), first at line 5 (set missing_numeric: drop_row to "
                              "drop such rows)"]
    dropping = spec.model_copy(update={"missing_numeric": "drop_row"})
    frame, report = validate(german, dropping, params.policy, "german.csv")
    assert len(frame) == 998 and report.row_filters[-1]["rows_removed"] == 2


def test_missing_code_given_as_a_number_in_yaml_matches_the_text(tmp_path):
    make_project(tmp_path)
    set_params(tmp_path, datasets__german_credit__missing_codes={"credit_amount": [99999],
                                                                  "purpose": ["A410"]},
               datasets__german_credit__missing_numeric="drop_row")
    params = load_params(tmp_path)
    german = read_raw(GERMAN)
    german.loc[0, "credit_amount"] = "99999.0"
    frame, report = validate(german, params.active, params.policy, "german.csv")
    assert len(frame) == 999
    assert (frame["purpose"] == MISSING_CATEGORY).sum() == (german["purpose"] == "A410").sum() - (
        german.loc[0, "purpose"] == "A410")


def test_unknown_missing_code_column_is_a_params_error(tmp_path):
    make_project(tmp_path, datasets__german_credit__missing_codes={"no_such": ["?"]})
    with pytest.raises(ParamsError, match="'no_such' is not a numeric or categorical column"):
        load_params(tmp_path)


def test_time_split_by_value_list_range_and_cutoff(params):
    raw = arrests(3000)
    years = raw["year"].astype(int)
    later = int((years >= 2001).sum())
    ways = {
        "values": {"column": "year", "reference": [1997, 1998, 1999, 2000],
                   "current": [2001, 2002]},
        "cutoff": {"column": "year", "cutoff": 2001},
        "ranges": {"column": "year", "reference_range": {"end": "2001"},
                   "current_range": {"start": "2001", "end": "2003"}},
    }
    for name, time in ways.items():
        frame, report = validate(raw, arrests_spec(params, time=time), params.policy, "a.csv")
        assert (frame[PERIOD] == "current").sum() == later, name
        assert report.periods["rows_in_neither"] == 0, name


def test_time_split_by_date_range_with_rows_outside_both(params):
    raw = arrests(3000)
    raw["arrested_on"] = raw["year"] + "-06-30"
    time = {"column": "arrested_on", "reference_range": {"start": "1998-01-01",
                                                          "end": "2000-01-01"},
            "current_range": {"start": "2001-01-01"}}
    frame, report = validate(raw, arrests_spec(params, time=time), params.policy, "a.csv")
    years = raw["year"].astype(int)
    assert report.periods["reference_rows"] == int(years.isin([1998, 1999]).sum())
    assert report.periods["rows_in_neither"] == int(years.isin([1997, 2000]).sum())
    raw.loc[5, "arrested_on"] = "soon"
    _, report = validate(raw, arrests_spec(params, time=time), params.policy, "a.csv")
    assert "column 'arrested_on' rule time_periods: 1 value(s) not a date or number, first " \
           "'soon' at line 7" in failed(report)[0]


def test_empty_period_is_named(params):
    time = {"column": "year", "reference": ["1997"], "current": ["2031"]}
    _, report = validate(arrests(), arrests_spec(params, time=time), params.policy, "a.csv")
    assert "no rows in the current period" in failed(report)[0]


def test_parquet_reads_like_csv(params, tmp_path):
    path = tmp_path / "arrests.parquet"
    frame = pd.read_csv(ARRESTS)
    frame.to_parquet(path)
    spec = arrests_spec(params)
    from_parquet, report = validate(read_raw(path), spec, params.policy, "arrests.parquet")
    from_csv, _ = validate(read_raw(ARRESTS), spec, params.policy, "arrests.csv")
    assert report.valid
    pd.testing.assert_frame_equal(from_parquet, from_csv)
    frame.loc[3, "age"] = np.nan
    frame.to_parquet(path)
    _, report = validate(read_raw(path), spec, params.policy, "arrests.parquet")
    assert "first at row 4" in failed(report)[0]


def test_numeric_column_declared_categorical_is_an_error_with_the_fix(params, german):
    spec = params.active.model_copy(update={
        "numeric_columns": [c for c in params.active.numeric_columns if c != "credit_amount"],
        "categorical_columns": [*params.active.categorical_columns, "credit_amount"]})
    frame, report = validate(german, spec, params.policy, "german.csv")
    assert frame is None
    [message] = failed(report)
    assert "column 'credit_amount' rule categorical_type: declared categorical but every " \
           "value is a number, with 921 distinct values" in message
    assert "move it to numeric_columns" in message


def test_code_columns_with_few_numeric_codes_stay_categorical(tmp_path):
    census = params_of(make_project(tmp_path)).datasets["census_income"]
    raw = read_raw(REPO / census.path).head(3000)
    _, report = validate(raw, census, params_of(tmp_path).policy, "census")
    assert not failed(report), "detailed_industry_recode: 52 numeric codes, none rare"


@pytest.mark.parametrize("value", ["inf", "-inf", "1e300", "2e12"])
def test_infinite_or_absurd_numbers_fail_the_numeric_rule(params, german, value):
    german.loc[9, "duration_in_month"] = value
    frame, report = validate(german, params.active, params.policy, "german.csv")
    assert frame is None
    assert failed(report) == [f"german.csv: column 'duration_in_month' rule numeric: 1 value(s) "
                              f"not finite or beyond +-1e+12, first {value!r} at line 11"]


def test_unreadable_csv_raises_data_error_naming_file_and_line(tmp_path):
    bad = tmp_path / "bad.csv"
    lines = GERMAN.read_text().splitlines()
    lines[5] += ",extra,fields"
    bad.write_text("\n".join(lines))
    with pytest.raises(DataError, match=r"bad.csv: not a readable CSV table: .*line 6"):
        read_raw(bad)


def test_binary_or_wrong_encoding_raises_data_error(tmp_path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes("a,b\n1,2\n3,Mü\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin.csv: not UTF-8 text at line 3, column 4"):
        read_raw(latin)
    packed = tmp_path / "packed.csv.gz"
    packed.write_bytes(gzip.compress(b"a,b\n\xff\xfe,1\n"))
    with pytest.raises(DataError, match="line 2, column 1"):
        read_raw(packed)
    fake = tmp_path / "fake.parquet"
    fake.write_text("not parquet")
    with pytest.raises(DataError, match="fake.parquet: not a readable Parquet file"):
        read_raw(fake)
    with pytest.raises(DataError, match="file not found"):
        read_raw(tmp_path / "absent.csv")


def test_datasheet_is_checked_and_the_description_states_outcomes_and_groups(tmp_path):
    params = params_of(make_project(tmp_path))
    german = params.active
    assert datasheet_status(tmp_path, german)["exists"] is True
    (tmp_path / german.datasheet).unlink()
    status = datasheet_status(tmp_path, german)
    assert status["exists"] is False and status["sha256"] is None
    assert status["finding"] == "datasheet data/DATASHEET_german_credit.md is missing or empty"
    description = describe_dataset(german)
    assert (description["target"], description["favourable_labels"],
            description["unfavourable_labels"]) == ("credit_risk", ["1"], ["2"])
    assert description["groups"]["sex"] == ("from column 'personal_status_and_sex' by code "
                                            "mapping: male <- A91, A93, A94; female <- A92, A95")
