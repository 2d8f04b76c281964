"""The operating threshold, chosen on validation instead of assumed at 0.5.

At a fixed 0.5 on German credit (70 % favourable), a forest approves 195 of 200 applicants:
every fairness band is met by approving everyone, and the refusal rate among defaulters is
5 %. The tuner scores each threshold of a fixed grid on the validation split and keeps the one
with the highest balanced accuracy among those that meet every threshold-dependent floor and
band (decision quality, disparate impact, equalized odds). Ties keep the threshold nearest
`model.decision_threshold`. It is vectorized over the grid (one boolean matrix), so a trial
pays milliseconds for it, and it uses the same group rules as core.fairness (a group's
selection rate needs min_group_size rows; TPR and FPR need min_rate_denominator positives or
negatives), so the trial's own check at the chosen threshold agrees with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GRID = np.round(np.arange(0.02, 0.9801, 0.01), 2)


@dataclass(frozen=True)
class Floors:
    """What a threshold must meet on validation; None = not a constraint."""

    min_balanced_accuracy: float
    min_adverse_refusal_rate: float
    min_favourable_approval_rate: float
    min_disparate_impact: float | None
    max_equalized_odds_difference: float | None
    min_group_size: int
    min_rate_denominator: int
    fallback: float


@dataclass(frozen=True)
class OperatingPoint:
    threshold: float
    met_every_floor: bool
    thresholds_meeting_floors: int

    def to_dict(self) -> dict:
        return {"threshold": self.threshold, "met_every_floor": self.met_every_floor,
                "grid": f"{GRID[0]:g}-{GRID[-1]:g} step 0.01 ({len(GRID)} thresholds)",
                "thresholds_meeting_floors": self.thresholds_meeting_floors}


def _mean_over(approved: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return approved[:, mask].mean(axis=1) if mask.any() else np.full(len(approved), np.nan)


def _spread(rates: list[np.ndarray]) -> np.ndarray:
    if len(rates) < 2:
        return np.full(len(GRID), np.nan)
    stacked = np.vstack(rates)
    return stacked.max(axis=0) - stacked.min(axis=0)


def _group_figures(approved: np.ndarray, y: np.ndarray, groups: np.ndarray, floors: Floors
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Per threshold: the lowest selection-rate ratio and the equalized-odds gap."""
    selection, tpr, fpr = [], [], []
    for group in np.unique(groups):
        member = groups == group
        positives, negatives = member & (y == 1), member & (y == 0)
        if member.sum() >= floors.min_group_size:
            selection.append(_mean_over(approved, member))
        if positives.sum() >= floors.min_rate_denominator:
            tpr.append(_mean_over(approved, positives))
        if negatives.sum() >= floors.min_rate_denominator:
            fpr.append(_mean_over(approved, negatives))
    if len(selection) >= 2:
        rates = np.vstack(selection)
        top = rates.max(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(top > 0, rates.min(axis=0) / top, np.nan)
    else:
        ratio = np.full(len(GRID), np.nan)
    tpr_gap, fpr_gap = _spread(tpr), _spread(fpr)
    return ratio, np.fmax(tpr_gap, fpr_gap)


def _meets_bands(approved: np.ndarray, y: np.ndarray, groups: dict[str, np.ndarray],
                 floors: Floors) -> np.ndarray:
    ok = np.ones(len(GRID), dtype=bool)
    for values in groups.values():
        ratio, gap = _group_figures(approved, y, values, floors)
        if floors.min_disparate_impact is not None:
            ok &= np.nan_to_num(ratio, nan=-1.0) >= floors.min_disparate_impact
        if floors.max_equalized_odds_difference is not None:
            ok &= np.nan_to_num(gap, nan=2.0) <= floors.max_equalized_odds_difference
    return ok


def tune(y: np.ndarray, scores: np.ndarray, groups: dict[str, np.ndarray], floors: Floors
         ) -> OperatingPoint:
    """The grid threshold with the best balanced accuracy among those meeting every floor;
    with none meeting them, the best balanced accuracy (the trial's checks then say why)."""
    y = np.asarray(y).astype(int)
    approved = np.asarray(scores)[None, :] >= GRID[:, None]
    approval = _mean_over(approved, y == 1)
    refusal = 1.0 - _mean_over(approved, y == 0)
    balanced = (approval + refusal) / 2
    ok = ((balanced >= floors.min_balanced_accuracy)
          & (refusal >= floors.min_adverse_refusal_rate)
          & (approval >= floors.min_favourable_approval_rate)
          & _meets_bands(approved, y, groups, floors))
    pool = np.flatnonzero(ok) if ok.any() else np.arange(len(GRID))
    best = max(pool, key=lambda i: (round(float(balanced[i]), 9),
                                    -abs(float(GRID[i]) - floors.fallback)))
    return OperatingPoint(float(GRID[best]), bool(ok.any()), int(ok.sum()))
