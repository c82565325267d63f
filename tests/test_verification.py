"""The verification state machine: steps, due times on an injected clock, recording, restoring."""

from __future__ import annotations

import json

import pytest

from guard.outcomes import ProbeStatus, VerdictKind
from guard.verification import (
    Finished,
    RunRound,
    RunSmoke,
    Verification,
    VerificationPlan,
)
from tests.test_verification_support import (
    ManualClock,
    example_environment,
    health,
    metric,
    plan_with,
    probe,
    smoke,
    watch_plan,
)

FAIL = ProbeStatus.FAIL


def started(plan: VerificationPlan, clock: ManualClock) -> Verification:
    verification = Verification(plan, started_at=clock())
    assert verification.next_step(clock()) == RunSmoke()
    clock.advance(2)
    verification.record_smoke([smoke("home page", at=clock())], clock())
    return verification


def test_smoke_runs_first_then_rounds_are_due_one_interval_apart_from_the_smoke() -> None:
    clock = ManualClock(500.0)
    verification = started(plan_with(watch=watch_plan(rounds=3)), clock)

    assert verification.watch_started_at == 502.0
    assert verification.next_step(clock()) == RunRound(1, due_at=502.0)
    clock.advance(4)  # a slow round must not push the next one back
    verification.record_round(1, [health(1)], clock())
    step = verification.next_step(clock())
    assert step == RunRound(2, due_at=517.0)
    assert isinstance(step, RunRound)
    assert step.wait_s(clock()) == 11.0
    assert step.wait_s(530.0) == 0.0


def test_the_verdict_arrives_with_the_last_round() -> None:
    clock = ManualClock()
    verification = started(plan_with(watch=watch_plan(rounds=2)), clock)
    verification.record_round(1, [health(1)], clock.advance(15))
    assert verification.next_step(clock()) == RunRound(2, due_at=1_017.0)

    verification.record_round(2, [health(2)], clock.advance(15))

    verdict = verification.verdict
    assert verdict is not None
    assert verdict.kind is VerdictKind.PASS
    assert verification.next_step(clock()) == Finished(verdict)
    assert (verification.rounds_done, verification.rounds_planned) == (2, 2)


def test_a_crossed_threshold_finishes_before_the_window_is_out() -> None:
    clock = ManualClock()
    verification = started(plan_with(watch=watch_plan(rounds=40)), clock)
    for number in (1, 2, 3):
        verification.record_round(number, [health(number, FAIL)], clock.advance(15))

    step = verification.next_step(clock())

    assert isinstance(step, Finished)
    assert step.verdict.kind is VerdictKind.FAIL
    assert (step.verdict.rounds_done, step.verdict.rounds_planned) == (3, 40)
    assert verification.failures_so_far == 3


def test_without_smoke_checks_the_watch_starts_when_the_verification_does() -> None:
    verification = Verification(plan_with(smoke_checks=(), watch=watch_plan()), started_at=70.0)

    assert verification.next_step(70.0) == RunRound(1, due_at=70.0)
    with pytest.raises(ValueError, match="not planned"):
        verification.record_smoke([], 71.0)


def test_nothing_to_check_is_finished_from_the_start() -> None:
    verification = Verification(plan_with(smoke_checks=()), started_at=5.0)

    step = verification.next_step(5.0)

    assert isinstance(step, Finished)
    assert step.verdict.kind is VerdictKind.INCONCLUSIVE
    assert step.verdict.decided_at == 5.0
    assert "nothing to check" in step.verdict.reasons[0].message


def test_smoke_only_plans_finish_with_the_smoke_results() -> None:
    plan = VerificationPlan.from_environment(example_environment("staging"))
    verification = Verification(plan, started_at=0.0)

    verification.record_smoke([smoke("home page")], 1_000.0)

    assert verification.verdict is not None
    assert verification.verdict.kind is VerdictKind.PASS
    assert verification.verdict.severity is None


def test_a_round_recorded_out_of_order_is_refused_and_changes_nothing() -> None:
    clock = ManualClock()
    verification = started(plan_with(watch=watch_plan(rounds=5)), clock)

    with pytest.raises(ValueError, match="round 2 cannot be recorded now: round 1 is next"):
        verification.record_round(2, [health(2)], clock())
    assert verification.rounds_done == 0
    assert len(verification.results) == 1


def test_a_round_before_the_smoke_results_is_refused() -> None:
    verification = Verification(plan_with(watch=watch_plan()), started_at=0.0)

    with pytest.raises(ValueError, match="before the smoke results"):
        verification.record_round(1, [health(1)], 1.0)


def test_nothing_is_recorded_after_the_verdict() -> None:
    clock = ManualClock()
    verification = Verification(plan_with(watch=watch_plan()), started_at=clock())
    verification.record_smoke([smoke("home page", FAIL)], clock.advance(1))

    with pytest.raises(ValueError, match=r"already has its verdict \(fail\)"):
        verification.record_round(1, [health(1)], clock.advance(15))


def test_smoke_results_are_recorded_once() -> None:
    clock = ManualClock()
    verification = started(plan_with(watch=watch_plan()), clock)

    with pytest.raises(ValueError, match="already recorded"):
        verification.record_smoke([smoke("home page")], clock())


def test_results_of_the_wrong_phase_or_round_are_refused() -> None:
    clock = ManualClock()
    verification = started(plan_with(watch=watch_plan()), clock)

    with pytest.raises(ValueError, match="'health' is a watch result of round 2"):
        verification.record_round(1, [health(2)], clock())
    with pytest.raises(ValueError, match="smoke result of round 0"):
        verification.record_round(1, [smoke("home page")], clock())
    fresh = Verification(plan_with(watch=watch_plan()), started_at=clock())
    with pytest.raises(ValueError, match="smoke results have phase smoke"):
        fresh.record_smoke([health(1)], clock())


def test_times_from_another_clock_are_refused() -> None:
    verification = Verification(plan_with(watch=watch_plan()), started_at=1_700_000_000.0)

    with pytest.raises(ValueError, match="before the verification started"):
        verification.next_step(12.5)


def test_results_are_kept_in_judging_order_whatever_order_they_arrive_in() -> None:
    clock = ManualClock()
    verification = started(plan_with(watch=watch_plan(probes=("health", "api"))), clock)
    verification.record_round(1, [health(1), probe("api", 1, at=990.0)], clock.advance(15))

    assert [r.name for r in verification.results] == ["api", "home page", "health"]


def run_example_until(rounds: list[list[ProbeStatus]]) -> Verification:
    plan = VerificationPlan.from_environment(example_environment())
    clock = ManualClock()
    verification = Verification(plan, started_at=clock())
    verification.record_smoke([smoke(name, at=clock()) for name in plan.smoke_checks], clock())
    for number, statuses in enumerate(rounds, start=1):
        clock.advance(15)
        results = [health(number, statuses[0]), metric("5xx ratio", number, statuses[1])]
        results.append(metric("p99 latency alarm", number))
        verification.record_round(number, results, clock())
    return verification


@pytest.mark.parametrize("rounds_done", [0, 2, 3])
def test_restoring_from_the_stored_results_rebuilds_the_same_state(rounds_done: int) -> None:
    statuses = [[ProbeStatus.PASS, ProbeStatus.PASS], [FAIL, ProbeStatus.NO_DATA]] * 3
    original = run_example_until(statuses[:rounds_done])

    restored = Verification.restore(
        original.plan,
        original.started_at,
        list(reversed(original.results)),
        original.smoke_recorded_at,
        original.rounds_done,
    )

    assert restored.to_dict() == original.to_dict()
    assert restored.verdict == original.verdict
    assert restored.next_step(2_000.0) == original.next_step(2_000.0)


def test_a_finished_verification_survives_a_trip_through_json() -> None:
    original = run_example_until([[FAIL, ProbeStatus.PASS]] * 3)
    assert original.verdict is not None

    restored = Verification.from_dict(json.loads(json.dumps(original.to_dict())))

    assert restored.verdict == original.verdict
    assert restored.results == original.results


def test_stored_results_beyond_the_rounds_done_are_refused() -> None:
    original = run_example_until([[ProbeStatus.PASS, ProbeStatus.PASS]] * 2)

    with pytest.raises(ValueError, match=r"stored for rounds \[2\], after the 1 done"):
        Verification.restore(
            original.plan, original.started_at, original.results, original.smoke_recorded_at, 1
        )


def test_stored_rounds_after_the_verdict_are_refused() -> None:
    original = run_example_until([[FAIL, ProbeStatus.PASS]] * 3)
    extra = [*original.results, health(4)]

    with pytest.raises(ValueError, match="already has its verdict"):
        Verification.restore(
            original.plan, original.started_at, extra, original.smoke_recorded_at, 4
        )
