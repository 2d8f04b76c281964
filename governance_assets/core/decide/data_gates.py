"""Rules on the data: validation findings, the golden test kept apart, drift of the inputs.

Each rule is evidence (+ policy) in, a verdict out; `blocking` decides what the verdict does.
"""

from __future__ import annotations

from dataclasses import replace

from ..params import Policy
from .blocking import INSUFFICIENT, Handling
from .rule_verdict import Verdict, bound, findings_gate, insufficient, judged, not_applicable


def schema(report: dict, evidence: str) -> Verdict:
    return findings_gate("schema", report, "schema", evidence)


def label_sanity(report: dict, evidence: str) -> Verdict:
    return findings_gate("label_sanity", report, "labels", evidence)


def group_sizes(report: dict, evidence: str) -> Verdict:
    return findings_gate("sensitive_groups", report, "groups", evidence)


def outlier_screen(report: dict, policy: Policy, evidence: str) -> Verdict:
    screen = [f for f in report["findings"] if f["gate"] == "outliers"]
    if not screen:
        return judged("outlier_screen", INSUFFICIENT, None, policy.max_outlier_share, "<=",
                      "not screened: the data failed a blocking rule first", evidence)
    return bound("outlier_screen", screen[0]["value"], policy.max_outlier_share, "<=",
                 "share of rows flagged by the poisoning screen (extreme values, "
                 "label-flipped near-duplicates)", evidence)


def golden_disjoint(overlap: dict, evidence: str) -> Verdict:
    shared = overlap["by_row_id"] + overlap["by_content"]
    return bound("golden_test_disjoint", float(shared), 0.0, "<=",
                 "golden-test rows also in train/validation (by id + by content)", evidence)


def personal_data(report: dict, evidence: str) -> Verdict:
    verdict = findings_gate("personal_data", report, "personal_data", evidence)
    if not verdict.passed:
        return verdict
    screened = [f["message"] for f in report["findings"] if f["gate"] == "personal_data"]
    return replace(verdict, message="; ".join(screened) or verdict.message)


def retention(report: dict, evidence: str) -> Verdict:
    if not any(f["gate"] == "retention" for f in report["findings"]):
        return not_applicable("retention", None, 0.0, "<=",
                              "not applicable: no collection-date column declared "
                              "(datasets.<name>.retention), so row age cannot be checked",
                              evidence)
    return findings_gate("retention", report, "retention", evidence)


def _floor_note(drift: dict, feature: str) -> str:
    """The PSI that pure sampling noise reaches at this batch size, when the report has it."""
    floor = drift.get("psi_noise_floor", {}).get(feature)
    return "" if floor is None else f"; noise floor at this batch size {floor:.3g}"


# A split of one data set cannot show drift over time: its PSI is reported, never blocks.
SIMULATED_BATCH = ("the current batch is simulated (golden-test rows of a dataset without a "
                   "time axis, a random split of the same data): not evidence of drift over "
                   "time, so insufficient evidence that does not block")


def drift_psi(drift: dict, policy: Policy, evidence: str) -> Verdict:
    """The largest PSI above its feature's noise floor (reports without floors: the largest
    PSI); on a simulated current batch a value over the threshold warns, never blocks."""
    feature, value, noise = drift["max_psi_feature"], drift["max_psi"], ""
    beyond = "max_psi_above_noise_floor" in drift
    if beyond:
        if drift["max_psi_above_noise_floor_feature"] != feature:
            noise = f"; largest PSI {value:.3g} on {feature} is within its noise floor"
        feature, value = (drift["max_psi_above_noise_floor_feature"],
                          drift["max_psi_above_noise_floor"])
    largest = drift.get("max_psi_noise_floor")
    across = "" if largest is None else f"; largest-feature noise floor {largest:.3g}"
    verdict = bound("drift_psi", value, policy.max_psi, "<=", "largest feature PSI"
                    + (" above its noise floor" if beyond else ""), evidence,
                    detail=f" (feature: {feature or 'none above its noise floor'}"
                           f"{_floor_note(drift, feature)}{across}{noise})")
    if verdict.passed or not drift.get("simulated"):
        return verdict
    return insufficient(verdict, f"{verdict.message}; {SIMULATED_BATCH}", policy,
                        (Handling.DISCLOSED,))


def drifted_share(drift: dict, policy: Policy, evidence: str) -> Verdict:
    """Features above policy.max_psi and their noise floor; simulated batch: as drift_psi."""
    drifted = ", ".join(f"{c}{_floor_note(drift, c)}" for c in drift["drifted_features"])
    noise = ", ".join(f"{c}{_floor_note(drift, c)}"
                      for c in drift.get("above_max_psi_within_noise_floor", []))
    verdict = bound("drifted_share", drift["drifted_share"], policy.max_drifted_share, "<=",
                    "share of drifted features", evidence,
                    detail=f" (drifted: {drifted or 'none'}"
                           + (f"; above policy.max_psi but within the noise floor, not "
                              f"counted: {noise}" if noise else "") + ")")
    if verdict.passed or not drift.get("simulated"):
        return verdict
    return insufficient(verdict, f"{verdict.message}; {SIMULATED_BATCH}", policy,
                        (Handling.DISCLOSED,))

