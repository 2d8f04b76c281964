"""Counterfactual flip test on the golden set: does a decision change when only the
sensitive attribute (and, by policy, its proxies) changes?

Each row's attribute columns are replaced by those of a seeded random row of every other group
and the row is re-scored; a row flips when any of those swaps changes its decision. The columns
swapped are the ones the model reads that carry the attribute: the attribute itself when it is a
model input (a mitigator reading it at decision time), or the raw column it is derived from
(age for an age band). A model that reads none of them cannot flip, which is reported as such;
the proxy swap then shows how much of the attribute reaches the model indirectly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.columns import input_columns, model_inputs
from ..params import DatasetSpec


def attribute_columns(attribute: str, spec: DatasetSpec, inputs: list[str]) -> list[str]:
    """Model inputs that are the attribute or the raw column it is derived from."""
    derived = spec.derived.get(attribute)
    carriers = {attribute} | ({derived.source} if derived is not None else set())
    return [c for c in inputs if c in carriers]


def _decisions(model, rows: pd.DataFrame, threshold: float) -> np.ndarray:
    return model.predict_proba(model_inputs(model, rows))[:, 1] >= threshold


def flip_rate(model, rows: pd.DataFrame, groups: pd.Series, columns: list[str],
              threshold: float, seed: int, decided: np.ndarray | None = None) -> dict:
    """Share of rows whose decision changes when `columns` take another group's values;
    `decided` is the rows' own decisions when the caller has them already."""
    if not columns:
        return {"rate": 0.0, "rows": len(rows), "by_group": {}, "swapped_columns": []}
    rows, labels = rows.reset_index(drop=True), groups.astype(str).reset_index(drop=True)
    decided = _decisions(model, rows, threshold) if decided is None else decided
    flipped = np.zeros(len(rows), dtype=bool)
    rng = np.random.default_rng(seed)
    for group in sorted(labels.unique()):
        donors = np.flatnonzero(labels.to_numpy() == group)
        others = np.flatnonzero(labels.to_numpy() != group)
        if not len(others):
            continue
        swapped = rows.iloc[others].copy()
        chosen = rows.iloc[rng.choice(donors, size=len(others))]
        swapped[columns] = chosen[columns].to_numpy()
        changed = _decisions(model, swapped, threshold) != decided[others]
        flipped[others] |= changed
    by_group = {g: round(float(flipped[(labels == g).to_numpy()].mean()), 6)
                for g in sorted(labels.unique())}
    return {"rate": round(float(flipped.mean()), 6), "rows": len(rows), "by_group": by_group,
            "swapped_columns": columns}


def flip_report(model, golden: pd.DataFrame, spec: DatasetSpec, proxies: dict[str, list[str]],
                threshold: float, seed: int, max_rows: int | None = None) -> dict:
    """Per sensitive attribute: flips from the attribute alone and with its proxies."""
    inputs = input_columns(model)
    if max_rows is not None and len(golden) > max_rows:
        golden = golden.sample(max_rows, random_state=seed)
    decided = _decisions(model, golden, threshold)  # once: every swap compares against it
    result = {}
    for attribute in spec.sensitive_features:
        direct = attribute_columns(attribute, spec, inputs)
        indirect = [c for c in proxies.get(attribute, []) if c in inputs and c not in direct]
        alone = flip_rate(model, golden, golden[attribute], direct, threshold, seed, decided)
        with_proxies = alone if not indirect else flip_rate(
            model, golden, golden[attribute], direct + indirect, threshold, seed, decided)
        note = ("" if direct else f"the model never reads {attribute} or a column it is "
                f"derived from, so changing it alone cannot change a decision (0 by "
                f"construction); the proxy swap moves {', '.join(indirect) or 'nothing'}")
        result[attribute] = {"model_reads_attribute": bool(direct), "attribute": alone,
                             "attribute_and_proxies": with_proxies, "proxies": indirect,
                             "note": note}
    return {"method": "each row's attribute columns replaced by those of a seeded random row "
                      "of every other group; a row flips when any swap changes its decision",
            "decision_threshold": threshold, "seed": seed, "rows": len(golden),
            "attributes": result}
