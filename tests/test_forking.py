"""core/forking.py: a forked process's return value, its exception, or its death, here."""

from __future__ import annotations

import os

import pytest

from governance_assets.core.forking import ChildFailed, run_forked


def test_the_return_value_comes_back_from_another_process():
    assert run_forked(lambda: (os.getpid(), {}))[0] != os.getpid()
    assert run_forked(lambda: (2, {"rows": [1, 2]})) == [
        2, {"rows": [1, 2]}]


def _raise() -> None:
    raise KeyError("census_income_full")


def test_an_exception_comes_back_with_its_traceback():
    with pytest.raises(ChildFailed, match=r"KeyError: 'census_income_full'"):
        run_forked(_raise)


def test_a_process_that_dies_without_answering_is_a_failure():
    with pytest.raises(ChildFailed, match="exit code 5"):
        run_forked(lambda: os._exit(5))


def test_what_the_forked_process_prints_is_not_lost(capfd):
    run_forked(lambda: print("error: data/raw/german_credit.csv: column 'credit_amount'"))
    assert capfd.readouterr().out == "error: data/raw/german_credit.csv: column 'credit_amount'\n"
