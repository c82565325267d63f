"""Opt-in webhooks: `deployment` and `deployment_status` deliveries, signed like GitHub's."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import requests
from pytest_httpserver import HTTPServer

if TYPE_CHECKING:
    from guard.sandbox import Sandbox


SECRET = "It's a Secret to Everybody"


def test_deployment_events_are_delivered_signed(
    httpserver: HTTPServer, make_sandbox: Callable[..., Sandbox]
) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok", status=202)
    sandbox = make_sandbox(webhook_url=httpserver.url_for("/hook"), webhook_secret=SECRET)
    sandbox.create_repo("acme/api", {"a.txt": "a\n"})
    app = sandbox.register_app("deploy-guard")
    installation_id = sandbox.install_app(app.app_id, "acme")
    headers = {"Authorization": f"token {sandbox.register_token('acme')}"}
    url = f"{sandbox.base_url}/repos/acme/api/deployments"
    with requests.Session() as http:
        deployment = http.post(url, headers=headers, json={"ref": "main"}).json()
        for state in ("in_progress", "inactive", "success"):
            http.post(f"{url}/{deployment['id']}/statuses", headers=headers, json={"state": state})
    assert sandbox.flush_webhooks()
    received = [request for request, _ in httpserver.log]
    events = [request.headers["X-GitHub-Event"] for request in received]
    # GitHub sends no deployment_status event for inactive statuses.
    assert events == ["deployment", "deployment_status", "deployment_status"]
    for request in received:
        expected = (
            "sha256=" + hmac.new(SECRET.encode(), request.get_data(), hashlib.sha256).hexdigest()
        )
        assert hmac.compare_digest(request.headers["X-Hub-Signature-256"], expected)
        assert request.headers["User-Agent"].startswith("GitHub-Hookshot/")
        assert uuid.UUID(request.headers["X-GitHub-Delivery"])
        assert request.headers["X-GitHub-Hook-Installation-Target-Type"] == "integration"
    created = json.loads(received[0].get_data())
    assert created["action"] == "created"
    assert created["deployment"]["id"] == deployment["id"]
    assert created["repository"]["full_name"] == "acme/api"
    assert created["sender"]["login"] == "acme"
    assert created["installation"]["id"] == installation_id
    finished = json.loads(received[2].get_data())
    assert finished["deployment_status"]["state"] == "success"
    assert finished["deployment"]["id"] == deployment["id"]
    assert [d.status for d in sandbox.deliveries()] == [202, 202, 202]


def test_webhooks_are_off_unless_configured(sandbox: Sandbox) -> None:
    sandbox.create_repo("acme/api", {"a.txt": "a\n"})
    headers = {"Authorization": f"token {sandbox.register_token('acme')}"}
    answer = requests.post(
        f"{sandbox.base_url}/repos/acme/api/deployments",
        headers=headers,
        json={"ref": "main"},
        timeout=10,
    )
    assert answer.status_code == 201
    assert sandbox.flush_webhooks()
    assert sandbox.deliveries() == []
