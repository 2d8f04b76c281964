"""Rules that assure the candidate beyond its metrics: robustness under perturbation and across
slices, agreement with approved reference decisions, and a complete model card.

Each rule is evidence (+ policy) in, a verdict out; `blocking` decides what the verdict does.
"""

from __future__ import annotations

from ..params import Policy
from .blocking import FAIL, PASS, Handling
from .rule_verdict import Verdict, bound, judged, not_applicable


def card_valid(errors: list[str], evidence: str) -> Verdict:
    message = "; ".join(errors[:5]) if errors else "model card is complete and schema-valid"
    return judged("model_card_valid", FAIL if errors else PASS, float(len(errors)), 0.0, "<=",
                  message, evidence)


def _not_perturbed(gate: str, robustness: dict, threshold: float, evidence: str) -> Verdict:
    """Scores given without their model: inputs cannot be re-scored. An audit cannot have
    this evidence, so the gate does not apply (said why, disclosed), rather than lacking it."""
    return not_applicable(gate, None, threshold, "<=",
                          f"not applicable: {robustness['perturbation_rule']}", evidence,
                          (Handling.DISCLOSED,))


def perturbation_flips(robustness: dict, policy: Policy, evidence: str) -> Verdict:
    test = robustness["perturbation"]
    if test is None:
        return _not_perturbed("perturbation_flips", robustness, policy.max_flip_rate, evidence)
    return bound("perturbation_flips", test["flip_rate"], policy.max_flip_rate, "<=",
                 "share of golden-test decisions that flip under perturbation", evidence,
                 detail=f" ({test['flipped']} of {test['rows']}; "
                        f"{robustness['perturbation_rule']})")


def perturbation_auc_drop(robustness: dict, policy: Policy, evidence: str) -> Verdict:
    test = robustness["perturbation"]
    if test is None:
        return _not_perturbed("perturbation_auc_drop", robustness,
                              policy.max_perturbation_auc_drop, evidence)
    return bound("perturbation_auc_drop", test["auc_drop"], policy.max_perturbation_auc_drop,
                 "<=", "golden-test AUC drop under perturbation", evidence,
                 detail=f" (AUC {test['auc']:.3f} -> {test['auc_perturbed']:.3f})")


def slice_performance(robustness: dict, policy: Policy, evidence: str) -> Verdict:
    scan = robustness["slices"]
    worst = scan["significant_slices"] or scan["worst_slices"]
    named = "" if not worst else (
        f"; worst slice {worst[0]['slice']} ({worst[0]['rows']} rows, accuracy "
        f"{worst[0]['accuracy']:.3f}, Holm-adjusted p {worst[0]['p_adjusted']:.3g})")
    return bound("slice_performance", float(scan["slices_below_floor"]), 0.0, "<=",
                 f"slices with accuracy significantly below policy.min_slice_accuracy="
                 f"{policy.min_slice_accuracy} (one-sided binomial, Holm over "
                 f"{scan['slices_tested']} slices of >= {scan['min_slice_rows']} rows)",
                 evidence, detail=named)


def reference_agreement(reference: dict, policy: Policy, evidence: str) -> Verdict:
    if reference.get("file") is None:
        return not_applicable("reference_agreement", None, policy.min_reference_agreement, ">=",
                              "not applicable: no reference decisions declared (datasets."
                              "<name>.reference_decisions), so agreement cannot be measured",
                              evidence)
    misses = ", ".join(d["case_id"] for d in reference["disagreements"][:10])
    return bound("reference_agreement", reference["agreement_rate"],
                 policy.min_reference_agreement, ">=",
                 f"agreement with {reference['cases']} approved reference decisions", evidence,
                 detail=f" (disagreements: {misses or 'none'})")
