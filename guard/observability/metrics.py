"""The guard's Prometheus metrics, shared by the web service and the workers (no Flask here).

Under `deploy-guard serve` every gunicorn worker is its own process, so the values live in
prometheus-client's multiprocess files: `serve` sets PROMETHEUS_MULTIPROC_DIR before any of
this is imported, and `render_metrics` then sums the files of every process.
"""

from __future__ import annotations

import os
from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROCESS_DIRECTORY_VARIABLE: Final = "PROMETHEUS_MULTIPROC_DIR"
# A label value for anything outside a known, small set: a label per unknown value would let
# whoever sends requests create time series without bound.
OTHER: Final = "other"

DELIVERY_OUTCOMES: Final = frozenset(
    {
        "accepted",  # recorded as queued, for the delivery dispatcher to handle (202)
        "pong",  # a ping (200)
        "ignored",  # an event or action the guard does not act on (200)
        "duplicate",  # a redelivery of a delivery already recorded (200)
        "unauthorized",  # signature missing or wrong (401)
        "rejected",  # headers or body malformed (400)
        "too_large",  # over GitHub's 25 MB cap (413)
        "error",  # an unexpected fault while recording it (500)
        "unavailable",  # the database or the queue did not answer (503)
    }
)
VERDICTS: Final = frozenset({"pass", "fail", "inconclusive", "superseded", "error"})
PROBE_PHASES: Final = frozenset({"smoke", "watch", "metric"})

WEBHOOK_DELIVERIES = Counter(
    "deploy_guard_webhook_deliveries",
    "Webhook deliveries answered, by GitHub event and what the guard did with them.",
    ["event", "outcome"],
)
WEBHOOK_SECONDS = Histogram(
    "deploy_guard_webhook_duration_seconds",
    "Time to answer a webhook delivery (GitHub gives up after 10 s).",
    ["event"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
VERIFICATIONS = Counter(
    "deploy_guard_verifications",
    "Verifications finished, by verdict (pass, fail, inconclusive, superseded, error).",
    ["verdict"],
)
PROBE_SECONDS = Histogram(
    "deploy_guard_probe_duration_seconds",
    "How long one probe of a deployed service took, by phase (smoke, watch, metric).",
    ["phase"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
ROUND_LAG_SECONDS = Histogram(
    "deploy_guard_watch_round_lag_seconds",
    "How late a watch round started after it was due: whether the job workers keep up.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
GITHUB_CALLS = Counter(
    "deploy_guard_github_calls",
    "Calls to GitHub's REST API, by method, OpenAPI route and status ('none': no answer).",
    ["method", "route", "status"],
)
WEBHOOK_REDELIVERIES = Counter(
    "deploy_guard_webhook_redeliveries",
    "Missed webhook deliveries the catch-up asked GitHub to redeliver, by GitHub event.",
    ["event"],
)
GITHUB_RATE_LIMIT_REMAINING = Gauge(
    "deploy_guard_github_rate_limit_remaining",
    "x-ratelimit-remaining of GitHub's most recent answer.",
    # Across processes the newest answer is the truth, not a sum or a maximum.
    multiprocess_mode="mostrecent",
)


def known(value: str, allowed: frozenset[str]) -> str:
    """`value` when it is one of `allowed`, else "other": label values stay a small set."""
    return value if value in allowed else OTHER


def count_delivery(event: str, outcome: str, *, subscribed: frozenset[str]) -> None:
    """Count one answered delivery; events outside `subscribed` are counted as "other"."""
    WEBHOOK_DELIVERIES.labels(
        event=known(event, subscribed), outcome=known(outcome, DELIVERY_OUTCOMES)
    ).inc()


def count_redelivery(event: str, *, subscribed: frozenset[str]) -> None:
    """Count one redelivery the catch-up asked GitHub for."""
    WEBHOOK_REDELIVERIES.labels(event=known(event, subscribed)).inc()


def count_verification(verdict: str) -> None:
    """Count one finished verification (the worker calls this with its verdict)."""
    VERIFICATIONS.labels(verdict=known(verdict, VERDICTS)).inc()


def observe_probe(phase: str, seconds: float) -> None:
    """Record how long one probe took."""
    PROBE_SECONDS.labels(phase=known(phase, PROBE_PHASES)).observe(seconds)


def observe_round_lag(seconds: float) -> None:
    """Record how late a watch round started (0 for one on time or a hair early)."""
    ROUND_LAG_SECONDS.observe(max(0.0, seconds))


def observe_github_call(
    method: str, route: str, status: int | None, rate_limit_remaining: int | None
) -> None:
    """A `guard.github.transport.CallObserver`: count the call, keep the rate limit's remainder.

    `route` must already be an OpenAPI route template (the transport maps paths to them).
    """
    GITHUB_CALLS.labels(
        method=method.upper(), route=route, status="none" if status is None else str(status)
    ).inc()
    if rate_limit_remaining is not None:
        GITHUB_RATE_LIMIT_REMAINING.set(rate_limit_remaining)


def multiprocess_directory() -> str | None:
    """Where the processes' metric files are, when metrics are shared between processes."""
    return os.environ.get(MULTIPROCESS_DIRECTORY_VARIABLE) or None


def render_metrics() -> tuple[bytes, str]:
    """The Prometheus text of every process's metrics, and its content type."""
    directory = multiprocess_directory()
    if directory is None:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    # A registry of its own per scrape: MultiProcessCollector reads the files afresh each time.
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST


def forget_process(pid: int) -> None:
    """Drop a dead process's live gauges (gunicorn's child_exit hook calls this)."""
    if multiprocess_directory() is not None:
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
