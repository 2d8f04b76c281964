"""The latency gate measures for real: tests hold it to budgets a measurement cannot dodge.

Test projects carry a generous budget (tests/latency_budget.py) so that a loaded machine does not
block the candidates other tests need; these tests make sure the gate itself still measures.
"""

import time

import numpy as np
import pandas as pd

from governance_assets.core.decide.model_gates import latency
from governance_assets.core.evidence.performance import latency_ms
from governance_assets.core.params import load_params

from .conftest import make_project

SLOW_MS = 30


class SlowOnSomeRows:
    """A scorer that sleeps SLOW_MS on rows whose `slow` is 1: a floor no machine beats."""

    def predict_proba(self, row: pd.DataFrame) -> np.ndarray:
        if row["slow"].iloc[0]:
            time.sleep(SLOW_MS / 1000)
        return np.array([[0.5, 0.5]])


def _rows(slow: int, count: int = 100) -> pd.DataFrame:
    return pd.DataFrame({"slow": [1] * slow + [0] * (count - slow)})


def test_the_gate_reads_the_measured_p99_not_the_median(tmp_path):
    """Two slow calls in 100 lift the p99 over the budget and leave the median far under it:
    reading p50, or skipping the measurement, passes a model the policy refuses."""
    measured = latency_ms(SlowOnSomeRows(), _rows(slow=2), count=100, repeats=3)
    assert measured["p99"] >= SLOW_MS * 0.9 and measured["p50"] < SLOW_MS / 3
    policy = load_params(make_project(tmp_path, policy__max_latency_ms=SLOW_MS / 2)).policy
    verdict = latency(measured, policy, "reports/runtime/latency.json")
    assert not verdict.passed and verdict.value == measured["p99"]
    assert latency(latency_ms(SlowOnSomeRows(), _rows(slow=0), count=100, repeats=3),
                   policy, "reports/runtime/latency.json").passed
