"""What a verdict calls for: nothing, a note on the run, an incident, or a rollback as well."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from guard.outcomes import Severity, Verdict, VerdictKind
from guard.policy.models import OnFailure

Mode = Literal["enforce", "shadow"]

CLEAN_RUN = "The deployment passed cleanly: nothing to do."
WARNED_RECORD = "The deployment passed with a {severity} warning: recorded on the run, no incident."
WARNED_NOTIFY = (
    "The deployment passed with a {severity} warning (degraded, not broken): "
    "incident only, fix forward."
)
INCONCLUSIVE = (
    "The verification was inconclusive: recorded on the run for a person to judge, "
    "with no rollback and no incident."
)
ROLL_BACK = "Severity {severity} {meets} min_severity {minimum}: roll back with {strategy}."
WOULD_ROLL_BACK = (
    "Shadow mode: severity {severity} {meets} min_severity {minimum}, so the guard would have "
    "rolled back with {strategy}; it changed nothing."
)
BELOW_MINIMUM = "Severity {severity} is below min_severity {minimum}: incident only, fix forward."
NOTIFY_ONLY = "Severity {severity} with on_failure action notify: incident only, fix forward."
REMEDY_FAILED = (
    "The rollback's own deployment failed verification: escalated to P0, and a rollback is "
    "never rolled back, so a person must act now."
)


class Action(StrEnum):
    """What the guard does about a verdict, from least to most."""

    NONE = "none"
    RECORD = "record"
    NOTIFY = "notify"
    ROLLBACK = "rollback"


@dataclass(frozen=True)
class Decision:
    """The action a verdict calls for, at which severity, and one sentence saying why."""

    action: Action
    severity: Severity | None
    # Shadow mode keeps the intended ROLLBACK but only describes it ("would have rolled back").
    shadow: bool
    # A rollback's own verification failed: raised to P0, and a person must act.
    escalated: bool
    explanation: str

    @property
    def rolls_back(self) -> bool:
        """True when a rollback is really to run (not in shadow mode)."""
        return self.action is Action.ROLLBACK and not self.shadow

    @property
    def files_incident(self) -> bool:
        return self.action in (Action.NOTIFY, Action.ROLLBACK)


def classify(verdict: Verdict, *, is_remedy_verification: bool = False) -> Severity | None:
    """The severity to act on: the verdict's own, P1 for a FAIL that lacks one, P0 for a
    failed rollback."""
    if verdict.kind is not VerdictKind.FAIL:
        return verdict.severity
    if is_remedy_verification:
        return Severity.P0
    return verdict.severity or Severity.P1


def decide(
    verdict: Verdict,
    on_failure: OnFailure,
    *,
    mode: Mode,
    is_remedy_verification: bool = False,
) -> Decision:
    """The decision matrix of PRODUCT.md, applied to one verdict."""
    severity = classify(verdict, is_remedy_verification=is_remedy_verification)
    if verdict.kind is VerdictKind.FAIL:
        assert severity is not None  # classify gives every FAIL a severity
        if is_remedy_verification:
            return Decision(Action.NOTIFY, severity, False, True, REMEDY_FAILED)
        return _decide_failure(severity, on_failure, mode)
    if verdict.kind is VerdictKind.INCONCLUSIVE:
        return Decision(Action.RECORD, severity, False, False, INCONCLUSIVE)
    if severity is None:
        return Decision(Action.NONE, None, False, False, CLEAN_RUN)
    if severity >= Severity.P2:
        explanation = WARNED_NOTIFY.format(severity=severity.value)
        return Decision(Action.NOTIFY, severity, False, False, explanation)
    explanation = WARNED_RECORD.format(severity=severity.value)
    return Decision(Action.RECORD, severity, False, False, explanation)


def _decide_failure(severity: Severity, on_failure: OnFailure, mode: Mode) -> Decision:
    minimum = on_failure.rollback.min_severity
    if on_failure.action != "rollback":
        explanation = NOTIFY_ONLY.format(severity=severity.value)
        return Decision(Action.NOTIFY, severity, False, False, explanation)
    if severity < minimum:
        explanation = BELOW_MINIMUM.format(severity=severity.value, minimum=minimum.value)
        return Decision(Action.NOTIFY, severity, False, False, explanation)
    shadow = mode == "shadow"
    explanation = (WOULD_ROLL_BACK if shadow else ROLL_BACK).format(
        severity=severity.value,
        meets="meets" if severity == minimum else "is above",
        minimum=minimum.value,
        strategy=on_failure.rollback.strategy,
    )
    return Decision(Action.ROLLBACK, severity, shadow, False, explanation)
