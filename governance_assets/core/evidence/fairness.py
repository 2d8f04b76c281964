"""Group fairness with fairlearn on the golden test set: rates, ratios and gaps per sensitive
attribute and per intersection, each with a seeded bootstrap interval.

Every rate rests on its own denominator: rows for the selection rate, positives (favourable
true outcome) for TPR and FNR, negatives for FPR, predicted-favourable rows for precision. A
rate whose denominator is below the policy's minimum is null with the reason, never a number:
fairlearn returns 0.0 for the TPR of a group without positives, which would read as "never
approves the qualified". Ratios and gaps are computed only over defined rates, and each
statistic lists the groups it had to leave out.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from itertools import combinations

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    count,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import precision_score

from ..report.dataset_description import ORIENTATION
from .sklearn_speed import validated_once

GROUP_METRICS = {
    "count": count,
    "selection_rate": selection_rate,
    "true_positive_rate": true_positive_rate,
    "false_positive_rate": false_positive_rate,
    "false_negative_rate": false_negative_rate,
    "precision": partial(precision_score, zero_division=0),
}
RATES = [name for name in GROUP_METRICS if name != "count"]
# What each rate is conditioned on, i.e. the rows its denominator counts.
DENOMINATOR = {"selection_rate": "rows", "true_positive_rate": "positives",
               "false_negative_rate": "positives", "false_positive_rate": "negatives",
               "precision": "predicted_favourable"}
# The rates each gated statistic needs, per group.
STATISTIC_RATES = {
    "disparate_impact_ratio_min": ["selection_rate"],
    "disparate_impact_ratio_max": ["selection_rate"],
    "demographic_parity_difference": ["selection_rate"],
    "equalized_odds_difference": ["true_positive_rate", "false_positive_rate"],
    "equal_opportunity_difference": ["true_positive_rate"],
}
SUMMARIES = tuple(STATISTIC_RATES)
# The same confusion counts read with the adverse outcome as "positive", as published audits
# do (a recidivism or default-risk tool: false positive = flagged high risk among those whose
# true outcome was favourable, e.g. did not reoffend / repaid). Each rate: its numerator and
# denominator cells (tp/fp/fn/tn in the project's favourable orientation), and which
# denominator minimum applies.
ADVERSE_ORIENTATION = (
    "positive = the adverse outcome (flagged: predicted unfavourable; truly adverse: the "
    "unfavourable label). flagged_rate = P(predicted unfavourable); false_positive_rate = "
    "P(flagged | truly favourable) = FNR of the favourable orientation; false_negative_rate = "
    "P(not flagged | truly adverse) = FPR of the favourable orientation; true_positive_rate = "
    "P(flagged | truly adverse) = 1 - FPR; precision = P(truly adverse | flagged)")
ADVERSE_RATES = {
    "flagged_rate": (("tn", "fn"), "rows"),
    "true_positive_rate": (("tn",), "negatives"),
    "false_positive_rate": (("fn",), "positives"),
    "false_negative_rate": (("fp",), "negatives"),
    "precision": (("tn",), "predicted_unfavourable"),
}
INTERSECTION = " × "
HIGHEST_RATE, LARGEST_GROUP = "highest_rate", "largest_group"


# Above this many rows a bootstrap resample is drawn as cell counts (_confusion_counts).
COUNTS_BOOTSTRAP_ROWS = 100_000


@dataclass(frozen=True)
class FairnessSettings:
    """What the report is computed under; every field is a params key the verdicts bind to."""

    min_group_size: int
    min_rate_denominator: int = 1
    # highest_rate: the EEOC four-fifths reference; largest_group: a two-sided ratio policy.
    reference: str = HIGHEST_RATE
    bootstrap_rounds: int = 0
    confidence: float = 0.95
    seed: int = 0


# Group rates keep 12 digits: an auditor's table recomputed from the same rows must match
# them to 1e-9 (tests/test_external.py); ratios and gaps keep 6.
RATE_DIGITS = 12


def _clean(value: float | None, digits: int = 6) -> float | None:
    return None if value is None or np.isnan(value) else round(float(value), digits)


def _minimums(settings: FairnessSettings) -> dict[str, int]:
    """The selection rate needs min_group_size rows; conditional rates their own minimum."""
    return {"rows": settings.min_group_size, "positives": settings.min_rate_denominator,
            "negatives": settings.min_rate_denominator,
            "predicted_favourable": settings.min_rate_denominator}


def group_rates(y: pd.Series, predicted: pd.Series, groups: pd.Series,
                settings: FairnessSettings) -> dict[str, dict]:
    """Per group: counts, each rate or null, and why a null rate is undefined.

    fairlearn's MetricFrame computes the rates from one row per (group, outcome, decision)
    cell weighted by its row count: the same rates as from the rows (integer counts summed
    exactly), at a cost independent of the rows. MetricFrame on the rows stacks every value
    one by one (22 s per attribute on a 1,000,000-row batch).
    """
    cells = _confusion_cells(y, predicted, groups.astype(str))
    weighted = _weighted_cells(cells)
    rates_only = {name: GROUP_METRICS[name] for name in RATES}
    with validated_once():
        frame = MetricFrame(metrics=rates_only, y_true=weighted["y"], y_pred=weighted["predicted"],
                            sensitive_features=weighted["group"],
                            sample_params={name: {"sample_weight": weighted["rows"]}
                                           for name in RATES})
    minimum = _minimums(settings)
    result = {}
    for group, row in frame.by_group.iterrows():
        counted = cells[str(group)]
        n = {"rows": sum(counted.values()), "positives": counted["tp"] + counted["fn"],
             "predicted_favourable": counted["tp"] + counted["fp"]}
        n["negatives"] = n["rows"] - n["positives"]
        rates, undefined = {}, {}
        for rate in RATES:
            basis = DENOMINATOR[rate]
            if n[basis] < minimum[basis]:
                rates[rate] = None
                undefined[rate] = (f"{n[basis]} {basis} < minimum {minimum[basis]}"
                                   if n[basis] else f"no {basis}: undefined")
            else:
                rates[rate] = _clean(row[rate], RATE_DIGITS)
        result[str(group)] = {"count": n["rows"], "positives": n["positives"],
                              "negatives": n["negatives"], **rates, "undefined": undefined,
                              "adverse_outcome": _adverse_rates(counted, n, minimum)}
    return result


# The confusion cell each (outcome, decision) pair falls in, favourable as positive.
CELL_OUTCOMES = {"tp": (1, 1), "fp": (0, 1), "fn": (1, 0), "tn": (0, 0)}


def _confusion_cells(y: pd.Series, predicted: pd.Series, labels: pd.Series
                     ) -> dict[str, dict[str, int]]:
    """Per group: tp, fp, fn, tn with the favourable outcome as positive."""
    truth, decision = y.to_numpy() == 1, predicted.to_numpy() == 1
    frame = pd.DataFrame({"tp": truth & decision, "fp": ~truth & decision,
                          "fn": truth & ~decision, "tn": ~truth & ~decision})
    sums = frame.groupby(labels.to_numpy()).sum()
    return {str(g): {k: int(v) for k, v in row.items()} for g, row in sums.iterrows()}


def _weighted_cells(cells: dict[str, dict[str, int]]) -> pd.DataFrame:
    """One row per non-empty cell of each group: its outcome, decision and row count."""
    rows = [(group, truth, decision, counted[cell])
            for group, counted in cells.items()
            for cell, (truth, decision) in CELL_OUTCOMES.items() if counted[cell]]
    return pd.DataFrame(rows, columns=["group", "y", "predicted", "rows"])


def _adverse_rates(cells: dict[str, int], n: dict[str, int], minimum: dict[str, int]) -> dict:
    """The group's rates in the adverse-outcome orientation (ADVERSE_ORIENTATION), each null
    below the same denominator minimum as its favourable-orientation twin."""
    basis = {**n, "predicted_unfavourable": cells["tn"] + cells["fn"]}
    floor = {**minimum, "predicted_unfavourable": minimum["predicted_favourable"]}
    rates = {}
    for rate, (numerator, denominator) in ADVERSE_RATES.items():
        enough = basis[denominator] >= floor[denominator] and basis[denominator] > 0
        rates[rate] = (round(sum(cells[c] for c in numerator) / basis[denominator],
                             RATE_DIGITS)
                       if enough else None)
    return {**rates, "flagged": cells["tn"] + cells["fn"], "truly_adverse": n["negatives"],
            "truly_favourable": n["positives"]}


def _reference_group(by_group: dict[str, dict], reference: str) -> str | None:
    defined = {g: r for g, r in by_group.items() if r["selection_rate"] is not None}
    if not defined:
        return None
    if reference == LARGEST_GROUP:
        return max(defined, key=lambda g: (defined[g]["count"], g))
    return max(defined, key=lambda g: (defined[g]["selection_rate"], g))


def _spread(groups: dict[str, dict], rate: str) -> tuple[float | None, str]:
    """Largest minus smallest defined rate, and which groups those are."""
    values = {g: r[rate] for g, r in groups.items() if r[rate] is not None}
    if len(values) < 2:
        return None, ""
    high, low = max(values, key=values.get), min(values, key=values.get)
    where = f"{high} {values[high]:.3f} vs {low} {values[low]:.3f}"
    return round(values[high] - values[low], 6), where


def _left_out(groups: dict[str, dict], statistic: str) -> list[str]:
    return [name for name, g in groups.items()
            if any(g[rate] is None for rate in STATISTIC_RATES[statistic])]


def _summaries(by_group: dict[str, dict], reference: str | None) -> dict:
    ratios = {g: r["disparate_impact_ratio"] for g, r in by_group.items()
              if r["disparate_impact_ratio"] is not None}
    tpr_gap, tpr_where = _spread(by_group, "true_positive_rate")
    fpr_gap, fpr_where = _spread(by_group, "false_positive_rate")
    sr_gap, sr_where = _spread(by_group, "selection_rate")
    enough = len(ratios) >= 2
    low = min(ratios, key=ratios.get) if enough else None
    high = max(ratios, key=ratios.get) if enough else None
    odds = (max(tpr_gap, fpr_gap) if tpr_gap is not None and fpr_gap is not None else None)
    odds_where = (f"TPR {tpr_where}" if odds is not None and tpr_gap >= fpr_gap
                  else f"FPR {fpr_where}" if odds is not None else "")
    return {
        "reference_group": reference,
        "disparate_impact_ratio_min": ratios[low] if low else None,
        "disparate_impact_ratio_max": ratios[high] if high else None,
        "demographic_parity_difference": sr_gap,
        "equalized_odds_difference": odds,
        "equal_opportunity_difference": tpr_gap,
        "worst": {"disparate_impact_ratio_min": low or "", "disparate_impact_ratio_max":
                  high or "", "demographic_parity_difference": sr_where,
                  "equalized_odds_difference": odds_where,
                  "equal_opportunity_difference": tpr_where},
    }


def feature_fairness(y: pd.Series, predicted: pd.Series, groups: pd.Series,
                     min_group_size: int, min_rate_denominator: int = 1,
                     settings: FairnessSettings | None = None) -> dict:
    """Rates per group and, over the groups where they are defined, ratios and gaps."""
    settings = settings or FairnessSettings(min_group_size, min_rate_denominator)
    by_group = group_rates(y, predicted, groups, settings)
    reference = _reference_group(by_group, settings.reference)
    top = by_group[reference]["selection_rate"] if reference else None
    for group in by_group.values():
        rate = group["selection_rate"]
        group["disparate_impact_ratio"] = _clean(rate / top) if rate is not None and top else None
        group["sufficient"] = group["count"] >= settings.min_group_size
    result = {
        "groups": by_group,
        **_summaries(by_group, reference),
        "insufficient_groups": [g for g, r in by_group.items() if not r["sufficient"]],
        "left_out": {statistic: _left_out(by_group, statistic) for statistic in STATISTIC_RATES},
    }
    if settings.bootstrap_rounds:
        result["intervals"] = bootstrap_intervals(y, predicted, groups, result, settings)
    return result


def _confusion_counts(y: np.ndarray, predicted: np.ndarray, codes: np.ndarray, n_groups: int,
                      rounds: int, seed: int) -> np.ndarray:
    """Per resample and group: [TN, FP, FN, TP]; one bincount per resample keeps it linear.

    Above COUNTS_BOOTSTRAP_ROWS rows (a production batch of millions), a resample's cell
    counts are one multinomial draw over the cells' shares: the same distribution as
    resampling the rows, at a cost independent of the row count. Evaluation sets stay below
    it, so their intervals are those of earlier releases.
    """
    rng = np.random.default_rng(seed)
    cells = codes * 4 + y * 2 + predicted
    if len(cells) > COUNTS_BOOTSTRAP_ROWS:
        shares = np.bincount(cells, minlength=n_groups * 4) / len(cells)
        return rng.multinomial(len(cells), shares, size=rounds).reshape(
            rounds, n_groups, 4).astype(float)
    counts = np.empty((rounds, n_groups, 4))
    for r in range(rounds):
        sample = cells[rng.integers(0, len(cells), len(cells))]
        counts[r] = np.bincount(sample, minlength=n_groups * 4).reshape(n_groups, 4)
    return counts


def _resampled_rates(counts: np.ndarray) -> dict[str, np.ndarray]:
    tn, fp, fn, tp = (counts[..., i] for i in range(4))
    with np.errstate(divide="ignore", invalid="ignore"):
        return {"selection_rate": (fp + tp) / (tn + fp + fn + tp),
                "true_positive_rate": tp / (tp + fn), "false_positive_rate": fp / (fp + tn),
                "false_negative_rate": fn / (tp + fn), "precision": tp / (tp + fp)}


def _range(values: np.ndarray) -> np.ndarray:
    enough = np.sum(~np.isnan(values), axis=1) >= 2
    with np.errstate(all="ignore"):
        spread = np.nanmax(values, axis=1) - np.nanmin(values, axis=1)
    return np.where(enough, spread, np.nan)


def _resampled_summaries(rates: dict[str, np.ndarray], reference: int | None,
                         highest: bool) -> dict[str, np.ndarray]:
    sr = rates["selection_rate"]
    with np.errstate(all="ignore"):
        top = np.nanmax(sr, axis=1) if highest else sr[:, reference]
        ratio = sr / top[:, None]
    enough = np.sum(~np.isnan(ratio), axis=1) >= 2
    tpr, fpr = _range(rates["true_positive_rate"]), _range(rates["false_positive_rate"])
    with np.errstate(all="ignore"):
        return {"disparate_impact_ratio_min": np.where(enough, np.nanmin(ratio, axis=1), np.nan),
                "disparate_impact_ratio_max": np.where(enough, np.nanmax(ratio, axis=1), np.nan),
                "demographic_parity_difference": _range(sr),
                "equalized_odds_difference": np.maximum(tpr, fpr),
                "equal_opportunity_difference": tpr}


def _interval(values: np.ndarray, confidence: float) -> dict:
    defined = values[~np.isnan(values)]
    if not len(defined):
        return {"ci": None, "resamples": 0}
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(defined, [tail, 100 - tail])
    return {"ci": [round(float(low), 6), round(float(high), 6)], "resamples": int(len(defined))}


def bootstrap_intervals(y: pd.Series, predicted: pd.Series, groups: pd.Series, point: dict,
                        settings: FairnessSettings) -> dict:
    """Percentile intervals of every group rate and summary over seeded row resamples.

    The groups and rates a resample may use are those defined on the full golden set, so an
    interval describes the same statistic as its point estimate. fairlearn's MetricFrame
    bootstrap (`n_boot`) cannot mask undefined rates per resample and recomputes through
    pandas each round; confusion counts from one bincount per resample give the same rates.
    """
    labels = groups.astype(str).reset_index(drop=True)
    names = list(point["groups"])
    codes = labels.map({g: i for i, g in enumerate(names)}).to_numpy()
    counts = _confusion_counts(np.asarray(y, dtype=int), np.asarray(predicted, dtype=int), codes,
                               len(names), settings.bootstrap_rounds, settings.seed)
    rates = _resampled_rates(counts)
    for rate, values in rates.items():
        defined = np.array([point["groups"][g][rate] is not None for g in names])
        values[:, ~defined] = np.nan
    reference = point["reference_group"]
    summaries = _resampled_summaries(rates, names.index(reference) if reference else None,
                                     settings.reference == HIGHEST_RATE)
    confidence = settings.confidence
    return {
        "method": f"percentile bootstrap, {settings.bootstrap_rounds} resamples of the golden "
                  f"rows, seed {settings.seed}, {confidence:.0%} level",
        "groups": {g: {rate: _interval(rates[rate][:, i], confidence)["ci"] for rate in RATES}
                   for i, g in enumerate(names)},
        "summaries": {key: _interval(values, confidence) for key, values in summaries.items()},
    }


def groupings(sensitive: pd.DataFrame, intersections: list[list[str]]) -> dict[str, pd.Series]:
    """Each sensitive attribute, then each requested intersection as 'a × b' = 'x/y' labels."""
    result = {name: sensitive[name].astype(str) for name in sensitive.columns}
    for members in intersections:
        labels = sensitive[members[0]].astype(str)
        for member in members[1:]:
            labels = labels + "/" + sensitive[member].astype(str)
        result[INTERSECTION.join(members)] = labels
    return result


def resolve_intersections(requested: str | list[list[str]], attributes: list[str]
                          ) -> list[list[str]]:
    """params `fairness.intersections`: all_pairs, none, or explicit lists of attributes."""
    if requested == "all_pairs":
        return [list(pair) for pair in combinations(attributes, 2)]
    if requested == "none":
        return []
    unknown = sorted({a for members in requested for a in members} - set(attributes))
    if unknown:
        raise ValueError(f"fairness.intersections names {unknown}, which are not sensitive "
                         f"features {attributes}")
    return [list(members) for members in requested]


def fairness_report(y: pd.Series, predicted: pd.Series, sensitive: pd.DataFrame,
                    min_group_size: int, min_rate_denominator: int = 1,
                    intersections: list[list[str]] | None = None,
                    settings: FairnessSettings | None = None) -> dict:
    settings = settings or FairnessSettings(min_group_size, min_rate_denominator)
    crossed = intersections or []
    by_name = groupings(sensitive, crossed)
    compute = {name: feature_fairness(y, predicted, labels, settings.min_group_size,
                                      settings.min_rate_denominator, settings)
               for name, labels in by_name.items()}
    single = set(sensitive.columns)
    return {
        "favourable_outcome": "prediction = favourable label",
        "orientation": ORIENTATION,
        # Each group's rates are in the favourable orientation (the keys beside "count");
        # its "adverse_outcome" block holds the same counts read as auditors publish them.
        "orientations": {"favourable_outcome": ORIENTATION,
                         "adverse_outcome": ADVERSE_ORIENTATION},
        "min_group_size": settings.min_group_size,
        "min_rate_denominator": settings.min_rate_denominator,
        "disparate_impact_reference": settings.reference,
        # The trivial-parity screen reads it (fairness_gates.trivially_satisfied).
        "overall": {"rows": int(len(y)), "selection_rate": _clean(float(np.mean(predicted)))},
        "features": {name: result for name, result in compute.items() if name in single},
        "intersections": {name: {"members": members, **compute[INTERSECTION.join(members)]}
                          for members in crossed
                          for name in [INTERSECTION.join(members)]},
    }
