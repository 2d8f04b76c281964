"""The batch disparate-impact ratio as the evaluation gates carry it: per-rate sufficiency and a
seeded bootstrap interval, both from core/evidence/fairness.py, judged against monitoring's
WARN/ERROR levels.

A group whose selection rate rests on fewer than policy.min_group_size rows is insufficient
evidence: named with the reason, left out of the ratio, never a breach. A breach (ERROR, and
with it the automatic rollback) needs the whole interval below the ERROR level. The evaluation
gates are asymmetric the other way (a point estimate under the threshold fails, whatever the
interval): promotion needs evidence that the model is fair; an unattended rollback of a version
that had that evidence needs evidence that it is not. A point estimate below the level whose
interval straddles it is a WARN that says so: on a 400-row batch the under-25 group holds some
60 rows, and its selection rate alone moves the ratio by about 0.1 between resamples.
"""

from __future__ import annotations

import pandas as pd

from ..evidence import fairness as evidence
from ..params import DatasetSpec, Policy
from ..params.evidence import FairnessSpec
from ..params.monitoring import LowerLevels
from .levels import ERROR, NOT_MEASURED, OK, SEVERITY, WARN

KEY = "disparate_impact_ratio_min"
RULE = ("ERROR (a fairness breach) only when the bootstrap interval of the lowest disparate "
        "impact ratio lies wholly below monitoring.disparate_impact.error; WARN when the point "
        "estimate is below monitoring.disparate_impact.warn; groups below "
        "policy.min_group_size rows are insufficient evidence, left out and named")


def settings(policy: Policy, spec: FairnessSpec, seed: int) -> evidence.FairnessSettings:
    """The golden-set report's sufficiency minimums and bootstrap, with ratios against the
    highest-rate group (the four-fifths reference) as monitoring has always taken them."""
    return evidence.FairnessSettings(policy.min_group_size, policy.min_rate_denominator,
                                     evidence.HIGHEST_RATE, spec.bootstrap_rounds,
                                     spec.confidence, seed)


def judge(value: float | None, interval: list[float] | None, levels: LowerLevels
          ) -> tuple[str, str]:
    """The level of one lowest ratio and why: ERROR needs the interval clear of the level."""
    if value is None:
        return NOT_MEASURED, "fewer than two groups with enough rows"
    shown = f"DIR {value:.3g}" + (f" [{interval[0]:.3g}, {interval[1]:.3g}]" if interval else "")
    if value >= levels.warn:
        return OK, f"{shown} at or above the warn level {levels.warn:g}"
    if value < levels.error and interval is None:
        return ERROR, f"{shown} below the error level {levels.error:g} (no interval: " \
                      "fairness.bootstrap_rounds is 0, the point estimate decides)"
    if value < levels.error and interval[1] < levels.error:
        return ERROR, f"{shown}: the whole interval is below the error level {levels.error:g}"
    if value < levels.error:
        return WARN, (f"{shown} below the error level {levels.error:g}, but the interval "
                      "straddles it: not a breach at this batch size")
    return WARN, f"{shown} below the warn level {levels.warn:g}"


def attribute_fairness(groups: pd.Series, favourable: pd.Series, card_ratio: float | None,
                       fairness_settings: evidence.FairnessSettings, levels: LowerLevels
                       ) -> dict:
    """One sensitive attribute: each group's selection rate, the lowest ratio, its interval."""
    # The selection rate reads only the decisions; feature_fairness needs a y_true too.
    result = evidence.feature_fairness(favourable, favourable, groups,
                                       fairness_settings.min_group_size,
                                       fairness_settings.min_rate_denominator, fairness_settings)
    by_group = result["groups"]
    value = result[KEY]
    interval = result.get("intervals", {}).get("summaries", {}).get(KEY, {}).get("ci")
    level, why = judge(value, interval if value is not None else None, levels)
    insufficient = {g: r["undefined"]["selection_rate"] for g, r in by_group.items()
                    if r["selection_rate"] is None}
    return {
        # every group's rate, as before; those of insufficient groups are not judged
        "selection_rates": {str(g): round(float(r), 6)
                            for g, r in favourable.groupby(groups).mean().items()},
        "rows": {g: r["count"] for g, r in by_group.items()},
        KEY: value, "interval": interval, "worst_group": result["worst"][KEY] or None,
        "card_disparate_impact_ratio_min": card_ratio,
        "left_out": sorted(insufficient),
        "insufficient_groups": insufficient,
        "level": level, "why": why + _insufficient_note(insufficient, fairness_settings)}


def _insufficient_note(insufficient: dict[str, str],
                       fairness_settings: evidence.FairnessSettings) -> str:
    if not insufficient:
        return ""
    named = "; ".join(f"{group}: {reason}" for group, reason in sorted(insufficient.items()))
    return (f"; insufficient evidence, left out (policy.min_group_size "
            f"{fairness_settings.min_group_size}): {named}")


def batch_fairness(batch: pd.DataFrame, spec: DatasetSpec, favourable: pd.Series,
                   baseline: dict[str, float | None],
                   fairness_settings: evidence.FairnessSettings, levels: LowerLevels) -> dict:
    """The lowest disparate impact ratio per sensitive attribute, its interval and level; the
    attribute with the worst level (then the lowest ratio) speaks for the batch."""
    favourable = favourable.reset_index(drop=True)
    by_attribute = {name: attribute_fairness(batch[name].astype(str).reset_index(drop=True),
                                             favourable, baseline.get(name), fairness_settings,
                                             levels)
                    for name in spec.sensitive_features}
    measured = {n: r for n, r in by_attribute.items() if r[KEY] is not None}
    if not measured:
        return {"attributes": by_attribute, KEY: None, "interval": None, "worst_attribute": None,
                "level": NOT_MEASURED, "why": "insufficient evidence: " + "; ".join(
                    f"{n}: {r['why']}" for n, r in by_attribute.items()),
                **_method(fairness_settings, levels)}
    worst = max(measured, key=lambda n: (SEVERITY[measured[n]["level"]], -measured[n][KEY]))
    return {"attributes": by_attribute, KEY: min(r[KEY] for r in measured.values()),
            "interval": measured[worst]["interval"], "worst_attribute": worst,
            "level": measured[worst]["level"],
            "why": "; ".join([f"{worst}: {measured[worst]['why']}",
                              *(f"{n}: {r['why']}" for n, r in by_attribute.items()
                                if n != worst and (r["insufficient_groups"] or r[KEY] is None))]),
            **_method(fairness_settings, levels)}


def _method(fairness_settings: evidence.FairnessSettings, levels: LowerLevels) -> dict:
    return {"thresholds": {"warn": levels.warn, "error": levels.error},
            "min_group_size": fairness_settings.min_group_size,
            "interval_method": (f"percentile bootstrap, {fairness_settings.bootstrap_rounds} "
                                f"resamples of the batch rows, seed {fairness_settings.seed}, "
                                f"{fairness_settings.confidence:.0%} level"),
            "rule": RULE}


def estimate_text(fairness: dict) -> str:
    """`0.72 [0.55, 0.91]`: a measured batch's lowest DIR with its interval, as the check's
    description and `governance monitor`'s line both show it."""
    interval = fairness["interval"]
    return f"{fairness['disparate_impact_ratio_min']:.3g}" + (
        f" [{interval[0]:.3g}, {interval[1]:.3g}]" if interval else "")
