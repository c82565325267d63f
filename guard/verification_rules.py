"""The verdict rules: smoke checks, watch thresholds, metrics, then missing evidence."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from guard import verification_reasons as say
from guard.outcomes import Phase, ProbeResult, ProbeStatus, Reason, Severity, Verdict, VerdictKind
from guard.verification_plan import VerificationPlan
from guard.verification_tally import WatchTally


def result_order(result: ProbeResult) -> tuple[object, ...]:
    """A total order on results, so that judging never depends on the order they arrived in."""

    def optional(value: float | None) -> tuple[bool, float]:
        return (value is None, 0.0 if value is None else value)

    return (
        result.at,
        result.round,
        result.phase.value,
        result.name,
        result.status.value,
        optional(result.latency_s),
        optional(result.value),
        result.unreachable,
        result.summary,
        result.detail,
        optional(None if result.status_code is None else float(result.status_code)),
        result.evidence,
    )


def sort_results(results: Iterable[ProbeResult]) -> list[ProbeResult]:
    return sorted(results, key=result_order)


def assess(
    plan: VerificationPlan,
    results: Iterable[ProbeResult],
    *,
    started_at: float,
    smoke_recorded_at: float | None,
    finished_rounds: int,
) -> Verdict | None:
    """The verdict the recorded results support, or None while the verification must go on.

    `smoke_recorded_at` is None until the smoke results are in; `finished_rounds` counts the
    watch rounds recorded. Thresholds are checked after every round in turn, so a verdict
    rebuilt from stored results is the one reached while they came in: the first round that
    crossed a threshold decides, and the verdict is dated by the evidence it rests on.
    """
    if plan.checks_nothing:
        return Verdict(VerdictKind.INCONCLUSIVE, (say.nothing_to_check(),), None, started_at)
    if smoke_recorded_at is None:
        return None
    ordered = sort_results(results)
    smoke = [r for r in ordered if r.phase is Phase.SMOKE]
    smoke_verdict = _judge_smoke(plan, smoke, smoke_recorded_at)
    if smoke_verdict is not None:
        return smoke_verdict
    tally = WatchTally(plan, latest_at=smoke_recorded_at)
    for number in range(1, finished_rounds + 1):
        tally.add_round(number, [r for r in ordered if r.round == number])
        crossed = _crossed_thresholds(plan, tally)
        if crossed:
            return _verdict(VerdictKind.FAIL, crossed, (), plan, tally)
    if finished_rounds < plan.rounds_planned:
        return None
    return _end_of_watch(plan, smoke, tally)


def _verdict(
    kind: VerdictKind,
    reasons: Iterable[Reason],
    warnings: Iterable[Reason],
    plan: VerificationPlan,
    tally: WatchTally,
) -> Verdict:
    reasons, warnings = tuple(reasons), tuple(warnings)
    severity: Severity | None = None
    if kind is VerdictKind.FAIL:
        severity = max(reason.severity for reason in reasons)
    elif kind is VerdictKind.PASS and warnings:
        severity = max(warning.severity for warning in warnings)
    return Verdict(
        kind,
        reasons,
        severity,
        decided_at=tally.latest_at,
        rounds_done=tally.rounds_seen,
        rounds_planned=plan.rounds_planned,
        warnings=warnings,
    )


def _judge_smoke(
    plan: VerificationPlan, smoke: Sequence[ProbeResult], recorded_at: float
) -> Verdict | None:
    """FAIL at once when a smoke check failed; INCONCLUSIVE when one could not be judged."""
    planned = list(dict.fromkeys(plan.smoke_checks))
    by_check = {name: [r for r in smoke if r.name == name] for name in planned}
    failures = {
        name: next(r for r in runs if r.failed)
        for name, runs in by_check.items()
        if any(r.failed for r in runs)
    }
    if failures:
        judged = [r for runs in by_check.values() for r in runs]
        down = len(failures) == len(planned) or all(r.unreachable for r in judged)
        severity = Severity.P0 if down else Severity.P1
        reasons = tuple(say.smoke_failed(n, r, severity) for n, r in failures.items())
        return Verdict(VerdictKind.FAIL, reasons, severity, recorded_at, 0, plan.rounds_planned)
    unjudged = [
        name
        for name, runs in by_check.items()
        if not runs or any(r.status is ProbeStatus.NO_DATA for r in runs)
    ]
    if not unjudged:
        return None
    reasons = tuple(say.smoke_unjudged(name, by_check[name]) for name in unjudged)
    return Verdict(VerdictKind.INCONCLUSIVE, reasons, None, recorded_at, 0, plan.rounds_planned)


def _crossed_thresholds(plan: VerificationPlan, tally: WatchTally) -> list[Reason]:
    """Every threshold the watch has crossed by its latest round; empty while none is."""
    crossed = [say.metric_failed(plan, tally, r) for r in tally.latest_metric_failures]
    watch = plan.watch
    if watch is None:
        return crossed
    if watch.consecutive_failures is not None and tally.streak >= watch.consecutive_failures:
        crossed.append(say.streak_crossed(plan, tally, watch.consecutive_failures))
    if (
        watch.error_rate is not None
        and tally.enough_samples
        and tally.error_rate > watch.error_rate
    ):
        crossed.append(say.error_rate_crossed(plan, tally, watch.error_rate))
    p95 = tally.p95_latency_s
    if (
        watch.p95_latency_s is not None
        and p95 is not None
        and tally.enough_latencies
        and p95 > watch.p95_latency_s
    ):
        crossed.append(say.p95_crossed(plan, tally, p95, watch.p95_latency_s))
    return crossed


def _end_of_watch(
    plan: VerificationPlan, smoke: Sequence[ProbeResult], tally: WatchTally
) -> Verdict:
    """Every round is in and no threshold was crossed: PASS, unless evidence is missing."""
    gap_severity = Severity.P1 if plan.on_no_data == "fail" else Severity.P3
    gaps = []
    if plan.watch_probe_names and not tally.enough_samples:
        gaps.append(say.too_few_samples(plan, tally, gap_severity))
    gaps += [
        say.metric_without_data(plan, name, gap_severity)
        for name in dict.fromkeys(plan.metric_names)
        if name not in tally.metrics_with_data
    ]
    warnings = _warnings(plan, tally)
    if gaps and plan.on_no_data == "inconclusive":
        return _verdict(VerdictKind.INCONCLUSIVE, gaps, warnings, plan, tally)
    if gaps and plan.on_no_data == "fail":
        return _verdict(VerdictKind.FAIL, gaps, warnings, plan, tally)
    passed = []
    if plan.smoke_checks:
        passed.append(say.smoke_passed(len(set(plan.smoke_checks)), len(smoke)))
    if plan.watch_probe_names:
        passed.append(say.watch_passed(plan, tally))
    if plan.metric_names:
        passed.append(say.metrics_passed(plan, tally.metric_readings))
    return _verdict(VerdictKind.PASS, passed, [*gaps, *warnings], plan, tally)


def _warnings(plan: VerificationPlan, tally: WatchTally) -> list[Reason]:
    """What did not decide the verdict but a person should know: degradation, recoveries, gaps."""
    warnings = []
    threshold = plan.watch.error_rate if plan.watch is not None else None
    if threshold and tally.enough_samples and tally.error_rate > threshold / 2:
        warnings.append(say.error_rate_warning(plan, tally, threshold))
    warnings += [
        say.recovered(plan, name, tally.failed_rounds[name], tally.last_failure[name])
        for name in dict.fromkeys(plan.watch_probe_names)
        if name in tally.failed_rounds
    ]
    warnings += [
        say.metric_gaps(plan, name, tally.metric_gap_rounds[name])
        for name in dict.fromkeys(plan.metric_names)
        if name in tally.metrics_with_data and tally.metric_gap_rounds.get(name)
    ]
    return warnings
