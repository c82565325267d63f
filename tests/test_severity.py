"""The decision matrix: which verdicts roll back, file an incident, or are only recorded."""

from __future__ import annotations

import pytest

from guard.outcomes import ProbeStatus, Reason, Severity, Verdict, VerdictKind
from guard.policy.models import OnFailure
from guard.severity import Action, classify, decide
from guard.verification import Verification, VerificationPlan
from tests.test_verification_support import example_environment, example_policy, smoke

ROLLBACK_AT_P1 = OnFailure.model_validate({"action": "rollback"})
NOTIFY_ONLY = OnFailure.model_validate({"action": "notify"})


def verdict(kind: VerdictKind, severity: Severity | None) -> Verdict:
    reason = Reason(
        "health", "HTTP 503", "HTTP 200", "smoke", 1, "health failed.", severity or Severity.P3
    )
    warnings = (reason,) if kind is VerdictKind.PASS and severity else ()
    reasons = () if warnings else (reason,)
    return Verdict(kind, reasons, severity, decided_at=0.0, warnings=warnings)


def test_severities_compare_by_severity_not_by_text() -> None:
    assert Severity.P0 > Severity.P1 > Severity.P2 > Severity.P3
    assert Severity.P1 >= Severity.P1
    assert Severity.P3 <= Severity.P2
    assert max([Severity.P2, Severity.P0, Severity.P3]) is Severity.P0


def test_a_failure_at_min_severity_rolls_back() -> None:
    decision = decide(verdict(VerdictKind.FAIL, Severity.P1), ROLLBACK_AT_P1, mode="enforce")

    assert decision.action is Action.ROLLBACK
    assert decision.severity is Severity.P1
    assert (decision.shadow, decision.escalated) == (False, False)
    assert decision.rolls_back
    assert decision.files_incident
    assert decision.explanation == "Severity P1 meets min_severity P1: roll back with redeploy."


def test_a_failure_above_min_severity_rolls_back_with_the_strategy_named() -> None:
    on_failure = OnFailure.model_validate(
        {"action": "rollback", "rollback": {"strategy": "revert_pr"}}
    )

    decision = decide(verdict(VerdictKind.FAIL, Severity.P0), on_failure, mode="enforce")

    assert decision.action is Action.ROLLBACK
    assert decision.explanation == "Severity P0 is above min_severity P1: roll back with revert_pr."


def test_a_failure_below_min_severity_is_an_incident_only() -> None:
    decision = decide(verdict(VerdictKind.FAIL, Severity.P2), ROLLBACK_AT_P1, mode="enforce")

    assert decision.action is Action.NOTIFY
    assert not decision.rolls_back
    assert decision.files_incident
    assert decision.explanation == (
        "Severity P2 is below min_severity P1: incident only, fix forward."
    )


def test_a_stricter_min_severity_keeps_p1_from_rolling_back() -> None:
    on_failure = OnFailure.model_validate(
        {"action": "rollback", "rollback": {"min_severity": "P0"}}
    )

    decision = decide(verdict(VerdictKind.FAIL, Severity.P1), on_failure, mode="enforce")

    assert decision.action is Action.NOTIFY


def test_notify_policies_never_roll_back() -> None:
    decision = decide(verdict(VerdictKind.FAIL, Severity.P0), NOTIFY_ONLY, mode="enforce")

    assert decision.action is Action.NOTIFY
    assert decision.explanation == (
        "Severity P0 with on_failure action notify: incident only, fix forward."
    )


def test_shadow_mode_keeps_the_rollback_but_only_describes_it() -> None:
    decision = decide(verdict(VerdictKind.FAIL, Severity.P1), ROLLBACK_AT_P1, mode="shadow")

    assert decision.action is Action.ROLLBACK
    assert decision.shadow
    assert not decision.rolls_back
    assert "would have rolled back with redeploy" in decision.explanation


def test_shadow_mode_flags_only_would_be_rollbacks() -> None:
    decision = decide(verdict(VerdictKind.FAIL, Severity.P2), ROLLBACK_AT_P1, mode="shadow")

    assert decision.action is Action.NOTIFY
    assert not decision.shadow


def test_a_failed_rollback_escalates_to_p0_and_is_never_rolled_back() -> None:
    decision = decide(
        verdict(VerdictKind.FAIL, Severity.P2),
        ROLLBACK_AT_P1,
        mode="enforce",
        is_remedy_verification=True,
    )

    assert decision.action is Action.NOTIFY
    assert decision.severity is Severity.P0
    assert decision.escalated
    assert "a person must act" in decision.explanation


def test_a_passing_rollback_is_not_escalated() -> None:
    decision = decide(
        verdict(VerdictKind.PASS, None), ROLLBACK_AT_P1, mode="enforce", is_remedy_verification=True
    )

    assert decision.action is Action.NONE
    assert not decision.escalated


@pytest.mark.parametrize(
    ("kind", "severity", "action"),
    [
        (VerdictKind.PASS, None, Action.NONE),
        (VerdictKind.PASS, Severity.P3, Action.RECORD),
        (VerdictKind.PASS, Severity.P2, Action.NOTIFY),
        (VerdictKind.INCONCLUSIVE, None, Action.RECORD),
    ],
)
def test_verdicts_that_are_not_failures(
    kind: VerdictKind, severity: Severity | None, action: Action
) -> None:
    decision = decide(verdict(kind, severity), ROLLBACK_AT_P1, mode="enforce")

    assert decision.action is action
    assert decision.severity is severity
    assert not decision.shadow
    assert decision.explanation.endswith(".")
    assert decision.files_incident is (action is Action.NOTIFY)


def test_classify_gives_every_failure_a_severity() -> None:
    assert classify(verdict(VerdictKind.FAIL, None)) is Severity.P1
    assert classify(verdict(VerdictKind.FAIL, Severity.P2)) is Severity.P2
    assert classify(verdict(VerdictKind.FAIL, Severity.P2), is_remedy_verification=True) is (
        Severity.P0
    )
    assert classify(verdict(VerdictKind.PASS, Severity.P3)) is Severity.P3
    assert classify(verdict(VerdictKind.INCONCLUSIVE, None)) is None


def test_the_example_policy_rolls_production_back_when_its_home_page_fails() -> None:
    environment = example_environment()
    plan = VerificationPlan.from_environment(environment)
    verification = Verification(plan, started_at=0.0)
    results = [
        smoke(name, ProbeStatus.FAIL if name == "home page" else ProbeStatus.PASS)
        for name in plan.smoke_checks
    ]
    verification.record_smoke(results, 1.0)
    assert verification.verdict is not None

    mode = example_policy().effective_mode("production")
    decision = decide(verification.verdict, environment.on_failure, mode=mode)

    assert decision.action is Action.ROLLBACK
    assert decision.severity is Severity.P1
