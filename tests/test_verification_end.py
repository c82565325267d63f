"""The end of the watch with no threshold crossed: pass, warnings, and missing evidence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from guard.outcomes import ProbeResult, ProbeStatus, Severity, Verdict, VerdictKind
from guard.verification import VerificationPlan, assess
from guard.verification_plan import OnNoData
from tests.test_verification_support import health, metric, plan_with, smoke, watch_plan

PASS, FAIL, NO_DATA = ProbeStatus.PASS, ProbeStatus.FAIL, ProbeStatus.NO_DATA


def finish(plan: VerificationPlan, results: Sequence[ProbeResult]) -> Verdict:
    verdict = assess(
        plan,
        results,
        started_at=990.0,
        smoke_recorded_at=1_000.0,
        finished_rounds=plan.rounds_planned,
    )
    assert verdict is not None
    return verdict


def watched(rounds: int = 4, **thresholds: Any) -> VerificationPlan:
    return plan_with(watch=watch_plan(rounds=rounds, **thresholds))


def rounds_of(*statuses: ProbeStatus) -> list[ProbeResult]:
    return [smoke("home page")] + [health(n, s) for n, s in enumerate(statuses, start=1)]


def test_a_clean_pass_has_no_severity_and_explains_what_passed() -> None:
    verdict = finish(watched(p95_latency_s=2.0), rounds_of(PASS, PASS, PASS, PASS))

    assert verdict.kind is VerdictKind.PASS
    assert verdict.severity is None
    assert verdict.warnings == ()
    assert (verdict.rounds_done, verdict.rounds_planned) == (4, 4)
    assert verdict.decided_at == 1_060.0
    smoke_reason, watch_reason = verdict.reasons
    assert smoke_reason.message == "The smoke check passed."
    assert watch_reason.observed == "0 of 4 probe results failed, p95 100 ms"
    assert watch_reason.condition == ("fails on >= 3 consecutive failed rounds or p95 latency > 2s")


def test_a_probe_that_failed_and_recovered_is_a_p3_warning() -> None:
    verdict = finish(watched(), rounds_of(FAIL, PASS, FAIL, PASS))

    assert verdict.kind is VerdictKind.PASS
    assert verdict.severity is Severity.P3
    (warning,) = verdict.warnings
    assert warning.subject == "health"
    assert warning.severity is Severity.P3
    assert warning.observed == "failed in 2 of 4 rounds"
    assert warning.message.startswith(
        "health failed in 2 rounds between round 1 and round 3 and recovered "
        "(rounds 1-3 of 4, every 15s): HTTP 503"
    )


def test_a_probe_that_failed_in_the_last_round_is_not_said_to_have_recovered() -> None:
    verdict = finish(watched(), rounds_of(PASS, PASS, PASS, FAIL))

    (warning,) = verdict.warnings
    assert warning.message.startswith(
        "health failed in round 4 and had not recovered when the watch ended, though no "
        "threshold was crossed (round 4 of 4, every 15s)"
    )


def test_an_error_rate_above_half_its_threshold_is_a_p2_warning() -> None:
    plan = watched(rounds=10, consecutive_failures=None, error_rate=0.15, min_samples=4)

    verdict = finish(plan, rounds_of(*[PASS] * 7, FAIL, PASS, PASS))

    assert verdict.kind is VerdictKind.PASS
    assert verdict.severity is Severity.P2
    rate_warning, recovered = verdict.warnings
    assert (rate_warning.subject, rate_warning.severity) == ("error_rate", Severity.P2)
    assert rate_warning.condition == "error rate > 7.5% (half the threshold)"
    assert "under the 15% threshold but above half of it" in rate_warning.message
    assert recovered.severity is Severity.P3


def test_an_error_rate_at_most_half_its_threshold_is_only_the_recovery_warning() -> None:
    plan = watched(rounds=10, consecutive_failures=None, error_rate=0.2, min_samples=4)

    verdict = finish(plan, rounds_of(*[PASS] * 7, FAIL, PASS, PASS))

    assert verdict.severity is Severity.P3
    assert [w.subject for w in verdict.warnings] == ["health"]


@pytest.mark.parametrize(
    ("on_no_data", "kind", "severity"),
    [
        ("inconclusive", VerdictKind.INCONCLUSIVE, None),
        ("fail", VerdictKind.FAIL, Severity.P1),
        ("pass", VerdictKind.PASS, Severity.P3),
    ],
)
def test_too_few_samples_follow_on_no_data(
    on_no_data: OnNoData, kind: VerdictKind, severity: Severity | None
) -> None:
    plan = watched(min_samples=4, on_no_data=on_no_data)

    verdict = finish(plan, rounds_of(PASS, NO_DATA, PASS, NO_DATA))

    assert verdict.kind is kind
    assert verdict.severity is severity
    reason = (verdict.warnings if kind is VerdictKind.PASS else verdict.reasons)[0]
    assert reason.subject == "min_samples"
    assert reason.observed == "2 judged samples"
    assert reason.condition == ">= 4 judged samples"
    assert reason.samples == 2
    assert reason.message.startswith(
        "Only 2 of the 4 samples needed were judged (rounds 1-4 of 4, every 15s), "
        f"too few to decide; on_no_data: {on_no_data}"
    )


def test_a_metric_that_never_had_data_follows_on_no_data() -> None:
    plan = plan_with(watch=watch_plan(rounds=2), metrics=("5xx ratio", "alarm"))
    results = [
        *rounds_of(PASS, PASS),
        *(metric("5xx ratio", n, NO_DATA) for n in (1, 2)),
        *(metric("alarm", n) for n in (1, 2)),
    ]

    verdict = finish(plan, results)

    assert verdict.kind is VerdictKind.INCONCLUSIVE
    (reason,) = verdict.reasons
    assert reason.subject == "5xx ratio"
    assert reason.message.startswith(
        "Metric 5xx ratio returned no data in any of its 2 rounds (rounds 1-2 of 2, every 15s)"
    )


def test_a_metric_read_once_without_data_says_its_only_round() -> None:
    plan = plan_with(metrics=("alarm",), metrics_on_no_data="fail")

    verdict = finish(plan, [smoke("home page"), metric("alarm", 1, NO_DATA)])

    assert verdict.kind is VerdictKind.FAIL
    assert verdict.severity is Severity.P1
    assert "no data in its only round" in verdict.reasons[0].message


def test_a_metric_with_gaps_but_some_data_is_a_p3_warning() -> None:
    plan = plan_with(watch=watch_plan(rounds=3), metrics=("alarm",))
    results = [
        *rounds_of(PASS, PASS, PASS),
        metric("alarm", 1),
        metric("alarm", 2, NO_DATA),
    ]

    verdict = finish(plan, results)

    assert verdict.kind is VerdictKind.PASS
    (warning,) = verdict.warnings
    assert warning.observed == "no data in 2 of 3 rounds"
    assert verdict.severity is Severity.P3


def test_a_watch_of_metrics_only_needs_no_probe_samples() -> None:
    plan = plan_with(watch=watch_plan(rounds=2, probes=(), min_samples=5), metrics=("alarm",))

    verdict = finish(plan, [smoke("home page"), metric("alarm", 1), metric("alarm", 2)])

    assert verdict.kind is VerdictKind.PASS
    assert verdict.severity is None
    assert [r.subject for r in verdict.reasons] == ["smoke", "metrics"]


def test_every_reason_is_complete_and_reads_as_a_sentence() -> None:
    plans_and_results = [
        (watched(min_samples=9), rounds_of(PASS, FAIL, PASS, PASS)),
        (watched(error_rate=0.3, min_samples=2), rounds_of(PASS, FAIL, PASS, PASS)),
        (watched(), rounds_of(FAIL, FAIL, FAIL, PASS)),
        (plan_with(smoke_checks=("a", "b")), [smoke("a", FAIL), smoke("b")]),
    ]
    for plan, results in plans_and_results:
        verdict = finish(plan, results)
        for reason in (*verdict.reasons, *verdict.warnings):
            assert reason.observed
            assert reason.condition
            assert reason.window
            assert reason.samples >= 0
            assert reason.window in reason.message or reason.window == "smoke"
            assert reason.message.endswith(".")
            assert ".." not in reason.message
