"""The verification plan: what a policy environment asks to check, and its storable form."""

from __future__ import annotations

import json

import pytest

from guard.policy.models import Environment
from guard.verification import VerificationPlan
from guard.verification_plan import count_rounds
from tests.test_verification_support import example_environment


def environment(document: dict[str, object]) -> Environment:
    return Environment.model_validate(document)


WATCHED_METRICS: dict[str, object] = {
    "watch": {"interval": "30s", "duration": "5m", "on_no_data": "fail"},
    "metrics": [{"name": "alarm", "cloudwatch_alarm": {"alarm_name": "a", "region": "eu-west-1"}}],
}


def test_the_example_production_environment_plans_smoke_forty_rounds_and_two_metrics() -> None:
    plan = VerificationPlan.from_environment(example_environment())

    assert plan.smoke_checks == ("home page", "api health", "checkout API accepts a cart")
    assert plan.metric_names == ("5xx ratio", "p99 latency alarm")
    assert plan.watch is not None
    assert plan.watch.interval_s == 15.0
    assert plan.watch.duration_s == 600.0
    assert plan.watch.rounds == 40
    assert plan.rounds_planned == 40
    assert plan.watch.probe_names == ("health",)
    assert plan.watch.consecutive_failures == 3
    assert plan.watch.error_rate == pytest.approx(0.05)
    assert plan.watch.p95_latency_s == 5.0
    assert plan.watch.min_samples == 4
    assert plan.watch.on_no_data == "inconclusive"


def test_the_example_staging_environment_has_smoke_only() -> None:
    plan = VerificationPlan.from_environment(example_environment("staging"))

    assert plan.smoke_checks == ("home page",)
    assert plan.watch is None
    assert plan.rounds_planned == 0
    assert not plan.checks_nothing


def test_skip_watch_drops_the_watch_but_reads_metrics_once_with_the_watch_on_no_data() -> None:
    plan = VerificationPlan.from_environment(environment(WATCHED_METRICS), skip_watch=True)

    assert plan.watch is None
    assert plan.metric_names == ("alarm",)
    assert plan.rounds_planned == 1
    assert plan.interval_s == 0.0
    assert plan.on_no_data == "fail"


def test_metrics_without_a_watch_are_read_once_right_after_smoke() -> None:
    document = {"metrics": WATCHED_METRICS["metrics"]}
    plan = VerificationPlan.from_environment(environment(document))

    assert plan.rounds_planned == 1
    assert plan.round_due_at(1, watch_started_at=120.0) == 120.0
    assert plan.on_no_data == "inconclusive"


def test_a_watch_with_metrics_reads_them_every_round() -> None:
    plan = VerificationPlan.from_environment(environment(WATCHED_METRICS))

    assert plan.watch is not None
    assert plan.watch.probe_names == ()
    assert plan.rounds_planned == 10
    assert plan.round_due_at(3, watch_started_at=100.0) == 160.0


def test_a_watch_with_nothing_to_probe_or_read_is_dropped() -> None:
    plan = VerificationPlan.from_environment(environment({"watch": {"duration": "10m"}}))

    assert plan.watch is None
    assert plan.checks_nothing


@pytest.mark.parametrize(
    ("duration_s", "interval_s", "rounds"),
    [(600, 15, 40), (600, 45, 14), (0.7, 0.1, 7), (10, 10, 1), (10, 3, 4)],
)
def test_rounds_are_the_duration_over_the_interval_rounded_up(
    duration_s: float, interval_s: float, rounds: int
) -> None:
    assert count_rounds(duration_s, interval_s) == rounds


def test_the_plan_survives_a_trip_through_json() -> None:
    plan = VerificationPlan.from_environment(example_environment())

    stored = json.loads(json.dumps(plan.to_dict()))

    assert VerificationPlan.from_dict(stored) == plan


def test_a_damaged_stored_plan_is_refused_with_a_value_error() -> None:
    stored = VerificationPlan.from_environment(example_environment()).to_dict()
    stored["watch"]["rounds"] = 0

    with pytest.raises(ValueError, match="at least one round"):
        VerificationPlan.from_dict(stored)
