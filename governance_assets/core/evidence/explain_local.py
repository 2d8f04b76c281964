"""Local explanations a reviewer can read: a few decisions of each outcome in each group, each
explained by SHAP and by LIME, and how far the two methods agree on it.

Two methods that rank a decision's features alike make either explanation more credible; where
they disagree, neither should be quoted alone. SHAP values are in the explainer's output units
(log-odds or probability) and LIME's weights are a local linear fit of the probability, so the
agreement compares which features lead and their order, never magnitudes.
"""

from __future__ import annotations

from itertools import islice

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from .explain import Attribution, RawCodec

FAVOURABLE, UNFAVOURABLE = "favourable", "unfavourable"
TOP_K = 5


def choose_decisions(groups: pd.DataFrame, favourable: np.ndarray, per_cell: int, limit: int
                     ) -> list[int]:
    """Positions of rows so that each (attribute, group, outcome) cell holds `per_cell` of them
    where it has that many. A row counts for every cell it belongs to, so one female applicant
    under 25 covers two cells; rows are taken in the frame's (seeded, shuffled) order."""
    chosen: list[int] = []
    for attribute in groups.columns:
        column = groups[attribute].astype(str).to_numpy()
        for group in sorted(set(column)):
            for outcome in (True, False):
                cell = np.flatnonzero((column == group) & (favourable == outcome))
                wanted = min(per_cell - int(np.isin(cell, chosen).sum()), limit - len(chosen))
                taken = set(chosen)
                chosen += list(islice((int(p) for p in cell if p not in taken), max(wanted, 0)))
    return chosen


def lime_weights(model, background: pd.DataFrame, rows: pd.DataFrame, seed: int, samples: int
                 ) -> pd.DataFrame:
    """LIME's weight of every raw feature for the favourable class, per row: its tabular
    explainer samples around each row from the background's statistics (seeded)."""
    from lime.lime_tabular import LimeTabularExplainer

    codec = RawCodec.fit([background, rows])
    explainer = LimeTabularExplainer(
        codec.encode(background), mode="classification", feature_names=codec.features,
        categorical_features=[codec.features.index(c) for c in codec.levels],
        discretize_continuous=True, random_state=seed)

    def probabilities(array: np.ndarray) -> np.ndarray:
        return model.predict_proba(codec.decode(array))

    weights = np.zeros((len(rows), len(codec.features)))
    for position, coded in enumerate(codec.encode(rows)):
        explanation = explainer.explain_instance(coded, probabilities, labels=(1,),
                                                 num_features=len(codec.features),
                                                 num_samples=samples)
        for feature, weight in explanation.as_map()[1]:
            weights[position, feature] = weight
    return pd.DataFrame(weights, columns=codec.features, index=rows.index)


def agreement(shap_row: pd.Series, lime_row: pd.Series, top_k: int = TOP_K) -> dict:
    """Share of SHAP's top-k features (by |value|) that LIME also ranks top-k, and the Spearman
    rank correlation of the two signed attributions over all features (None when undefined)."""
    k = min(top_k, len(shap_row))
    top_shap = set(shap_row.abs().sort_values(ascending=False, kind="stable").index[:k])
    top_lime = set(lime_row.abs().sort_values(ascending=False, kind="stable").index[:k])
    rho = spearmanr(shap_row.to_numpy(), lime_row[shap_row.index].to_numpy()).statistic
    return {"top_k_overlap": round(len(top_shap & top_lime) / k, 6),
            "spearman": None if np.isnan(rho) else round(float(rho), 6)}


def _display(value: object) -> str | float | None:
    """A raw value as JSON keeps it: numbers rounded, categories as text, missing as null."""
    if pd.isna(value):
        return None
    if isinstance(value, int | float | np.number):
        return round(float(value), 6)
    return str(value)


def decision_entries(rows: pd.DataFrame, row_ids: pd.Series, groups: pd.DataFrame,
                     scores: np.ndarray, threshold: float, attribution: Attribution,
                     lime: pd.DataFrame, top: int = TOP_K
                     ) -> list[dict]:
    """One JSON entry per explained decision: who, what was decided, and why by both methods."""
    entries = []
    for position, index in enumerate(rows.index):
        shap_row, lime_row = attribution.values.loc[index], lime.loc[index]
        leading = shap_row.abs().sort_values(ascending=False, kind="stable").index[:top]
        entries.append({
            "row_id": int(row_ids.loc[index]),
            "groups": {name: str(groups.loc[index, name]) for name in groups.columns},
            "prediction": FAVOURABLE if scores[position] >= threshold else UNFAVOURABLE,
            "score": round(float(scores[position]), 6),
            "shap_base_value": round(float(attribution.base_values.loc[index]), 6),
            "top_features": [{"feature": name, "value": _display(rows.loc[index, name]),
                              "shap": round(float(shap_row[name]), 6),
                              "lime": round(float(lime_row[name]), 6)} for name in leading],
            "agreement": agreement(shap_row, lime_row),
        })
    return entries


def agreement_summary(entries: list[dict], samples: int) -> dict:
    """Medians over the explained decisions, with what was compared."""
    overlaps = [e["agreement"]["top_k_overlap"] for e in entries]
    rhos = [e["agreement"]["spearman"] for e in entries if e["agreement"]["spearman"] is not None]
    return {
        "decisions": len(entries),
        "top_k": TOP_K,
        "median_top_k_overlap": round(float(np.median(overlaps)), 6) if overlaps else None,
        "median_spearman": round(float(np.median(rhos)), 6) if rhos else None,
        "lime_samples": samples,
        "method": "top-k: share of SHAP's k largest |values| that are among LIME's k largest; "
                  "spearman: rank correlation of the signed SHAP values and LIME weights over "
                  "all features. Orders are compared, not magnitudes (different units).",
    }
