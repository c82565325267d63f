"""Slack incoming webhooks: JSON to a local server, failures logged and never raised."""

from __future__ import annotations

import json
import logging
import socket

import pytest
from pytest_httpserver import HTTPServer

from guard.incidents.slack import SlackNotifier, slack_notifier
from guard.policy.models import Notify


def free_port_url() -> str:
    """A URL nobody listens on: the port was free a moment ago and is closed again."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def test_a_message_is_posted_as_json(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/hook", method="POST").respond_with_data("ok")
    notifier = slack_notifier(
        Notify(slack_webhook="${GUARD_SECRET_SLACK}"),
        {"GUARD_SECRET_SLACK": httpserver.url_for("/hook")},
    )
    assert notifier is not None
    assert notifier.post("x" * 5000)
    (request, _), *_ = httpserver.log
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.get_data()) == {"text": "x" * 3000}
    httpserver.check_assertions()


def test_a_refusal_is_logged_not_raised(
    httpserver: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    httpserver.expect_request("/hook").respond_with_data("no_service", status=404)
    url = httpserver.url_for("/hook")
    with caplog.at_level(logging.WARNING, logger="guard.incidents.slack"):
        assert not SlackNotifier(url).post("hello")
    assert [record.getMessage() for record in caplog.records] == ["incident.slack_refused"]
    assert url not in caplog.text


def test_an_unreachable_hook_is_logged_without_its_url(caplog: pytest.LogCaptureFixture) -> None:
    url = free_port_url()
    with caplog.at_level(logging.WARNING, logger="guard.incidents.slack"):
        assert not SlackNotifier(url, timeout_s=2).post("hello")
    (record,) = caplog.records
    assert record.getMessage() == "incident.slack_failed"
    assert record.__dict__["guard_fields"] == {"error": "ConnectionError"}


@pytest.mark.parametrize(
    ("configured", "environ", "event"),
    [
        ("https://hooks.example.com/T000/B000", {}, "incident.slack_not_a_secret"),
        ("${GUARD_SECRET_SLACK}", {}, "incident.slack_unavailable"),
        ("${HOME}", {"HOME": "/root"}, "incident.slack_unavailable"),
        (
            "${GUARD_SECRET_SLACK}",
            {"GUARD_SECRET_SLACK": "file:///etc/passwd"},
            "incident.slack_not_a_url",
        ),
    ],
)
def test_a_webhook_must_be_a_secret_url_from_the_guard(
    configured: str, environ: dict[str, str], event: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="guard.incidents.slack"):
        assert slack_notifier(Notify(slack_webhook=configured), environ) is None
    assert [record.getMessage() for record in caplog.records] == [event]


def test_no_webhook_means_no_notifier() -> None:
    assert slack_notifier(Notify(), {"GUARD_SECRET_SLACK": "https://x"}) is None
