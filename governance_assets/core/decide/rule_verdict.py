"""The verdict every rule returns, and the two shapes most rules take.

A verdict has an outcome (pass, fail, insufficient_evidence, not_applicable), the measured
value, the threshold it was held to and the evidence file. Rules compute the value and the
outcome; whether the verdict blocks is asked of `blocking`, the one owner of that decision.
The Dagster checks only wrap the rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from ..params import Policy
from .blocking import (
    FAIL,
    INSUFFICIENT,
    NOT_APPLICABLE,
    PASS,
    Handling,
    blocks_promotion,
    shown_as_passed,
    verdict_blocking,
)
from .gate_catalog import GATES_BY_NAME


@dataclass(frozen=True)
class Verdict:
    gate: str
    outcome: str
    value: float | None
    threshold: float | None
    comparison: str
    blocking: bool
    message: str
    evidence: str

    @property
    def passed(self) -> bool:
        return self.outcome == PASS

    @property
    def blocks(self) -> bool:
        return blocks_promotion(GATES_BY_NAME[self.gate], self.outcome, self.blocking)

    @property
    def acceptable(self) -> bool:
        """What Dagster shows as a passed check: a PASS, or nothing to judge."""
        return shown_as_passed(self.outcome)

    def to_dict(self) -> dict:
        return asdict(self)


def judged(gate: str, outcome: str, value: float | None, threshold: float | None,
           comparison: str, message: str, evidence: str, policy: Policy | None = None,
           handling: Iterable[Handling] = (Handling.AS_FAILURE,)) -> Verdict:
    """A rule's verdict, its `blocking` decided by the owner from the gate, outcome and policy."""
    blocking = verdict_blocking(GATES_BY_NAME[gate], outcome, policy, tuple(handling))
    return Verdict(gate, outcome, value, threshold, comparison, blocking, message, evidence)


def not_applicable(gate: str, value: float | None, threshold: float | None, comparison: str,
                   message: str, evidence: str,
                   handling: Iterable[Handling] = (Handling.AS_FAILURE,)) -> Verdict:
    """Nothing to judge, and the message says why; never a PASS, never blocks promotion."""
    return judged(gate, NOT_APPLICABLE, value, threshold, comparison, message, evidence,
                  handling=handling)


def insufficient(verdict: Verdict, message: str, policy: Policy | None,
                 handling: Iterable[Handling]) -> Verdict:
    """The same figure, judged insufficient evidence for the reason the message gives."""
    return judged(verdict.gate, INSUFFICIENT, verdict.value, verdict.threshold,
                  verdict.comparison, message, verdict.evidence, policy, handling)


def bound(gate: str, value: float | None, threshold: float, comparison: str, what: str,
          evidence: str, detail: str = "") -> Verdict:
    """The common shape of a numeric gate: value compared to a policy threshold."""
    if value is None:
        return judged(gate, INSUFFICIENT, None, threshold, comparison,
                      f"{what} could not be measured{detail}", evidence)
    ok = value >= threshold if comparison == ">=" else value <= threshold
    shown = "passes" if ok else "fails"
    message = f"{what} {value:.4g} {shown}: must be {comparison} {threshold:g}{detail}"
    return judged(gate, PASS if ok else FAIL, value, threshold, comparison, message, evidence)


def findings_gate(gate: str, report: dict, family: str, evidence: str) -> Verdict:
    """A validation family's findings: the number that failed, held to zero."""
    failed = [f for f in report["findings"] if f["gate"] == family and not f["passed"]]
    checked = [f for f in report["findings"] if f["gate"] == family]
    if failed:
        message = "; ".join(f["message"] for f in failed)
    else:
        message = f"{len(checked)} {family} rule(s) on {report['file']} passed"
    return judged(gate, FAIL if failed else PASS, float(len(failed)), 0.0, "<=", message,
                  evidence)
