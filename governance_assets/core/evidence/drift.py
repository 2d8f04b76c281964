"""Data drift of the current batch against the reference: conventional PSI, beside its noise floor.

The gate uses the credit-scoring PSI: bins fixed by the reference alone (deciles for numbers,
with open outer bins; one bin per category plus one for categories the reference never had),
empty bins floored at 0.0001. evidently's PSI bins numbers on equal-width edges over reference
and current together, so its values move with every batch and are not on the scale of the
0.1 / 0.25 bands; its HTML report is kept as the readable view, with a note saying so.

A PSI also has a sampling floor: two samples of one distribution score above zero, and more
so the smaller they are. Both sides are samples: the reference fixes the bins and the expected
proportions with its own sampling error, the batch adds its own. Each feature's floor is the
95th percentile of the PSI between two resamples of the reference, one of the reference's size
and one of the current batch's size (the two-sample null: both drawn from one distribution);
resampling only the batch against the whole reference would treat the reference as the
population and understate the floor by about a quarter when the batch is a fifth of the
reference. A feature's PSI counts as drift only above its floor, so a many-category column on a
small batch is not flagged by sampling noise alone.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ..files import write_text_atomic
from ..params import DatasetSpec
from ..report.html_safety import inert_evidently_data, with_content_security_policy
from .stable_html import stable_ids

PSI_BANDS = "PSI < 0.1 stable, 0.1-0.25 moderate, > 0.25 significant (credit-scoring convention)"
METHOD = ("PSI = sum (a - e) * ln(a / e) over bins fixed by the reference: deciles for numeric "
          "features (open outer bins), one bin per reference category plus one for unseen "
          "categories; empty-bin proportions floored at 0.0001")
EMPTY_BIN = 1e-4
DECILES = np.linspace(0.1, 0.9, 9)
NOISE_ROUNDS = 200
NOISE_QUANTILE = 0.95
UNSEEN = "__unseen__"


def numeric_edges(reference: pd.Series) -> np.ndarray:
    """Inner decile edges of the reference; ties collapse, so a few-valued column gets fewer."""
    return np.unique(np.quantile(reference.to_numpy(dtype=float), DECILES))


def bin_index(values: pd.Series, reference: pd.Series, numeric: bool) -> tuple[np.ndarray, int]:
    """Each value's bin, and the number of bins, with bins defined by the reference only.

    Numeric bins are (-inf, e1], (e1, e2], ..., (ek, +inf); categorical bins are the reference
    categories in sorted order, then one bin for anything unseen.
    """
    if numeric:
        edges = numeric_edges(reference)
        return np.searchsorted(edges, values.to_numpy(dtype=float), side="left"), len(edges) + 1
    categories = np.array(sorted(reference.astype(str).unique()))
    text = values.astype(str).to_numpy()
    position = np.searchsorted(categories, text)
    known = (position < len(categories)) & (categories[np.minimum(position, len(categories) - 1)]
                                             == text)
    return np.where(known, position, len(categories)), len(categories) + 1


def psi_from_counts(expected_counts: np.ndarray, actual_counts: np.ndarray) -> float:
    """PSI of two samples given as row counts per bin (the same bins, the same order); the
    counts may come from numpy or from SQL over the batch's Parquet (monitor/batch_sql.py)."""
    expected = np.maximum(expected_counts / expected_counts.sum(), EMPTY_BIN)
    actual = np.maximum(actual_counts / actual_counts.sum(), EMPTY_BIN)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def bin_counts(values: pd.Series, reference: pd.Series, numeric: bool) -> np.ndarray:
    """Rows of `values` per bin of the reference's bins."""
    index, bins = bin_index(values, reference, numeric)
    return np.bincount(index, minlength=bins)


def psi(reference: pd.Series, current: pd.Series, numeric: bool) -> float:
    """PSI of one feature, current against reference."""
    return psi_from_counts(bin_counts(reference, reference, numeric),
                           bin_counts(current, reference, numeric))


def noise_floors(reference: pd.DataFrame, columns: dict[str, bool], batch_rows: int,
                 seed: int = 0, rounds: int = NOISE_ROUNDS) -> tuple[dict[str, float], float]:
    """95th percentile of each feature's PSI, and of the largest one, under no drift.

    Two-sample null: each round draws, with replacement, a stand-in for the reference (as many
    rows as it has) and a stand-in for the batch (`batch_rows` rows), both from the reference,
    and scores the second against the first as `psi` would: a categorical column's bins are
    the stand-in reference's categories plus one for the rest. Whole rows are drawn, so the
    largest-feature floor keeps the columns' dependence. A categorical column's population
    also holds categories the reference never saw (Good-Turing: the share of rows whose
    category it saw once, less what resampling already loses); each such draw is a new
    category, so a many-valued column's floor includes the unseen categories a batch brings.
    """
    rng = np.random.default_rng(seed)
    binned = {c: (*bin_index(reference[c], reference[c], numeric), numeric)
              for c, numeric in columns.items()}
    unseen_mass = {c: 0.0 if numeric else _unseen_mass(index, bins)
                   for c, (index, bins, numeric) in binned.items()}
    draws = np.empty((rounds, len(columns)))
    for r in range(rounds):
        # how often each reference row is drawn: one pass per column, no random gather
        drawn = np.bincount(rng.integers(0, len(reference), len(reference)),
                            minlength=len(reference)).astype(float)
        batch = _drawn_rows(rng, len(reference), batch_rows)
        draws[r] = [_null_psi(np.bincount(index, weights=drawn, minlength=bins),
                              batch(index, bins), numeric, unseen_mass[c], rng)
                    for c, (index, bins, numeric) in binned.items()]
    floors = np.quantile(draws, NOISE_QUANTILE, axis=0)
    largest = float(np.quantile(draws.max(axis=1), NOISE_QUANTILE))
    return {c: round(float(v), 6) for c, v in zip(columns, floors, strict=True)}, round(largest, 6)


def multiplicities(rng: np.random.Generator, population: int, draws: int) -> np.ndarray:
    """How often each of `population` rows is drawn in `draws` draws with replacement: one
    multinomial draw, whose cost does not grow with `draws` (a million-row batch)."""
    return rng.multinomial(draws, np.full(population, 1 / population)).astype(float)


def _drawn_rows(rng: np.random.Generator, population: int, draws: int
                ) -> Callable[[np.ndarray, int], np.ndarray]:
    """Bin counts of `draws` rows drawn with replacement from the reference's rows, for any
    column's bin index. Up to the reference's size by drawing row numbers (the floors of every
    batch that size or smaller, and of the drift gate, are those of earlier releases); above
    it by the rows' multiplicities, the same distribution at a cost independent of `draws`."""
    if draws <= population:
        rows = rng.integers(0, population, draws)
        return lambda index, bins: np.bincount(index[rows], minlength=bins)
    times = multiplicities(rng, population, draws)
    return lambda index, bins: np.bincount(index, weights=times, minlength=bins)


def _unseen_mass(index: np.ndarray, bins: int) -> float:
    """The probability of a category the reference never had (Good-Turing: the share of rows
    whose category it saw once), less what resampling already loses: the chance that a
    resampled reference misses a category it had."""
    counts = np.bincount(index, minlength=bins)
    rows = len(index)
    shares = counts[counts > 0] / rows
    lost = float(np.sum(shares * (1 - shares) ** rows))
    return max(0.0, float(np.sum(counts == 1)) / rows - lost)


def _null_psi(expected: np.ndarray, actual: np.ndarray, numeric: bool, unseen_mass: float,
              rng: np.random.Generator) -> float:
    """PSI of one resampled batch against one resampled reference, from their bin counts
    (see noise_floors)."""
    if numeric:   # decile bins with open ends: no value is ever unseen
        return psi_from_counts(expected, actual)
    new_expected = rng.binomial(int(expected.sum()), unseen_mass) if unseen_mass else 0
    new_actual = rng.binomial(int(actual.sum()), unseen_mass) if unseen_mass else 0
    seen = expected > 0
    # Bins of the stand-in reference: its categories (each new one its own), then one bin
    # for the batch's categories it lacks, including every new one the batch drew.
    expected = np.concatenate([expected[seen], np.ones(new_expected), [0]])
    actual = np.concatenate([actual[seen], np.zeros(new_expected),
                             [actual[~seen].sum() + new_actual]])
    return psi_from_counts(expected, actual)


def drift_report(reference: pd.DataFrame, current: pd.DataFrame, spec: DatasetSpec,
                 max_psi: float, max_drifted_share: float, html_path: Path,
                 seed: int = 0, reference_name: str = "train split",
                 html_sample_rows: int | None = None) -> dict:
    """Conventional PSI per model feature with its noise floor; evidently's HTML for people.

    `reference` should be the rows the model was fitted on (train + validation after the
    refit); `reference_name` says in the report which rows they were. The gate's PSI reads
    every row; evidently's view reads at most `html_sample_rows` of each side (seeded), since
    it costs 10 s and a gigabyte at 150,000 rows a side and decides nothing.
    """
    numeric = [c for c in spec.model_features if c in spec.numeric_columns]
    categorical = [c for c in spec.model_features if c in spec.categorical_columns]
    columns = {**{c: True for c in numeric}, **{c: False for c in categorical}}
    values = {c: psi(reference[c], current[c], is_numeric) for c, is_numeric in columns.items()}
    floors, largest_floor = noise_floors(reference, columns, len(current), seed)
    above_floor = {c: value for c, value in values.items() if value > floors[c]}
    drifted = sorted(c for c, value in above_floor.items() if value > max_psi)
    noise_only = sorted(c for c, value in values.items() if max_psi < value <= floors[c])
    worst = max(values, key=values.get)
    worst_beyond = max(above_floor, key=above_floor.get) if above_floor else None
    shown_reference, shown_current = (_at_most(frame, html_sample_rows, seed)
                                      for frame in (reference, current))
    _evidently_html(shown_reference, shown_current, numeric, categorical, max_psi,
                    max_drifted_share, html_path)
    sampled = len(shown_reference) < len(reference) or len(shown_current) < len(current)
    return {
        "method": "psi",
        "psi_method": METHOD,
        "interpretation": PSI_BANDS,
        "reference": reference_name,
        "reference_rows": len(reference),
        "current_rows": len(current),
        "psi": {c: round(values[c], 6) for c in columns},
        "psi_noise_floor": floors,
        "noise_floor_method": (f"{NOISE_QUANTILE:.0%} quantile of the PSI over {NOISE_ROUNDS} "
                               "rounds of two resamples of the reference (two-sample null: "
                               f"{len(reference)} rows standing for the reference, "
                               f"{len(current)} for the current batch; categories the "
                               "reference never saw by Good-Turing)"),
        "above_noise_floor": sorted(above_floor),
        "max_psi": round(values[worst], 6),
        "max_psi_feature": worst,
        "max_psi_noise_floor": largest_floor,
        # The drift gates judge only PSI that sampling noise cannot explain.
        "max_psi_above_noise_floor": round(above_floor[worst_beyond], 6) if worst_beyond else 0.0,
        "max_psi_above_noise_floor_feature": worst_beyond,
        "drifted_rule": "PSI above policy.max_psi and above the feature's noise floor",
        "drifted_features": drifted,
        "above_max_psi_within_noise_floor": noise_only,
        "drifted_share": round(len(drifted) / len(columns), 6),
        "html_note": "evidently's HTML report is the readable view; its PSI uses other bins "
                     "and is not the value the gates used",
        **({"sampling": {"html_reference_rows": len(shown_reference),
                         "html_current_rows": len(shown_current),
                         "params_key": "evaluation.drift_html_sample_rows",
                         "rule": f"evidently's HTML view reads a seeded sample (seed {seed}) "
                                 "of each side; the PSI, noise floors and gates read every "
                                 "row"}} if sampled else {}),
    }


def _at_most(frame: pd.DataFrame, rows: int | None, seed: int) -> pd.DataFrame:
    """The frame, or a seeded sample of `rows` of it in the original order."""
    if rows is None or len(frame) <= rows:
        return frame
    return frame.sample(n=rows, random_state=seed).sort_index()


def _evidently_html(reference: pd.DataFrame, current: pd.DataFrame, numeric: list[str],
                    categorical: list[str], max_psi: float, max_drifted_share: float,
                    html_path: Path) -> None:
    """evidently's report, with a banner saying which PSI the gate used: its data made inert,
    its random ids made stable (so the same report gives the same bytes), then its CSP."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    columns = numeric + categorical
    report = Report([DataDriftPreset(columns=columns, method="psi", threshold=max_psi,
                                     drift_share=max_drifted_share)])
    snapshot = report.run(Dataset.from_pandas(current[columns], data_definition=definition),
                          Dataset.from_pandas(reference[columns], data_definition=definition))
    banner = ("<div style=\"padding:12px;background:#fff3cd;font-family:sans-serif\">"
              "<b>Which PSI the gate used.</b> The drift gates read reports/drift.json: "
              f"{METHOD}, each beside its noise floor for this batch size. The PSI values "
              "below are evidently's (equal-width bins over reference and current together) "
              "and are shown for reading only.</div>")
    page = inert_evidently_data(snapshot.get_html_str(as_iframe=False))
    page = stable_ids(page.replace("<body>", "<body>" + banner, 1))
    html_path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(html_path, with_content_security_policy(page))
