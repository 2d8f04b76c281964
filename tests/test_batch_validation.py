"""One validator for the training data and every batch: a batch breaking a rule the training
data obeys is refused with the very message the training data would get (file, column, rule);
what a batch does not owe (labels, group minimums, periods, whole-dataset screens) is an option
of that validator."""

import numpy as np
import pandas as pd
import pytest

from governance_assets.core.data import validation
from governance_assets.core.data.columns import FAVOURABLE, ROW_ID

from .conftest import make_project, params_of

FILE = "data/batches/german_credit/b.csv"


@pytest.fixture
def params(tmp_path):
    return params_of(make_project(tmp_path))


def refusals(frame: pd.DataFrame, params, expect, rule: str) -> list[str]:
    typed, report = validation.validate(frame, params.active, params.policy, FILE, expect)
    assert typed is None, "the file is refused"
    return [f.message for f in report.findings if not f.passed and f.rule == rule]


def both_ways(frame: pd.DataFrame, params, rule: str) -> tuple[list[str], list[str]]:
    return (refusals(frame, params, validation.TRAINING, rule),
            refusals(frame, params, validation.BATCH, rule))


def test_undeclared_category_code_is_refused_as_the_training_data_is(params, german):
    # kills: a batch path that skips add_derived's known_code rule, or words it otherwise
    german.loc[[4, 9], "personal_status_and_sex"] = "A99"
    training, batch = both_ways(german, params, "known_code")
    assert batch == training == [f"{FILE}: column 'personal_status_and_sex' rule known_code: "
                                 "code(s) ['A99'] have no mapping to 'sex'"]


def test_numbers_in_a_categorical_column_are_refused_as_the_training_data_is(params, german):
    # kills: skipping check_categorical for batches (the old batch path did)
    german["purpose"] = [str(1000 + i) for i in range(len(german))]
    training, batch = both_ways(german, params, "categorical_type")
    assert batch == training and len(batch) == 1
    assert batch[0].startswith(f"{FILE}: column 'purpose' rule categorical_type: declared "
                               "categorical but every value is a number")


def test_personal_data_column_is_refused_as_the_training_data_is(params, german):
    # kills: skipping the personal-data screen for batches (the old batch path did)
    german["contact"] = [f"applicant{i}@example.org" for i in range(len(german))]
    training, batch = both_ways(german, params, "email")
    assert batch == training and len(batch) == 1
    assert batch[0].startswith(f"{FILE}: column 'contact' rule personal_data: 1000 value(s) "
                               "matching email")


def test_a_key_in_disguise_the_schema_does_not_know_is_refused_in_a_small_batch(params, german):
    # kills: exempting every column of a batch from the near-unique rule
    batch = german.head(40).assign(application=[f"K-{i:05d}" for i in range(40)])
    [message] = refusals(batch, params, validation.BATCH, "near_unique")
    assert message.startswith(f"{FILE}: column 'application' rule personal_data: near-unique")


def test_a_small_sample_of_the_schema_is_not_a_key_in_disguise(params, german):
    # kills: applying the whole-dataset near-unique rule to the schema's columns in a batch
    # (credit_amount: distinct share 0.92 on 1,000 rows, 1.0 on these 40)
    sample = german.head(40)
    assert sample["credit_amount"].nunique() == 40
    frame, report = validation.validate(sample, params.active, params.policy, FILE,
                                        validation.BATCH)
    assert frame is not None, [f.message for f in report.findings if not f.passed]


def test_a_batch_owes_no_labels_group_minimums_or_constant_inputs(params, german):
    # kills: requiring the target, both classes, group sizes or non-constant inputs of a batch
    batch = german.head(30).copy()
    batch["status_of_existing_checking_account"] = "A11"          # drift, not a broken extract
    batch["credit_risk"] = ["1", ""] * 15                            # half not labelled yet
    frame, report = validation.validate(batch, params.active, params.policy, FILE,
                                        validation.BATCH)
    assert frame is not None, [f.message for f in report.findings if not f.passed]
    assert frame[FAVOURABLE].isna().sum() == 15 and frame[FAVOURABLE].sum() == 15
    unlabelled = batch.drop(columns="credit_risk")
    frame, _ = validation.validate(unlabelled, params.active, params.policy, FILE,
                                   validation.BATCH)
    assert frame is not None and FAVOURABLE not in frame.columns
    for rule in ("min_group_size", "not_constant", "both_classes"):
        assert refusals(batch, params, validation.TRAINING, rule), rule


def test_an_undeclared_label_in_a_batch_is_refused_naming_its_line(params, german):
    batch = german.head(30).copy()
    batch.loc[[3, 5], "credit_risk"] = ["", "7"]
    [message] = refusals(batch, params, validation.BATCH, "known_label")
    assert message == (f"{FILE}: column 'credit_risk' rule known_label: 1 value(s) outside "
                       "['1', '2'], first '7' at line 7")


def test_batch_rows_keep_their_position_in_the_file(tmp_path, german):
    # kills: numbering a batch's kept rows 0..n-1 (the decision log addresses file positions)
    params = params_of(make_project(tmp_path, datasets__german_credit__row_filters=[
        {"column": "duration_in_month", "op": "<=", "value": 24,
         "why": "short loans only (a test of row positions)"}]))
    batch = german.head(50)
    frame, _ = validation.validate(batch, params.active, params.policy, FILE, validation.BATCH)
    kept = np.flatnonzero(batch["duration_in_month"].astype(int) <= 24)
    assert 0 < len(kept) < 50
    assert frame[ROW_ID].tolist() == kept.tolist()


def test_a_piece_the_row_filters_empty_adds_no_rows_and_refuses_nothing(tmp_path, german):
    """Read in pieces of 10 rows, the first piece all long loans the filter drops: the batch
    keeps the other pieces' rows at their file positions; a batch whose every row is dropped
    is refused by the rule row_filters. Mutation killed: a filtered-out piece treated as a
    refusal (a batch refused for rows the documented cleaning removes)."""
    from governance_assets.core.monitor import batch_stream

    params = params_of(make_project(tmp_path / "p", datasets__german_credit__row_filters=[
        {"column": "duration_in_month", "op": "<=", "value": 24,
         "why": "short loans only (a test of pieces)"}]))
    batch = german.head(40).copy()
    batch.loc[:9, "duration_in_month"] = "48"
    path = tmp_path / "b.csv"
    batch.to_csv(path, index=False)
    validated = batch_stream.validate_in_pieces(path, params.active, params.policy, FILE, 10,
                                                tmp_path / "staging")
    assert validated.refusal is None
    rows = pd.concat([pd.read_parquet(p) for p in validated.pieces])
    kept = np.flatnonzero(batch["duration_in_month"].astype(int) <= 24)
    assert rows[ROW_ID].tolist() == kept.tolist() and kept[0] >= 10
    assert validated.report["rows"] == 40 and validated.report["rows_used"] == len(kept)

    batch["duration_in_month"] = "48"
    batch.to_csv(path, index=False)
    refused = batch_stream.validate_in_pieces(path, params.active, params.policy, FILE, 10,
                                              tmp_path / "staging")
    assert "rule row_filters: every row was removed by row_filters" in refused.refusal
    assert not (tmp_path / "staging").exists()
