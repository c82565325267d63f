"""What one verification will check, taken from a policy environment and storable as plain data."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import TypeAdapter

from guard.policy.models import Environment

OnNoData = Literal["inconclusive", "fail", "pass"]


@dataclass(frozen=True)
class WatchPlan:
    """The bake window: rounds of watch probes (and metric reads) and the thresholds that end it."""

    interval_s: float
    duration_s: float
    rounds: int
    probe_names: tuple[str, ...]
    consecutive_failures: int | None
    error_rate: float | None
    p95_latency_s: float | None
    min_samples: int
    on_no_data: OnNoData

    def __post_init__(self) -> None:
        if not (self.interval_s > 0 and self.duration_s > 0):
            raise ValueError("a watch needs a positive interval and duration")
        if self.rounds < 1:
            raise ValueError("a watch runs at least one round")
        if self.min_samples < 1:
            raise ValueError("min_samples is at least 1")
        if self.consecutive_failures is not None and self.consecutive_failures < 1:
            raise ValueError("consecutive_failures is at least 1")
        if self.error_rate is not None and not 0 <= self.error_rate <= 1:
            raise ValueError("error_rate is a fraction between 0 and 1")


def count_rounds(duration_s: float, interval_s: float) -> int:
    """ceil(duration / interval), immune to float noise such as 0.7 / 0.1 = 6.999..."""
    return max(1, math.ceil(round(duration_s / interval_s, 9)))


@dataclass(frozen=True)
class VerificationPlan:
    """Smoke check names, the watch (if any) and metric names: everything the engine judges by.

    Metric conditions are judged by the probes (results arrive as pass, fail or no data), so the
    plan only names the metrics. Without a watch, metrics are read once, in one round right after
    the smoke checks.
    """

    smoke_checks: tuple[str, ...]
    watch: WatchPlan | None
    metric_names: tuple[str, ...]
    # What missing metric data means when there is no watch to say it (--skip-watch, or a
    # policy with metrics but no watch): the watch's own setting when the policy has one.
    metrics_on_no_data: OnNoData = "inconclusive"

    @classmethod
    def from_environment(cls, env: Environment, *, skip_watch: bool = False) -> VerificationPlan:
        metric_names = tuple(metric.name for metric in env.metrics)
        on_no_data: OnNoData = env.watch.on_no_data if env.watch else "inconclusive"
        watch = None
        # A watch with neither probes nor metrics would only wait out its window for nothing.
        if env.watch is not None and not skip_watch and (env.watch.probes or metric_names):
            thresholds = env.watch.fail_when
            watch = WatchPlan(
                interval_s=env.watch.interval,
                duration_s=env.watch.duration,
                rounds=count_rounds(env.watch.duration, env.watch.interval),
                probe_names=tuple(probe.name for probe in env.watch.probes),
                consecutive_failures=thresholds.consecutive_failures,
                error_rate=thresholds.error_rate,
                p95_latency_s=thresholds.p95_latency,
                min_samples=env.watch.min_samples,
                on_no_data=env.watch.on_no_data,
            )
        return cls(
            smoke_checks=tuple(check.name for check in env.smoke),
            watch=watch,
            metric_names=metric_names,
            metrics_on_no_data=on_no_data,
        )

    @property
    def rounds_planned(self) -> int:
        if self.watch is not None:
            return self.watch.rounds
        return 1 if self.metric_names else 0

    @property
    def interval_s(self) -> float:
        """Seconds between rounds; 0 when the only round is a single metric read."""
        return self.watch.interval_s if self.watch is not None else 0.0

    @property
    def on_no_data(self) -> OnNoData:
        return self.watch.on_no_data if self.watch is not None else self.metrics_on_no_data

    @property
    def watch_probe_names(self) -> tuple[str, ...]:
        return self.watch.probe_names if self.watch is not None else ()

    @property
    def checks_nothing(self) -> bool:
        return not self.smoke_checks and self.rounds_planned == 0

    def round_due_at(self, number: int, watch_started_at: float) -> float:
        return watch_started_at + (number - 1) * self.interval_s

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data, for a database row."""
        data: dict[str, Any] = _PLAN_ADAPTER.dump_python(self, mode="json")
        return data

    @classmethod
    def from_dict(cls, data: object) -> VerificationPlan:
        """The plan `to_dict` stored; a ValueError (a ValidationError) says what is wrong."""
        return _PLAN_ADAPTER.validate_python(data)


_PLAN_ADAPTER = TypeAdapter(VerificationPlan)
