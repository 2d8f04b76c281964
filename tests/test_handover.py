"""The input check's validated rows held for the prepare stage of the same process
(core/data/handover.py): taken only under the binding prepare computes, only if they passed,
and once. That the check's child becomes prepare, and only prepare, is tested through the
stage server in tests/test_dvc.py."""

from __future__ import annotations

import pandas as pd
import pytest

from governance_assets.core.data import handover

BINDING = {"data_version": "a" * 32, "validation_inputs": "b" * 64}


@pytest.fixture
def frame():
    yield pd.DataFrame({"age": [31, 45], "sex": pd.Categorical(["female", "male"])})
    handover.take(BINDING)   # nothing held leaks into the next test


def test_the_rows_are_taken_as_held_once(frame):
    handover.hold(frame, {"rows": 2, "valid": True, "binding": BINDING})
    assert handover.holding()
    taken = handover.take(BINDING)
    assert taken is not None and taken.frame is frame and taken.record["rows"] == 2
    assert not handover.holding() and handover.take(BINDING) is None, "released once taken"


@pytest.mark.parametrize("binding", [{**BINDING, "data_version": "c" * 32},
                                     {**BINDING, "validation_inputs": "d" * 64}])
def test_rows_validated_under_another_binding_are_refused_and_released(frame, binding):
    handover.hold(frame, {"rows": 2, "valid": True, "binding": BINDING})
    assert handover.take(binding) is None
    assert handover.take(BINDING) is None, "refused rows are not kept for a later take"


def test_nothing_is_taken_when_nothing_was_held():
    assert not handover.holding() and handover.take(BINDING) is None


def test_a_record_that_did_not_pass_is_not_taken(frame):
    handover.hold(frame, {"rows": 2, "valid": False, "binding": BINDING})
    assert handover.take(BINDING) is None
