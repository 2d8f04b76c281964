"""What an outcome does: the one owner of whether a gate blocks and how thin evidence counts.

Rules judge evidence into an outcome and say why an outcome is not a plain pass or fail (which
policy switch handles its thin evidence, or that it is only disclosed). Everything else asks
this module: the `blocking` a verdict records, whether a gate holds promotion back now, whether
a failure stops the run, the check's severity and the words that say what a failure does.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from ..params import Policy
from .gate_catalog import FINDING_GATES, GATES_BY_NAME, GateSpec

PASS, FAIL, INSUFFICIENT = "pass", "fail", "insufficient_evidence"
# Nothing to judge (no incumbent to regress against, no budget set): says why, never a PASS,
# and never blocks.
NOT_APPLICABLE = "not_applicable"
# Stages whose subject nothing downstream can be built without: their gates stop the run.
RUN_STOPPING_STAGES = ("prepare", "train")


class Handling(Enum):
    """How an outcome that is neither a pass nor a fail is handled, as its rule names it."""

    # Like a failure: a statistic the evidence lacks judges nothing, whatever the policy.
    AS_FAILURE = "as a failure"
    # Groups or an interval too thin to decide on: as policy.insufficient_evidence says.
    BY_POLICY = "policy.insufficient_evidence"
    # Intersection cells too thin to decide on: as policy.intersection_insufficient_evidence says.
    BY_INTERSECTION_POLICY = "policy.intersection_insufficient_evidence"
    # A limit of the evidence stated in the message (a simulated batch, scores that cannot be
    # re-scored): never blocks.
    DISCLOSED = "disclosed only"


def insufficient_counts_as_failure(policy: Policy | None, handling: Iterable[Handling]) -> bool:
    """Thin evidence counts as a failure when any way it is handled says so."""
    return any(_fails(policy, way) for way in handling)


def _fails(policy: Policy | None, way: Handling) -> bool:
    if way is Handling.AS_FAILURE:
        return True
    if way is Handling.DISCLOSED:
        return False
    if policy is None:
        raise ValueError(f"{way.value} needs the policy to decide")
    switch = (policy.insufficient_evidence if way is Handling.BY_POLICY
              else policy.intersection_insufficient_evidence)
    return switch == "fail"


def verdict_blocking(spec: GateSpec, outcome: str, policy: Policy | None = None,
                     handling: Iterable[Handling] = (Handling.AS_FAILURE,)) -> bool:
    """The `blocking` a verdict records: the gate blocks, and an insufficient or not-applicable
    outcome is not handled as a warning. Whether it holds promotion back: `blocks_promotion`."""
    if not spec.blocking:
        return False
    if outcome in (INSUFFICIENT, NOT_APPLICABLE):
        return insufficient_counts_as_failure(policy, handling)
    return True


def blocks_promotion(spec: GateSpec, outcome: str | None, recorded_blocking: bool) -> bool:
    """A blocking gate holds promotion back unless its verdict is a PASS, has nothing to judge,
    or is an insufficiency recorded as non-blocking (policy warn, disclosed only).

    `outcome` None: no verdict for the current inputs (stale or never judged), which blocks.
    """
    if not spec.blocking or outcome in (PASS, NOT_APPLICABLE):
        return False
    return outcome != INSUFFICIENT or recorded_blocking


def shown_as_passed(outcome: str) -> bool:
    """What Dagster shows as a passed check: a PASS, or nothing to judge."""
    return outcome in (PASS, NOT_APPLICABLE)


def stops_the_run(spec: GateSpec) -> bool:
    """Nothing downstream can be built without this gate's subject (the data, the search).

    Gates on the candidate's reports block promotion instead, so the card of a refused
    candidate is still written and says why.
    """
    return spec.blocking and spec.stage in RUN_STOPPING_STAGES


def check_severity(spec: GateSpec, recorded_blocking: bool) -> str:
    """ERROR (Dagster skips what is downstream) only for a blocking verdict of a gate that
    stops the run; every other check fails with WARN, and promotion refuses it instead."""
    return "ERROR" if recorded_blocking and stops_the_run(spec) else "WARN"


def what_a_failure_does(spec: GateSpec) -> str:
    """What a failure does, in words: Dagster's own 'blocking' label only orders the steps."""
    if not spec.blocking:
        return "Warning only, never blocks promotion."
    if stops_the_run(spec):
        return "Stops the run and blocks promotion."
    return "Blocks promotion (via every_blocking_gate_passed); the card is still written."


def what_this_verdict_does(spec: GateSpec, outcome: str, recorded_blocking: bool) -> str:
    """The words a check's description starts with: nothing for a pass or nothing to judge;
    thin evidence says so, so a figure that meets its threshold does not read as a failure."""
    if shown_as_passed(outcome):
        return ""
    if blocks_promotion(spec, outcome, recorded_blocking):
        why = " (insufficient evidence counts as a failure)" if outcome == INSUFFICIENT else ""
        stops = " and stops the run" if stops_the_run(spec) else ""
        return f"BLOCKS PROMOTION{stops}{why}: "
    thin = "insufficient evidence, " if outcome == INSUFFICIENT else ""
    return f"{thin}warning, does not block promotion: "


def blocking_label(spec: GateSpec, outcome: str | None, blocks: bool) -> str:
    """The gate table's 'blocking' column: `warn` for a warning-only gate, `warn (policy)` for
    a blocking gate whose insufficient evidence is, this time, not holding promotion back."""
    if not spec.blocking:
        return "warn"
    if outcome == INSUFFICIENT and not blocks:
        return "warn (policy)"
    return "yes"


def combined_blocking(outcome: str, sides: Iterable[tuple[str, bool]]) -> bool:
    """The `blocking` of one verdict made of several judgements of a gate (both sides of a
    two-sided rule) whose worst outcome it takes: as the judgements with that outcome record
    it, so a passing side does not make an insufficiency the policy warns on block."""
    return any(blocking for side_outcome, blocking in sides if side_outcome == outcome)


def failed_finding_blocks(family: str) -> bool:
    """Whether a failed data-validation finding of `family` makes the data invalid: it does when
    the gate that judges that family blocks (the outlier screen only warns)."""
    return GATES_BY_NAME[FINDING_GATES[family]].blocking
