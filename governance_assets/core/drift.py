"""Data drift of the current batch against the reference: conventional PSI, beside its noise floor.

The gate uses the credit-scoring PSI: bins fixed by the reference alone (deciles for numbers,
with open outer bins; one bin per category plus one for categories the reference never had),
empty bins floored at 0.0001. evidently's PSI bins numbers on equal-width edges over reference
and current together, so its values move with every batch and are not on the scale of the
0.1 / 0.25 bands; its HTML report is kept as the readable view, with a note saying so.

A PSI also has a sampling floor: a batch drawn from the reference itself scores above zero,
and more so the smaller it is. Each feature's floor is the 95th percentile of the PSI of
reference resamples of the current batch's size, so a reader sees whether a value could be
noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .params import DatasetSpec

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


def psi_from_bins(expected_bins: np.ndarray, actual_bins: np.ndarray, bins: int) -> float:
    """PSI of two samples already assigned to the same bins."""
    expected = np.maximum(np.bincount(expected_bins, minlength=bins) / len(expected_bins),
                          EMPTY_BIN)
    actual = np.maximum(np.bincount(actual_bins, minlength=bins) / len(actual_bins), EMPTY_BIN)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def psi(reference: pd.Series, current: pd.Series, numeric: bool) -> float:
    """PSI of one feature, current against reference."""
    expected, bins = bin_index(reference, reference, numeric)
    actual, _ = bin_index(current, reference, numeric)
    return psi_from_bins(expected, actual, bins)


def noise_floors(reference: pd.DataFrame, columns: dict[str, bool], batch_rows: int,
                 seed: int = 0, rounds: int = NOISE_ROUNDS) -> tuple[dict[str, float], float]:
    """95th percentile of each feature's PSI, and of the largest one, under no drift.

    Each round draws `batch_rows` reference rows (with replacement, so it works for any batch
    size) and scores them against the whole reference with the reference's own bins.
    """
    rng = np.random.default_rng(seed)
    binned = {c: bin_index(reference[c], reference[c], numeric)
              for c, numeric in columns.items()}
    draws = np.empty((rounds, len(columns)))
    for r in range(rounds):
        rows = rng.integers(0, len(reference), batch_rows)
        draws[r] = [psi_from_bins(index, index[rows], bins) for index, bins in binned.values()]
    floors = np.quantile(draws, NOISE_QUANTILE, axis=0)
    largest = float(np.quantile(draws.max(axis=1), NOISE_QUANTILE))
    return {c: round(float(v), 6) for c, v in zip(columns, floors, strict=True)}, round(largest, 6)


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
    drifted = sorted(c for c, value in values.items() if value > max_psi)
    worst = max(values, key=values.get)
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
        "noise_floor_method": (f"{NOISE_QUANTILE:.0%} quantile of the PSI of {NOISE_ROUNDS} "
                               f"reference resamples of {len(current)} rows (the current "
                               "batch size) against the reference"),
        "above_noise_floor": sorted(c for c in columns if values[c] > floors[c]),
        "max_psi": round(values[worst], 6),
        "max_psi_feature": worst,
        "max_psi_noise_floor": largest_floor,
        "drifted_features": drifted,
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
    """evidently's report, with a banner saying which PSI the gate used."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    columns = numeric + categorical
    report = Report([DataDriftPreset(columns=columns, method="psi", threshold=max_psi,
                                     drift_share=max_drifted_share)])
    snapshot = report.run(Dataset.from_pandas(current[columns], data_definition=definition),
                          Dataset.from_pandas(reference[columns], data_definition=definition))
    html_path.parent.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(html_path))
    banner = ("<div style=\"padding:12px;background:#fff3cd;font-family:sans-serif\">"
              "<b>Which PSI the gate used.</b> The drift gates read reports/drift.json: "
              f"{METHOD}, each beside its noise floor for this batch size. The PSI values "
              "below are evidently's (equal-width bins over reference and current together) "
              "and are shown for reading only.</div>")
    text = html_path.read_text(encoding="utf-8")
    html_path.write_text(text.replace("<body>", "<body>" + banner, 1), encoding="utf-8")
