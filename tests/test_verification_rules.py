"""The verdict rules while a verification runs: smoke checks, watch thresholds and metrics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from guard.outcomes import ProbeResult, ProbeStatus, Severity, Verdict, VerdictKind
from guard.verification import VerificationPlan, assess
from tests.test_verification_support import (
    HEALTH_URL,
    example_environment,
    health,
    metric,
    plan_with,
    probe,
    smoke,
    watch_plan,
)

PASS, FAIL, NO_DATA = ProbeStatus.PASS, ProbeStatus.FAIL, ProbeStatus.NO_DATA
SMOKE_AT = 1_000.0


def judge(plan: VerificationPlan, results: Sequence[ProbeResult], rounds: int = 0) -> Verdict:
    verdict = assess(
        plan, results, started_at=990.0, smoke_recorded_at=SMOKE_AT, finished_rounds=rounds
    )
    assert verdict is not None
    return verdict


def example_plan() -> VerificationPlan:
    return VerificationPlan.from_environment(example_environment())


def example_smoke(*failing: str, unreachable: bool = False) -> list[ProbeResult]:
    return [
        smoke(
            name,
            FAIL if name in failing else PASS,
            unreachable=unreachable and name in failing,
            detail=f"HTTP 503 from https://shop.example.com/{name}, expected 200"
            if name in failing
            else "",
        )
        for name in example_plan().smoke_checks
    ]


def test_one_failed_smoke_check_fails_at_once_with_p1_and_one_reason() -> None:
    verdict = judge(example_plan(), example_smoke("api health"))

    assert verdict.kind is VerdictKind.FAIL
    assert verdict.severity is Severity.P1
    assert verdict.rounds_done == 0
    assert verdict.decided_at == SMOKE_AT
    (reason,) = verdict.reasons
    assert reason.subject == "api health"
    assert reason.observed == "HTTP 503"
    assert reason.window == "smoke"
    assert reason.samples == 1
    assert reason.severity is Severity.P1
    assert reason.message == (
        "Smoke check api health failed: "
        "HTTP 503 from https://shop.example.com/api health, expected 200."
    )


def test_every_smoke_check_failing_is_p0() -> None:
    names = example_plan().smoke_checks

    verdict = judge(example_plan(), example_smoke(*names))

    assert verdict.severity is Severity.P0
    assert [r.subject for r in verdict.reasons] == list(names)
    assert {r.severity for r in verdict.reasons} == {Severity.P0}


def test_an_unreachable_service_is_p0_even_when_a_check_could_not_be_judged() -> None:
    plan = plan_with(smoke_checks=("home page", "api health"))
    results = [
        smoke("home page", FAIL, unreachable=True, detail="connection refused"),
        smoke("api health", NO_DATA, unreachable=True),
    ]

    verdict = judge(plan, results)

    assert verdict.kind is VerdictKind.FAIL
    assert verdict.severity is Severity.P0
    assert [r.subject for r in verdict.reasons] == ["home page"]


def test_one_unreachable_check_among_reachable_ones_is_p1() -> None:
    verdict = judge(example_plan(), example_smoke("home page", unreachable=True))

    assert verdict.severity is Severity.P1


def test_a_smoke_check_without_a_judged_result_makes_the_verdict_inconclusive_at_once() -> None:
    plan = plan_with(smoke_checks=("home page", "api health"), watch=watch_plan())
    results = [smoke("home page"), smoke("api health", NO_DATA, detail="the secret is not set")]

    verdict = judge(plan, results)

    assert verdict.kind is VerdictKind.INCONCLUSIVE
    assert verdict.severity is None
    assert "api health could not be judged (the secret is not set)" in verdict.reasons[0].message


def test_a_missing_smoke_result_is_no_evidence() -> None:
    verdict = judge(plan_with(smoke_checks=("home page", "api health")), [smoke("home page")])

    assert verdict.kind is VerdictKind.INCONCLUSIVE
    assert "no result was recorded" in verdict.reasons[0].message


def watching(**thresholds: Any) -> VerificationPlan:
    return plan_with(smoke_checks=(), watch=watch_plan(**thresholds))


def health_rounds(*statuses: ProbeStatus, unreachable: bool = False) -> list[ProbeResult]:
    return [
        health(n, status, unreachable=unreachable and status is FAIL)
        for n, status in enumerate(statuses, start=1)
    ]


def test_consecutive_failed_rounds_fail_with_the_rounds_named() -> None:
    plan = watching(consecutive_failures=3)
    results = [smoke("home page"), *health_rounds(PASS, FAIL, FAIL, FAIL)]

    verdict = judge(plan, results, rounds=4)

    assert verdict.kind is VerdictKind.FAIL
    assert verdict.severity is Severity.P1
    assert (verdict.rounds_done, verdict.rounds_planned) == (4, 40)
    assert verdict.decided_at == 1_060.0
    (reason,) = verdict.reasons
    assert reason.subject == "consecutive_failures"
    assert reason.observed == "3 failed rounds in a row (rounds 2-4)"
    assert reason.condition == ">= 3 consecutive failed rounds"
    assert reason.window == "rounds 2-4 of 40, every 15s"
    assert reason.samples == 3
    assert reason.message == (
        "health failed 3 rounds in a row (rounds 2-4 of 40, every 15s): "
        f"HTTP 503 from {HEALTH_URL}, expected 200."
    )


def test_a_passing_round_breaks_the_run_of_failures() -> None:
    plan = watching(rounds=5, consecutive_failures=3)
    results = health_rounds(FAIL, FAIL, PASS, FAIL, FAIL)

    assert assess(plan, results, started_at=0, smoke_recorded_at=0, finished_rounds=4) is None
    assert judge(plan, results, rounds=5).kind is VerdictKind.PASS


def test_a_round_fails_when_any_of_its_probes_fails() -> None:
    plan = watching(probes=("health", "api"), consecutive_failures=2)
    results = [health(1), probe("api", 1, FAIL), health(2, FAIL), probe("api", 2)]

    verdict = judge(plan, results, rounds=2)

    assert verdict.kind is VerdictKind.FAIL
    assert verdict.reasons[0].samples == 4


def test_an_unreachable_service_during_the_watch_is_p0() -> None:
    plan = watching(consecutive_failures=2)

    verdict = judge(plan, health_rounds(FAIL, FAIL, unreachable=True), rounds=2)

    assert verdict.severity is Severity.P0
    assert verdict.reasons[0].message.startswith(
        "health could not be reached 2 rounds in a row (rounds 1-2 of 40, every 15s)"
    )


def test_the_error_rate_is_judged_only_once_min_samples_are_in() -> None:
    plan = watching(consecutive_failures=None, error_rate=0.25, min_samples=4)
    results = health_rounds(FAIL, PASS, PASS, PASS, FAIL)

    for rounds in (1, 2, 3, 4):  # 1 of 4 is not above 25%, and 1 of 3 is too few samples
        assert (
            assess(plan, results, started_at=0, smoke_recorded_at=0, finished_rounds=rounds) is None
        )
    verdict = judge(plan, results, rounds=5)
    assert verdict.kind is VerdictKind.FAIL
    (reason,) = verdict.reasons
    assert reason.subject == "error_rate"
    assert reason.observed == "40% (2 of 5 failed)"


def test_an_error_rate_above_its_threshold_fails_with_p1() -> None:
    plan = watching(consecutive_failures=None, error_rate=0.2, min_samples=4)

    verdict = judge(plan, health_rounds(FAIL, PASS, PASS, PASS), rounds=4)

    assert verdict.kind is VerdictKind.FAIL
    assert verdict.severity is Severity.P1
    (reason,) = verdict.reasons
    assert reason.condition == "error rate > 20%"
    assert reason.window == "rounds 1-4 of 40, every 15s"
    assert reason.samples == 4
    assert reason.message == (
        "The watch probes' error rate reached 25% (1 of 4 probe results failed, "
        "rounds 1-4 of 40, every 15s), above the 20% threshold; "
        f"last failure: HTTP 503 from {HEALTH_URL}, expected 200."
    )


def test_no_data_results_do_not_count_towards_the_error_rate() -> None:
    plan = watching(rounds=4, consecutive_failures=None, error_rate=0.4, min_samples=2)
    results = health_rounds(FAIL, NO_DATA, NO_DATA, PASS)

    verdict = judge(plan, results, rounds=4)

    assert verdict.kind is VerdictKind.FAIL
    assert verdict.reasons[0].observed == "50% (1 of 2 failed)"


def slow_rounds(*latencies: float, failing: tuple[int, ...] = ()) -> list[ProbeResult]:
    return [
        health(n, FAIL if n in failing else PASS, latency_s=latency)
        for n, latency in enumerate(latencies, start=1)
    ]


def test_a_slow_service_that_never_failed_is_degraded_p2() -> None:
    plan = watching(consecutive_failures=None, p95_latency_s=1.0, min_samples=3)
    results = slow_rounds(0.2, 2.5, 3.0)

    verdict = judge(plan, results, rounds=3)

    assert verdict.kind is VerdictKind.FAIL
    assert verdict.severity is Severity.P2
    (reason,) = verdict.reasons
    assert reason.observed == "p95 3.0 s over 3 samples"
    assert reason.condition == "p95 latency > 1s"
    assert reason.message.endswith("while no probe failed: degraded, not broken.")


def test_a_slow_service_that_also_failed_is_p1() -> None:
    plan = watching(consecutive_failures=None, p95_latency_s=1.0, min_samples=3)

    verdict = judge(plan, slow_rounds(2.0, 0.1, 2.5, 3.0, failing=(2,)), rounds=4)

    assert verdict.severity is Severity.P1
    assert verdict.reasons[0].subject == "p95_latency"


def test_the_p95_waits_for_min_samples_and_ignores_fast_failures() -> None:
    plan = watching(rounds=4, consecutive_failures=None, p95_latency_s=1.0, min_samples=2)
    results = slow_rounds(3.0, 0.01, 0.01, 3.0, failing=(2, 3))

    assert assess(plan, results, started_at=0, smoke_recorded_at=0, finished_rounds=3) is None
    verdict = judge(plan, results, rounds=4)
    assert verdict.kind is VerdictKind.FAIL
    assert verdict.reasons[0].observed == "p95 3.0 s over 2 samples"


def test_a_failing_metric_fails_with_its_name_value_and_condition() -> None:
    plan = example_plan()
    results = [
        *example_smoke(),
        health(1),
        metric("5xx ratio", 1, FAIL, value=0.12, detail="5xx ratio is 0.12; fail_when > 0.05"),
        metric("p99 latency alarm", 1),
    ]

    verdict = judge(plan, results, rounds=1)

    assert verdict.kind is VerdictKind.FAIL
    assert verdict.severity is Severity.P1
    (reason,) = verdict.reasons
    assert (reason.subject, reason.observed, reason.samples) == ("5xx ratio", "0.12", 1)
    assert reason.window == "round 1 of 40, every 15s"
    assert reason.message == (
        "Metric 5xx ratio failed with 0.12 in round 1 of 40, every 15s: "
        "5xx ratio is 0.12; fail_when > 0.05."
    )


def test_metrics_read_once_without_a_watch_say_so_in_their_window() -> None:
    plan = plan_with(metrics=("alarm",))

    verdict = judge(plan, [smoke("home page"), metric("alarm", 1, FAIL, value=1)], rounds=1)

    assert verdict.reasons[0].window == "round 1 of 1, read once after the smoke checks"


def test_every_threshold_crossed_in_the_deciding_round_is_a_reason() -> None:
    plan = plan_with(
        smoke_checks=(),
        watch=watch_plan(consecutive_failures=2, error_rate=0.5, min_samples=2),
        metrics=("5xx ratio",),
    )
    results = [
        health(1, FAIL),
        metric("5xx ratio", 1),
        health(2, FAIL, unreachable=True),
        metric("5xx ratio", 2, FAIL),
    ]

    verdict = judge(plan, results, rounds=2)

    subjects = [r.subject for r in verdict.reasons]
    assert subjects == ["5xx ratio", "consecutive_failures", "error_rate"]
    assert verdict.severity is Severity.P0


@pytest.mark.parametrize("order", [1, -1])
def test_results_for_checks_the_plan_does_not_name_are_not_judged(order: int) -> None:
    plan = watching(rounds=1, consecutive_failures=1)
    results = [probe("leftover", 1, FAIL), health(1)][::order]

    assert judge(plan, results, rounds=1).kind is VerdictKind.PASS
