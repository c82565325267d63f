"""Prometheus metrics against a local server speaking the HTTP API: every answer shape."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from guard.outcomes import Phase, ProbeStatus
from guard.policy.models import MetricCheck
from guard.probes.network import NetworkPolicy
from guard.probes.prometheus import PrometheusProber
from guard.probes.transport import open_session

QUERY = "sum(rate(http_requests_total{code=~'5..'}[2m])) / sum(rate(http_requests_total[2m]))"


@pytest.fixture(scope="module")
def server() -> Iterator[HTTPServer]:
    # One server for the module: starting and stopping one costs half a second each time.
    httpserver = HTTPServer(host="127.0.0.1", port=0)
    httpserver.start()
    yield httpserver
    httpserver.stop()


@pytest.fixture
def prom(server: HTTPServer) -> Iterator[HTTPServer]:
    server.clear()
    yield server
    server.check_assertions()
    server.clear()


def metric(url: str, fail_when: str = "> 0.05", **extra: Any) -> MetricCheck:
    source = {"url": url, "query": QUERY, **extra}
    return MetricCheck.model_validate(
        {"name": "5xx ratio", "prometheus": source, "fail_when": fail_when}
    )


def query(
    url: str,
    fail_when: str = "> 0.05",
    environ: dict[str, str] | None = None,
    policy: NetworkPolicy | None = None,
    **extra: Any,
) -> Any:
    environ = environ or {}
    with open_session(policy or NetworkPolicy(deny_private=False)) as session:
        prober = PrometheusProber(session, environ=environ, clock=lambda: 50.0)
        return prober.probe(metric(url, fail_when, **extra), round_number=3)


def answer(kind: str, result: Any) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": kind, "result": result}}


def vector(*samples: tuple[dict[str, str], str]) -> dict[str, Any]:
    return answer("vector", [{"metric": m, "value": [1700000000.0, v]} for m, v in samples])


def asked(prom: HTTPServer) -> str:
    return f'Prometheus query "{QUERY}" at {prom.url_for("")}'


def test_scalar_under_the_limit_passes(prom: HTTPServer) -> None:
    prom.expect_oneshot_request("/api/v1/query", query_string={"query": QUERY}).respond_with_json(
        answer("scalar", [1700000000.0, "0.01"])
    )
    result = query(prom.url_for(""))
    assert result.status is ProbeStatus.PASS
    assert result.value == pytest.approx(0.01)
    assert (result.phase, result.round, result.at) == (Phase.METRIC, 3, 50.0)
    assert result.detail == f"{asked(prom)} returned 0.01; fails when > 0.05, and it does not."
    assert result.summary == "0.01"


def test_scalar_over_the_limit_fails(prom: HTTPServer) -> None:
    prom.expect_request("/api/v1/query").respond_with_json(answer("scalar", [0, "0.12"]))
    result = query(prom.url_for(""))
    assert result.status is ProbeStatus.FAIL
    assert result.value == pytest.approx(0.12)
    assert result.detail == f"{asked(prom)} returned 0.12; fails when > 0.05."
    assert result.summary == "0.12 > 0.05"


def test_vector_fails_on_any_sample_and_reports_the_worst(prom: HTTPServer) -> None:
    prom.expect_request("/api/v1/query").respond_with_json(
        vector(({"job": "api"}, "0.2"), ({"job": "web"}, "0.09"), ({"job": "cron"}, "0.01"))
    )
    result = query(prom.url_for(""))
    assert result.status is ProbeStatus.FAIL
    assert result.value == pytest.approx(0.2)
    assert result.detail == (
        f'{asked(prom)} returned 0.2 for {{job="api"}} (worst of 3 series); fails when > 0.05.'
    )


def test_vector_under_the_limit_passes_with_the_worst_value(prom: HTTPServer) -> None:
    prom.expect_request("/api/v1/query").respond_with_json(
        vector(({"job": "api"}, "0.02"), ({"job": "web"}, "0.04"))
    )
    result = query(prom.url_for(""))
    assert result.status is ProbeStatus.PASS
    assert result.value == pytest.approx(0.04)


def test_a_lower_bound_picks_the_smallest_sample(prom: HTTPServer) -> None:
    prom.expect_request("/api/v1/query").respond_with_json(
        vector(({"pod": "a"}, "3"), ({"pod": "b"}, "1"))
    )
    result = query(prom.url_for(""), fail_when="< 2")
    assert result.status is ProbeStatus.FAIL
    assert result.value == 1.0


def test_an_empty_vector_is_no_data(prom: HTTPServer) -> None:
    prom.expect_request("/api/v1/query").respond_with_json(answer("vector", []))
    result = query(prom.url_for(""))
    assert result.status is ProbeStatus.NO_DATA
    assert result.value is None
    assert result.detail == (
        f"{asked(prom)} returned no series (an empty vector); nothing to judge, so this is no "
        "data (never a pass): check the query, and that the service has traffic."
    )


def test_nan_is_no_data(prom: HTTPServer) -> None:
    prom.expect_request("/api/v1/query").respond_with_json(answer("scalar", [0, "NaN"]))
    result = query(prom.url_for(""))
    assert result.status is ProbeStatus.NO_DATA
    assert result.summary == "NaN"
    assert "returned NaN for 1 of 1 series" in result.detail


def test_a_nan_series_beside_passing_ones_is_no_data_but_a_failing_one_still_fails(
    prom: HTTPServer,
) -> None:
    prom.expect_oneshot_request("/api/v1/query").respond_with_json(
        vector(({"job": "api"}, "NaN"), ({"job": "web"}, "0.01"))
    )
    prom.expect_oneshot_request("/api/v1/query").respond_with_json(
        vector(({"job": "api"}, "NaN"), ({"job": "web"}, "0.5"))
    )
    assert query(prom.url_for("")).status is ProbeStatus.NO_DATA
    assert query(prom.url_for("")).status is ProbeStatus.FAIL


def test_infinity_is_a_value(prom: HTTPServer) -> None:
    prom.expect_request("/api/v1/query").respond_with_json(answer("scalar", [0, "+Inf"]))
    result = query(prom.url_for(""))
    assert result.status is ProbeStatus.FAIL
    assert result.summary == "+Inf > 0.05"


@pytest.mark.parametrize(
    ("kind", "result", "words"),
    [
        ("matrix", [{"metric": {}, "values": [[0, "1"]]}], "a range vector (matrix)"),
        ("string", [0, "hello"], "a string"),
    ],
)
def test_matrix_and_string_results_need_an_instant_query(
    prom: HTTPServer, kind: str, result: Any, words: str
) -> None:
    prom.expect_request("/api/v1/query").respond_with_json(answer(kind, result))
    outcome = query(prom.url_for(""))
    assert outcome.status is ProbeStatus.NO_DATA
    assert outcome.detail == (
        f"{asked(prom)} returned {words}; an instant vector or scalar is needed (drop the "
        "[range] selector, or wrap it in a function such as rate())."
    )


def test_a_query_error_is_no_data_with_prometheus_words(prom: HTTPServer) -> None:
    prom.expect_request("/api/v1/query").respond_with_json(
        {"status": "error", "errorType": "bad_data", "error": "parse error at char 5"}, status=400
    )
    result = query(prom.url_for(""))
    assert result.status is ProbeStatus.NO_DATA
    assert result.summary == "query error"
    assert result.detail == f"{asked(prom)} returned HTTP 400, bad_data: parse error at char 5."


def test_a_non_json_answer_is_no_data(prom: HTTPServer) -> None:
    prom.expect_request("/api/v1/query").respond_with_data("<h1>Bad Gateway</h1>", status=502)
    result = query(prom.url_for(""))
    assert result.status is ProbeStatus.NO_DATA
    assert "returned HTTP 502 with a body that is not Prometheus' JSON" in result.detail


def test_prometheus_down_is_no_data_not_an_unreachable_service() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = query(f"http://127.0.0.1:{port}")
    assert result.status is ProbeStatus.NO_DATA
    assert not result.unreachable
    assert result.summary == "Prometheus: connection refused"
    assert result.detail.endswith("; nothing to judge, so this is no data (never a pass).")


def test_headers_carry_secrets_that_never_show(prom: HTTPServer) -> None:
    token = "prom-token-987654"
    prom.expect_request(
        "/api/v1/query", headers={"Authorization": f"Bearer {token}"}
    ).respond_with_json(
        {"status": "error", "errorType": "bad_data", "error": f"token {token} is odd"}, status=400
    )
    result = query(
        prom.url_for(""),
        environ={"GUARD_SECRET_PROM": token},
        headers={"Authorization": "Bearer ${GUARD_SECRET_PROM}"},
    )
    assert result.detail.endswith("bad_data: token *** is odd.")
    assert token not in repr(result)


def test_a_missing_secret_is_no_data_naming_it(prom: HTTPServer) -> None:
    result = query(prom.url_for(""), headers={"Authorization": "Bearer ${GUARD_SECRET_PROM}"})
    assert result.status is ProbeStatus.NO_DATA
    assert "GUARD_SECRET_PROM is not set" in result.detail
    assert prom.log == []


def test_the_network_policy_applies_to_prometheus(prom: HTTPServer) -> None:
    result = query(prom.url_for(""), policy=NetworkPolicy(deny_private=True))
    assert result.status is ProbeStatus.NO_DATA
    assert result.detail.startswith("refused to connect to 127.0.0.1 (loopback) for ")
    assert prom.log == []
