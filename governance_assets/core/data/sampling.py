"""What every heavy step read: all rows, or a capped seeded sample, and the params key that set it.

The card's `sampling` section. At 1,000 rows no cap bites; at 300,000 the search, the
explanations, the flip test, the proxy screen, latency and evidently's view each read a
bounded sample so their cost stays flat while the rows grow, and a reviewer must see which
figures rest on a sample and which on every row (the gates' PSI, the fairness rates and their
bootstrap, the golden metrics).
"""

from __future__ import annotations

from ..report import markdown


def _row(step: str, available: int, used: int, key: str, note: str = "") -> dict:
    return {"step": step, "rows_available": available, "rows_used": used,
            "sampled": used < available, "params_key": key, "note": note}


def card_section(params, splits: dict, search: dict, drift: dict) -> list[dict]:
    """One row per bounded step; the rows it could have read and the rows it read."""
    train, golden = splits.get("train", 0), splits.get("golden_test", 0)
    refit = train + splits.get("validation", 0)
    searched = search.get("sampling") or {}
    shown = drift.get("sampling") or {}
    explain, fairness, evaluation = params.explain, params.fairness, params.evaluation
    rows = [
        _row("search: rows each trial fits on", train, searched.get("fitted_on_rows", train),
             "model.search.train_sample_rows",
             "champion refit on every train + validation row"),
        _row("explanations: golden rows behind global SHAP", golden,
             min(explain.sample_rows, golden), "explain.sample_rows"),
        _row("explanations: background rows", train, min(explain.background_rows, train),
             "explain.background_rows"),
        _row("counterfactual flip test: golden rows re-scored", golden,
             min(fairness.flip_test_rows, golden), "fairness.flip_test_rows"),
        _row("proxy screen: train rows", train, min(fairness.proxy_sample_rows, train),
             "fairness.proxy_sample_rows"),
        _row("latency: single-row calls per pass", golden,
             min(evaluation.latency_rows, golden), "evaluation.latency_rows"),
        _row("evidently HTML view: reference rows", refit,
             shown.get("html_reference_rows", refit), "evaluation.drift_html_sample_rows",
             "the drift gates' PSI reads every row"),
    ]
    not_sampled = ("golden metrics and their bootstrap, fairness rates and their bootstrap, "
                   "drift PSI and noise floors, robustness: every golden, reference and "
                   "current row")
    return rows + [{"step": "not sampled", "rows_available": None, "rows_used": None,
                    "sampled": False, "params_key": None, "note": not_sampled}]


def render_markdown(rows: list[dict]) -> str:
    """The card's table: what was sampled, from how many rows, by which key."""
    table = markdown.table(
        ["step", "rows available", "rows used", "sampled", "params key"],
        [[r["step"], r["rows_available"], r["rows_used"], "yes" if r["sampled"] else "no",
          r["params_key"] or ""] for r in rows if r["params_key"]])
    rest = next((r["note"] for r in rows if r["params_key"] is None), "")
    return f"## Sampling\n\n{table}\n\nNot sampled: {rest}.\n"
