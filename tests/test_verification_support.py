"""Builders shared by the verification and severity tests: results, plans, a clock; no tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from guard.outcomes import Phase, ProbeResult, ProbeStatus
from guard.policy.models import Environment, Policy
from guard.verification import VerificationPlan, WatchPlan
from guard.verification_plan import OnNoData

EXAMPLE_POLICY = Path(__file__).parent / "fixtures" / "policies" / "example.yml"
HEALTH_URL = "https://shop.example.com/health"


def example_policy() -> Policy:
    return Policy.model_validate(yaml.safe_load(EXAMPLE_POLICY.read_text(encoding="utf-8")))


def example_environment(name: str = "production") -> Environment:
    return example_policy().environments[name]


@dataclass
class ManualClock:
    """A clock the test moves by hand."""

    now: float = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def smoke(
    name: str,
    status: ProbeStatus = ProbeStatus.PASS,
    *,
    at: float = 1_000.0,
    unreachable: bool = False,
    summary: str = "",
    detail: str = "",
) -> ProbeResult:
    return ProbeResult(
        name=name,
        phase=Phase.SMOKE,
        status=status,
        at=at,
        unreachable=unreachable,
        summary=summary or ("HTTP 200" if status is ProbeStatus.PASS else "HTTP 503"),
        detail=detail,
    )


def probe(
    name: str,
    number: int,
    status: ProbeStatus = ProbeStatus.PASS,
    *,
    at: float | None = None,
    latency_s: float | None = 0.1,
    unreachable: bool = False,
    detail: str = "",
) -> ProbeResult:
    failed = status is ProbeStatus.FAIL
    return ProbeResult(
        name=name,
        phase=Phase.WATCH,
        status=status,
        at=at if at is not None else 1_000.0 + 15.0 * number,
        round=number,
        latency_s=latency_s,
        unreachable=unreachable,
        summary="HTTP 503" if failed else "HTTP 200",
        detail=detail or (f"HTTP 503 from {HEALTH_URL}, expected 200" if failed else ""),
        status_code=503 if failed else 200,
    )


def health(
    number: int,
    status: ProbeStatus = ProbeStatus.PASS,
    *,
    latency_s: float | None = 0.1,
    unreachable: bool = False,
) -> ProbeResult:
    return probe("health", number, status, latency_s=latency_s, unreachable=unreachable)


def metric(
    name: str,
    number: int,
    status: ProbeStatus = ProbeStatus.PASS,
    *,
    value: float | None = 0.01,
    at: float | None = None,
    detail: str = "",
) -> ProbeResult:
    return ProbeResult(
        name=name,
        phase=Phase.METRIC,
        status=status,
        at=at if at is not None else 1_000.0 + 15.0 * number,
        round=number,
        value=None if status is ProbeStatus.NO_DATA else value,
        summary="no data" if status is ProbeStatus.NO_DATA else f"{value}",
        detail=detail,
    )


def watch_plan(
    *,
    rounds: int = 40,
    interval_s: float = 15.0,
    probes: tuple[str, ...] = ("health",),
    consecutive_failures: int | None = 3,
    error_rate: float | None = None,
    p95_latency_s: float | None = None,
    min_samples: int = 1,
    on_no_data: OnNoData = "inconclusive",
) -> WatchPlan:
    return WatchPlan(
        interval_s=interval_s,
        duration_s=interval_s * rounds,
        rounds=rounds,
        probe_names=probes,
        consecutive_failures=consecutive_failures,
        error_rate=error_rate,
        p95_latency_s=p95_latency_s,
        min_samples=min_samples,
        on_no_data=on_no_data,
    )


def plan_with(
    *,
    smoke_checks: tuple[str, ...] = ("home page",),
    watch: WatchPlan | None = None,
    metrics: tuple[str, ...] = (),
    metrics_on_no_data: OnNoData = "inconclusive",
) -> VerificationPlan:
    return VerificationPlan(smoke_checks, watch, metrics, metrics_on_no_data)
