"""The probe suite over a small policy: smoke, a watch round with metrics, base URLs, the policy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from guard.outcomes import Phase, ProbeStatus
from guard.policy.models import Environment
from guard.probes.network import NetworkPolicy
from guard.probes.suite import ProbeSuite
from tests.aws_world import use_moto

ALLOW = NetworkPolicy(deny_private=False)


@pytest.fixture(scope="module")
def server() -> Iterator[HTTPServer]:
    httpserver = HTTPServer(host="127.0.0.1", port=0)
    httpserver.start()
    yield httpserver
    httpserver.stop()


@pytest.fixture
def web(server: HTTPServer) -> Iterator[HTTPServer]:
    server.clear()
    server.expect_request("/").respond_with_data("<button>Add to cart</button>")
    server.expect_request("/api/health").respond_with_json({"status": "ok", "db": {"up": False}})
    server.expect_request("/health").respond_with_data("ok")
    server.expect_request("/api/v1/query").respond_with_json(
        {"status": "success", "data": {"resultType": "scalar", "result": [0, "0.01"]}}
    )
    yield server
    server.clear()


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    use_moto(moto_url, monkeypatch)
    return moto_url


def environment(prometheus_url: str, **overrides: Any) -> Environment:
    return Environment.model_validate(
        {
            "smoke": [
                {"name": "home page", "get": "/", "expect": {"body_contains": "Add to cart"}},
                {"name": "api health", "get": "/api/health", "expect": {"json": {"$.db.up": True}}},
            ],
            "watch": {
                "interval": "15s",
                "duration": "1m",
                "probes": [{"name": "health", "get": "/health"}],
            },
            "metrics": [
                {
                    "name": "5xx ratio",
                    "prometheus": {"url": prometheus_url, "query": "errors"},
                    "fail_when": "> 0.05",
                },
                {
                    "name": "latency alarm",
                    "cloudwatch_alarm": {"alarm_name": "missing-alarm", "region": "us-east-1"},
                },
            ],
            **overrides,
        }
    )


def test_smoke_runs_every_check_in_order(web: HTTPServer) -> None:
    with ProbeSuite(
        environment(web.url_for("")),
        base_url=web.url_for(""),
        network=ALLOW,
        environ={},
        clock=lambda: 5.0,
    ) as suite:
        results = suite.run_smoke()
    assert [(r.name, r.phase, r.round, r.at) for r in results] == [
        ("home page", Phase.SMOKE, 0, 5.0),
        ("api health", Phase.SMOKE, 0, 5.0),
    ]
    assert [r.status for r in results] == [ProbeStatus.PASS, ProbeStatus.FAIL]
    assert "$.db.up was false; expected true." in results[1].detail


def test_a_round_runs_watch_probes_then_every_metric(web: HTTPServer, aws: str) -> None:
    with ProbeSuite(
        environment(web.url_for("")),
        base_url=web.url_for(""),
        network=ALLOW,
        environ={},
        aws_endpoint_url=aws,
    ) as suite:
        results = suite.run_round(3)
    assert [(r.name, r.phase, r.round) for r in results] == [
        ("health", Phase.WATCH, 3),
        ("5xx ratio", Phase.METRIC, 3),
        ("latency alarm", Phase.METRIC, 3),
    ]
    assert [r.status for r in results] == [ProbeStatus.PASS, ProbeStatus.PASS, ProbeStatus.NO_DATA]
    assert results[2].detail.startswith("CloudWatch has no alarm named missing-alarm in us-east-1")


def test_the_policy_url_wins_over_the_deployment_url(web: HTTPServer) -> None:
    env = environment(web.url_for(""), url=web.url_for(""), metrics=[])
    with ProbeSuite(env, base_url="http://deployment.invalid", network=ALLOW, environ={}) as suite:
        assert suite.base_url == web.url_for("")
        assert suite.run_smoke()[0].status is ProbeStatus.PASS


def test_without_any_base_url_relative_checks_fail_saying_how_to_fix_it(web: HTTPServer) -> None:
    with ProbeSuite(
        environment(web.url_for("")), base_url=None, network=ALLOW, environ={}
    ) as suite:
        results = suite.run_smoke()
    assert all(r.status is ProbeStatus.FAIL for r in results)
    assert results[0].detail == (
        "GET / was not sent: the path is relative and there is no base URL; set url for this "
        "environment in the policy, or pass --url."
    )


def test_one_network_policy_covers_checks_and_metrics(web: HTTPServer) -> None:
    env = environment(web.url_for(""), metrics=environment(web.url_for("")).metrics[:1])
    deny = NetworkPolicy(deny_private=True, private_hint="pass --allow-private-networks")
    with ProbeSuite(env, base_url=web.url_for(""), network=deny, environ={}) as suite:
        results = suite.run_smoke() + suite.run_round(1)
    assert [r.status for r in results] == [ProbeStatus.FAIL] * 3 + [ProbeStatus.NO_DATA]
    assert all(r.detail.endswith(": pass --allow-private-networks.") for r in results)
    assert web.log == []


def test_an_environment_without_watch_or_metrics_has_empty_rounds(web: HTTPServer) -> None:
    env = Environment.model_validate({"smoke": [{"name": "home page", "get": "/"}]})
    with ProbeSuite(env, base_url=web.url_for(""), network=ALLOW, environ={}) as suite:
        assert suite.run_round(1) == []
