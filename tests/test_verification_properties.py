"""Properties of the verdict rules that must hold for any results, checked with hypothesis."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guard.outcomes import ProbeResult, ProbeStatus, Severity, Verdict, VerdictKind
from guard.verification import Verification, VerificationPlan, assess
from tests.test_verification_support import metric, plan_with, probe, smoke, watch_plan

PASS, FAIL, NO_DATA = ProbeStatus.PASS, ProbeStatus.FAIL, ProbeStatus.NO_DATA
SMOKE_AT = 1_000.0
INTERVAL_S = 15.0
# Fixed examples and no deadline: the same cases on every CI run, never a timing flake.
DETERMINISTIC = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
LATENCIES = st.none() | st.sampled_from([0.05, 0.3, 0.8, 2.0])


def final_verdict(plan: VerificationPlan, results: Sequence[ProbeResult]) -> Verdict:
    verdict = assess(
        plan,
        [smoke("home page", at=SMOKE_AT), *results],
        started_at=SMOKE_AT,
        smoke_recorded_at=SMOKE_AT,
        finished_rounds=plan.rounds_planned,
    )
    assert verdict is not None
    return verdict


def severity_rank(verdict: Verdict) -> int:
    return -1 if verdict.severity is None else verdict.severity.rank


@st.composite
def plans(draw: st.DrawFn) -> VerificationPlan:
    """Watch plans whose on_no_data never fails: more evidence may rightly overturn that FAIL."""
    watch = watch_plan(
        rounds=draw(st.integers(1, 8)),
        interval_s=INTERVAL_S,
        probes=draw(st.sampled_from([("health",), ("health", "api")])),
        consecutive_failures=draw(st.none() | st.integers(1, 4)),
        error_rate=draw(st.none() | st.sampled_from([0.0, 0.1, 0.25, 0.5])),
        p95_latency_s=draw(st.none() | st.sampled_from([0.2, 0.5, 1.0])),
        min_samples=draw(st.integers(1, 6)),
        on_no_data=draw(st.sampled_from(["inconclusive", "pass"])),
    )
    metrics = draw(st.sampled_from([(), ("5xx ratio",)]))
    return plan_with(smoke_checks=("home page",), watch=watch, metrics=metrics)


@st.composite
def watch_results(
    draw: st.DrawFn, plan: VerificationPlan, *, reachable: bool = False
) -> list[ProbeResult]:
    """Every round's results; all results of a round share one time."""
    results = []
    for number in range(1, plan.rounds_planned + 1):
        at = SMOKE_AT + INTERVAL_S * number
        for name in plan.watch_probe_names:
            status = draw(st.sampled_from([PASS, PASS, FAIL, NO_DATA]))
            down = status is FAIL and not reachable and draw(st.booleans())
            latency = None if down else draw(LATENCIES)
            results.append(probe(name, number, status, at=at, latency_s=latency, unreachable=down))
        for name in plan.metric_names:
            status = draw(st.sampled_from([PASS, PASS, FAIL, NO_DATA]))
            results.append(metric(name, number, status, at=at))
    return results


@st.composite
def failing_samples(
    draw: st.DrawFn, plan: VerificationPlan, *, reachable: bool = False
) -> list[ProbeResult]:
    """Further failed results, each in some round of the plan."""
    extra = []
    for _ in range(draw(st.integers(1, 4))):
        number = draw(st.integers(1, plan.rounds_planned))
        at = SMOKE_AT + INTERVAL_S * number
        metric_fails = draw(st.booleans())
        if plan.metric_names and metric_fails:
            extra.append(metric(plan.metric_names[0], number, FAIL, value=1.0, at=at))
            continue
        name = draw(st.sampled_from(plan.watch_probe_names))
        down = not reachable and draw(st.booleans())
        latency = None if down else draw(LATENCIES)
        extra.append(probe(name, number, FAIL, at=at, latency_s=latency, unreachable=down))
    return extra


@DETERMINISTIC
@given(st.data())
def test_adding_failing_samples_never_turns_a_fail_into_a_pass(data: st.DataObject) -> None:
    plan = data.draw(plans())
    results = data.draw(watch_results(plan))
    before = final_verdict(plan, results)

    after = final_verdict(plan, results + data.draw(failing_samples(plan)))

    if before.kind is VerdictKind.FAIL:
        assert after.kind is VerdictKind.FAIL
        assert after.rounds_done <= before.rounds_done


@DETERMINISTIC
@given(st.data())
def test_the_verdict_does_not_depend_on_the_order_results_arrive_in(
    data: st.DataObject,
) -> None:
    plan = data.draw(plans())
    results = data.draw(watch_results(plan))
    shuffled = data.draw(st.permutations(results))

    assert final_verdict(plan, shuffled) == final_verdict(plan, results)


@DETERMINISTIC
@given(st.data())
def test_recording_rounds_in_any_order_within_them_reaches_the_same_verdict(
    data: st.DataObject,
) -> None:
    plan = data.draw(plans())
    results = data.draw(watch_results(plan))
    verification = Verification(plan, started_at=SMOKE_AT)
    verification.record_smoke([smoke("home page", at=SMOKE_AT)], SMOKE_AT)
    for number in range(1, plan.rounds_planned + 1):
        if verification.verdict is not None:
            break
        in_round = data.draw(st.permutations([r for r in results if r.round == number]))
        verification.record_round(number, in_round, SMOKE_AT + INTERVAL_S * number)

    assert verification.verdict == final_verdict(plan, results)
    restored = Verification.restore(
        plan,
        SMOKE_AT,
        verification.results[::-1],
        verification.smoke_recorded_at,
        verification.rounds_done,
    )
    assert restored.to_dict() == verification.to_dict()
    assert restored.verdict == verification.verdict


@DETERMINISTIC
@given(st.data())
def test_severity_never_decreases_as_more_probes_fail(data: st.DataObject) -> None:
    # Unreachable results are left out: a reachable failure rightly turns "unreachable" (P0)
    # into "failing" (P1), which says nothing about more failures meaning less severity.
    plan = data.draw(plans())
    results = data.draw(watch_results(plan, reachable=True))
    before = final_verdict(plan, results)

    after = final_verdict(plan, results + data.draw(failing_samples(plan, reachable=True)))

    assert severity_rank(after) >= severity_rank(before)


@DETERMINISTIC
@given(
    checks=st.integers(1, 5).flatmap(
        lambda n: st.tuples(
            st.just(n), st.sets(st.integers(0, n - 1)), st.sets(st.integers(0, n - 1))
        )
    ),
    unreachable=st.booleans(),
)
def test_severity_never_decreases_as_more_smoke_checks_fail(
    checks: tuple[int, set[int], set[int]], unreachable: bool
) -> None:
    count, failing, more = checks
    plan = plan_with(smoke_checks=tuple(f"check {i}" for i in range(count)))

    def judged(failed: set[int]) -> Verdict:
        results = [
            smoke(
                f"check {i}", FAIL if i in failed else PASS, unreachable=unreachable and i in failed
            )
            for i in range(count)
        ]
        verdict = assess(plan, results, started_at=0, smoke_recorded_at=0, finished_rounds=0)
        assert verdict is not None
        return verdict

    before, after = judged(failing), judged(failing | more)

    assert severity_rank(after) >= severity_rank(before)
    if failing:
        assert after.kind is VerdictKind.FAIL
        assert after.severity is (Severity.P0 if len(failing | more) == count else Severity.P1)
