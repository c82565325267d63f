"""Running counts over a verification's watch rounds: what the thresholds are checked against."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from guard.outcomes import Phase, ProbeResult, ProbeStatus
from guard.verification_plan import VerificationPlan


def nearest_rank_p95(values: Sequence[float]) -> float | None:
    """The 95th percentile by nearest rank: always a value that was actually observed."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(0.95 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class WatchTally:
    """Everything the watch has seen up to its latest round, fed one round at a time, in order.

    Results that name no check of the plan are skipped: they are kept for display by the
    caller, but only what the policy asked for is judged.
    """

    plan: VerificationPlan
    # The newest evidence so far: a verdict is dated by the evidence it rests on, so that a
    # verdict rebuilt from stored results carries the same time as the original.
    latest_at: float
    rounds_seen: int = 0
    judged: int = 0
    failed: int = 0
    # Latencies of passing probes only: failures are counted by the other thresholds, and a
    # fast error page must not pull the p95 down and hide a slowdown.
    pass_latencies: list[float] = field(default_factory=list)
    streak_start: int | None = None
    streak_samples: int = 0
    latest_round_failures: list[ProbeResult] = field(default_factory=list)
    latest_round_unreachable: bool = False
    latest_metric_failures: list[ProbeResult] = field(default_factory=list)
    failed_rounds: dict[str, list[int]] = field(default_factory=dict)
    last_failure: dict[str, ProbeResult] = field(default_factory=dict)
    latest_failure: ProbeResult | None = None
    metrics_with_data: set[str] = field(default_factory=set)
    metric_readings: int = 0
    metric_gap_rounds: dict[str, int] = field(default_factory=dict)

    def add_round(self, number: int, results: Sequence[ProbeResult]) -> None:
        """Count round `number`; `results` are that round's results in judging order."""
        probes = set(self.plan.watch_probe_names)
        metrics = set(self.plan.metric_names)
        watch = [r for r in results if r.phase is Phase.WATCH and r.name in probes]
        readings = [r for r in results if r.phase is Phase.METRIC and r.name in metrics]
        self.rounds_seen = number
        self.latest_at = max([self.latest_at, *(r.at for r in watch + readings)])
        self._count_probes(number, watch)
        self.latest_metric_failures = [r for r in readings if r.failed]
        read = {r.name for r in readings if r.status is not ProbeStatus.NO_DATA}
        self.metrics_with_data |= read
        self.metric_readings += sum(r.status is not ProbeStatus.NO_DATA for r in readings)
        for name in metrics - read:
            self.metric_gap_rounds[name] = self.metric_gap_rounds.get(name, 0) + 1

    def _count_probes(self, number: int, watch: list[ProbeResult]) -> None:
        failures = [r for r in watch if r.failed]
        for result in watch:
            if result.status is ProbeStatus.NO_DATA:
                continue
            self.judged += 1
            if result.failed:
                self.failed += 1
            elif result.latency_s is not None:
                self.pass_latencies.append(result.latency_s)
        for result in failures:
            rounds = self.failed_rounds.setdefault(result.name, [])
            if not rounds or rounds[-1] != number:
                rounds.append(number)
            self.last_failure[result.name] = result
            self.latest_failure = result
        if failures:
            if self.streak_start is None:
                self.streak_start, self.streak_samples = number, 0
            self.streak_samples += len(watch)
        else:
            self.streak_start, self.streak_samples = None, 0
        self.latest_round_failures = failures
        self.latest_round_unreachable = bool(watch) and all(r.unreachable for r in watch)

    @property
    def streak(self) -> int:
        """Failed rounds in a row, ending with the latest round."""
        return 0 if self.streak_start is None else self.rounds_seen - self.streak_start + 1

    @property
    def error_rate(self) -> float:
        return self.failed / self.judged if self.judged else 0.0

    @property
    def p95_latency_s(self) -> float | None:
        return nearest_rank_p95(self.pass_latencies)

    @property
    def min_samples(self) -> int:
        return self.plan.watch.min_samples if self.plan.watch is not None else 1

    @property
    def enough_samples(self) -> bool:
        return self.judged >= self.min_samples

    @property
    def enough_latencies(self) -> bool:
        return len(self.pass_latencies) >= self.min_samples
