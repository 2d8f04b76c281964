"""The input check's validated rows handed to the prepare stage (core/data/handover.py): taken
only as written, under the binding prepare computes, and once."""

from __future__ import annotations

import pandas as pd
import pytest

from governance_assets.core.data import handover
from governance_assets.core.layout import Layout

BINDING = {"data_version": "a" * 32, "validation_inputs": "b" * 64}


@pytest.fixture
def handed(tmp_path):
    layout = Layout(tmp_path)
    frame = pd.DataFrame({"age": [31, 45], "sex": pd.Categorical(["female", "male"])})
    env = handover.hand_over(layout, frame, {"rows": 2, "valid": True, "binding": BINDING})
    return layout, frame, env[handover.ENV]


def test_the_rows_are_taken_byte_for_byte_once(handed):
    layout, frame, token = handed
    taken = handover.take(layout, BINDING, token)
    assert taken is not None and taken.record["rows"] == 2
    assert taken.rows == frame.to_parquet(index=False)
    assert handover.take(layout, BINDING, token) is None, "removed once taken"


@pytest.mark.parametrize("binding", [{**BINDING, "data_version": "c" * 32},
                                     {**BINDING, "validation_inputs": "d" * 64}])
def test_rows_validated_under_another_binding_are_not_taken(handed, binding):
    layout, _, token = handed
    assert handover.take(layout, binding, token) is None


@pytest.mark.parametrize("name", [handover.ROWS, handover.RECORD])
def test_a_file_changed_after_the_check_is_not_taken(handed, name):
    layout, _, token = handed
    path = handover.folder(layout) / name
    path.write_bytes(path.read_bytes() + b" ")
    assert handover.take(layout, BINDING, token) is None


def test_nothing_is_taken_without_the_runs_token(handed):
    layout, _, _ = handed
    assert handover.take(layout, BINDING, None) is None
    assert handover.take(layout, BINDING, "0" * 64 + ":" + "0" * 64) is None


def test_a_record_that_did_not_pass_is_not_taken(tmp_path):
    layout = Layout(tmp_path)
    env = handover.hand_over(layout, pd.DataFrame({"age": [1]}),
                             {"rows": 1, "valid": False, "binding": BINDING})
    assert handover.take(layout, BINDING, env[handover.ENV]) is None
