"""Bootstrap loops and per-group tables call scikit-learn's metrics hundreds of times on arrays
that were checked once already; its per-call parameter and finiteness validation then costs
more than the metric. Results are identical (tests/test_performance.py compares them)."""

from __future__ import annotations

from contextlib import AbstractContextManager


def validated_once() -> AbstractContextManager:
    import sklearn

    return sklearn.config_context(skip_parameter_validation=True, assume_finite=True)
