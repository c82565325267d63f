"""The words of a verdict: each reason as observed value, condition, window and a sentence."""

from __future__ import annotations

from collections.abc import Sequence

from guard.outcomes import ProbeResult, Reason, Severity, format_latency
from guard.policy.types import format_duration, format_percentage
from guard.verification_plan import OnNoData, VerificationPlan
from guard.verification_tally import WatchTally

SMOKE_WINDOW = "smoke"
SMOKE_CONDITION = "every expectation of the check holds"
SMOKE_FAILED = "Smoke check {name} failed: {detail}."
SMOKE_UNJUDGED = (
    "Smoke check {name} could not be judged ({detail}), so the deployment was neither passed "
    "nor failed; run the verification again once the check can run."
)
NOTHING_TO_CHECK = (
    "The environment has no smoke checks, watch probes or metrics, so there was nothing to "
    "check; add some to its policy in .github/deploy-guard.yml."
)
STREAK = "{names} {verb} {run} ({window}): {detail}."
ERROR_RATE = (
    "The watch probes' error rate reached {rate} ({failed} of {judged} probe results failed, "
    "{window}), above the {threshold} threshold; last failure: {detail}."
)
P95_DEGRADED = (
    "The p95 latency of successful watch probes was {p95} over {samples} samples ({window}), "
    "above the {threshold} threshold, while no probe failed: degraded, not broken."
)
P95_BROKEN = (
    "The p95 latency of successful watch probes was {p95} over {samples} samples ({window}), "
    "above the {threshold} threshold, and probes failed as well."
)
METRIC_CONDITION = "its fail_when condition does not hold"
METRIC_FAILED = "Metric {name} failed with {observed} in {window}: {detail}."
TOO_FEW_SAMPLES = (
    "Only {judged} of the {needed} samples needed were judged ({window}), too few to decide; "
    "{consequence}."
)
METRIC_NO_DATA = (
    "Metric {name} returned no data in {rounds} ({window}), so it could not be judged; "
    "{consequence}."
)
ON_NO_DATA_CONSEQUENCES: dict[OnNoData, str] = {
    "inconclusive": "on_no_data: inconclusive leaves the verdict to a person",
    "fail": "on_no_data: fail counts missing evidence as a failure",
    "pass": "on_no_data: pass lets the deployment pass without it",
}
ERROR_RATE_WARNING = (
    "The watch probes' error rate was {rate} ({failed} of {judged} probe results failed, "
    "{window}): under the {threshold} threshold but above half of it, so the service is "
    "degraded; fix it forward."
)
RECOVERED = "{name} failed in {rounds} and recovered ({window}): {detail}."
FAILED_LAST = (
    "{name} failed in {rounds} and had not recovered when the watch ended, though no "
    "threshold was crossed ({window}): {detail}."
)
METRIC_GAPS = "Metric {name} returned no data in {count} of the {total} rounds ({window})."
SMOKE_PASSED = "All {count} smoke checks passed."
SMOKE_PASSED_ONE = "The smoke check passed."
WATCH_PASSED = "The watch probes stayed within their thresholds ({window}): {observed}."
METRICS_PASSED = "Every metric stayed clear of its fail_when condition ({window})."


def _part(text: str) -> str:
    """Text to embed in a sentence that supplies its own full stop."""
    return text.strip().rstrip(".")


def detail(result: ProbeResult) -> str:
    return _part(result.detail or result.summary or f"{result.name}: {result.status.value}")


def percent(fraction: float) -> str:
    return f"{fraction * 100:.3g}%"


def rounds_window(plan: VerificationPlan, first: int, last: int) -> str:
    span = f"round {first}" if first == last else f"rounds {first}-{last}"
    if plan.watch is None:
        return f"{span} of {plan.rounds_planned}, read once after the smoke checks"
    return f"{span} of {plan.rounds_planned}, every {format_duration(plan.interval_s)}"


def whole_watch(plan: VerificationPlan) -> str:
    return rounds_window(plan, 1, plan.rounds_planned)


def nothing_to_check() -> Reason:
    return Reason(
        "policy", "no checks", "at least one check", "none", 0, NOTHING_TO_CHECK, Severity.P3
    )


def smoke_failed(name: str, result: ProbeResult, severity: Severity) -> Reason:
    return Reason(
        subject=name,
        observed=result.summary or result.status.value,
        condition=SMOKE_CONDITION,
        window=SMOKE_WINDOW,
        samples=1,
        message=SMOKE_FAILED.format(name=name, detail=detail(result)),
        severity=severity,
    )


def smoke_unjudged(name: str, runs: Sequence[ProbeResult]) -> Reason:
    why = detail(runs[0]) if runs else "no result was recorded"
    return Reason(
        subject=name,
        observed="no data",
        condition=SMOKE_CONDITION,
        window=SMOKE_WINDOW,
        samples=len(runs),
        message=SMOKE_UNJUDGED.format(name=name, detail=why),
        severity=Severity.P3,
    )


def metric_failed(plan: VerificationPlan, tally: WatchTally, result: ProbeResult) -> Reason:
    observed = f"{result.value:g}" if result.value is not None else (result.summary or "failing")
    window = rounds_window(plan, tally.rounds_seen, tally.rounds_seen)
    return Reason(
        subject=result.name,
        observed=observed,
        condition=METRIC_CONDITION,
        window=window,
        samples=1,
        message=METRIC_FAILED.format(
            name=result.name, observed=observed, window=window, detail=detail(result)
        ),
        severity=Severity.P1,
    )


def streak_crossed(plan: VerificationPlan, tally: WatchTally, limit: int) -> Reason:
    first, last = tally.rounds_seen - tally.streak + 1, tally.rounds_seen
    window = rounds_window(plan, first, last)
    span = f"round {last}" if first == last else f"rounds {first}-{last}"
    down = tally.latest_round_unreachable
    plural = "s" if tally.streak > 1 else ""
    return Reason(
        subject="consecutive_failures",
        observed=f"{tally.streak} failed round{plural} in a row ({span})",
        condition=f">= {limit} consecutive failed rounds",
        window=window,
        samples=tally.streak_samples,
        message=STREAK.format(
            names=", ".join(dict.fromkeys(r.name for r in tally.latest_round_failures)),
            verb="could not be reached" if down else "failed",
            run=f"in round {last}" if first == last else f"{tally.streak} rounds in a row",
            window=window,
            detail=detail(tally.latest_round_failures[-1]),
        ),
        severity=Severity.P0 if down else Severity.P1,
    )


def _error_rate_observed(tally: WatchTally) -> str:
    return f"{percent(tally.error_rate)} ({tally.failed} of {tally.judged} failed)"


def error_rate_crossed(plan: VerificationPlan, tally: WatchTally, threshold: float) -> Reason:
    window = rounds_window(plan, 1, tally.rounds_seen)
    last = tally.latest_failure
    return Reason(
        subject="error_rate",
        observed=_error_rate_observed(tally),
        condition=f"error rate > {format_percentage(threshold)}",
        window=window,
        samples=tally.judged,
        message=ERROR_RATE.format(
            rate=percent(tally.error_rate),
            failed=tally.failed,
            judged=tally.judged,
            window=window,
            threshold=format_percentage(threshold),
            detail=detail(last) if last is not None else "none recorded",
        ),
        severity=Severity.P1,
    )


def error_rate_warning(plan: VerificationPlan, tally: WatchTally, threshold: float) -> Reason:
    window = rounds_window(plan, 1, tally.rounds_seen)
    return Reason(
        subject="error_rate",
        observed=_error_rate_observed(tally),
        condition=f"error rate > {format_percentage(threshold / 2)} (half the threshold)",
        window=window,
        samples=tally.judged,
        message=ERROR_RATE_WARNING.format(
            rate=percent(tally.error_rate),
            failed=tally.failed,
            judged=tally.judged,
            window=window,
            threshold=format_percentage(threshold),
        ),
        severity=Severity.P2,
    )


def p95_crossed(plan: VerificationPlan, tally: WatchTally, p95: float, threshold: float) -> Reason:
    window = rounds_window(plan, 1, tally.rounds_seen)
    degraded = tally.failed == 0
    samples = len(tally.pass_latencies)
    return Reason(
        subject="p95_latency",
        observed=f"p95 {format_latency(p95)} over {samples} samples",
        condition=f"p95 latency > {format_duration(threshold)}",
        window=window,
        samples=samples,
        message=(P95_DEGRADED if degraded else P95_BROKEN).format(
            p95=format_latency(p95),
            samples=samples,
            window=window,
            threshold=format_duration(threshold),
        ),
        severity=Severity.P2 if degraded else Severity.P1,
    )


def too_few_samples(plan: VerificationPlan, tally: WatchTally, severity: Severity) -> Reason:
    window = whole_watch(plan)
    return Reason(
        subject="min_samples",
        observed=f"{tally.judged} judged samples",
        condition=f">= {tally.min_samples} judged samples",
        window=window,
        samples=tally.judged,
        message=TOO_FEW_SAMPLES.format(
            judged=tally.judged,
            needed=tally.min_samples,
            window=window,
            consequence=ON_NO_DATA_CONSEQUENCES[plan.on_no_data],
        ),
        severity=severity,
    )


def metric_without_data(plan: VerificationPlan, name: str, severity: Severity) -> Reason:
    window = whole_watch(plan)
    count = plan.rounds_planned
    return Reason(
        subject=name,
        observed=f"no data in {count} round{'s' if count > 1 else ''}",
        condition="at least one reading with data",
        window=window,
        samples=0,
        message=METRIC_NO_DATA.format(
            name=name,
            rounds="its only round" if count == 1 else f"any of its {count} rounds",
            window=window,
            consequence=ON_NO_DATA_CONSEQUENCES[plan.on_no_data],
        ),
        severity=severity,
    )


def recovered(plan: VerificationPlan, name: str, rounds: list[int], last: ProbeResult) -> Reason:
    window = rounds_window(plan, rounds[0], rounds[-1])
    which = (
        f"round {rounds[0]}"
        if len(rounds) == 1
        else f"{len(rounds)} rounds between round {rounds[0]} and round {rounds[-1]}"
    )
    return Reason(
        subject=name,
        observed=f"failed in {len(rounds)} of {plan.rounds_planned} rounds",
        condition="no failed probe",
        window=window,
        samples=len(rounds),
        message=(FAILED_LAST if rounds[-1] == plan.rounds_planned else RECOVERED).format(
            name=name, rounds=which, window=window, detail=detail(last)
        ),
        severity=Severity.P3,
    )


def metric_gaps(plan: VerificationPlan, name: str, count: int) -> Reason:
    window = whole_watch(plan)
    return Reason(
        subject=name,
        observed=f"no data in {count} of {plan.rounds_planned} rounds",
        condition="a reading with data every round",
        window=window,
        samples=plan.rounds_planned - count,
        message=METRIC_GAPS.format(
            name=name, count=count, total=plan.rounds_planned, window=window
        ),
        severity=Severity.P3,
    )


def smoke_passed(count: int, samples: int) -> Reason:
    return Reason(
        subject="smoke",
        observed=f"{count} of {count} passed",
        condition="every smoke check passes",
        window=SMOKE_WINDOW,
        samples=samples,
        message=SMOKE_PASSED.format(count=count) if count > 1 else SMOKE_PASSED_ONE,
        severity=Severity.P3,
    )


def watch_passed(plan: VerificationPlan, tally: WatchTally) -> Reason:
    watch = plan.watch
    assert watch is not None  # only a plan with watch probes has a watch to report
    observed = f"{tally.failed} of {tally.judged} probe results failed"
    p95 = tally.p95_latency_s
    if p95 is not None:
        observed += f", p95 {format_latency(p95)}"
    limits = [
        f">= {watch.consecutive_failures} consecutive failed rounds"
        if watch.consecutive_failures is not None
        else "",
        f"error rate > {format_percentage(watch.error_rate)}"
        if watch.error_rate is not None
        else "",
        f"p95 latency > {format_duration(watch.p95_latency_s)}"
        if watch.p95_latency_s is not None
        else "",
    ]
    window = whole_watch(plan)
    return Reason(
        subject="watch",
        observed=observed,
        condition="fails on " + " or ".join(filter(None, limits)) if any(limits) else "none set",
        window=window,
        samples=tally.judged,
        message=WATCH_PASSED.format(window=window, observed=observed),
        severity=Severity.P3,
    )


def metrics_passed(plan: VerificationPlan, readings: int) -> Reason:
    window = whole_watch(plan)
    return Reason(
        subject="metrics",
        observed=f"{len(set(plan.metric_names))} metrics clear in every reading",
        condition=METRIC_CONDITION,
        window=window,
        samples=readings,
        message=METRICS_PASSED.format(window=window),
        severity=Severity.P3,
    )
