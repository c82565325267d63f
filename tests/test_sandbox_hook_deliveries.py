"""The App's delivery log in the sandbox: newest first, cursor pages, JWT only, redeliveries."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import requests
from pytest_httpserver import HTTPServer
from werkzeug import Response

from guard.github.hook_deliveries import next_cursor
from guard.sandbox.auth import make_app_jwt

if TYPE_CHECKING:
    from guard.sandbox import AppCredentials, Sandbox

SECRET = "It's a Secret to Everybody"


def seeded(make_sandbox: Callable[..., Sandbox], url: str) -> tuple[Sandbox, AppCredentials, str]:
    """A strict sandbox delivering to `url`, with an installed App and the owner's token."""
    sandbox = make_sandbox(webhook_url=url, webhook_secret=SECRET)
    sandbox.create_repo("acme/api", {"a.txt": "a\n"})
    app = sandbox.register_app("deploy-guard")
    sandbox.install_app(app.app_id, "acme")
    return sandbox, app, sandbox.register_token("acme")


def deploy(sandbox: Sandbox, token: str, times: int) -> None:
    with requests.Session() as http:
        for _ in range(times):
            answer = http.post(
                f"{sandbox.base_url}/repos/acme/api/deployments",
                headers={"Authorization": f"token {token}"},
                json={"ref": "main"},
                timeout=10,
            )
            assert answer.status_code == 201
    assert sandbox.flush_webhooks()


def as_app(app: AppCredentials) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_app_jwt(app.app_id, app.private_key_pem)}"}


def listed(sandbox: Sandbox, app: AppCredentials, **params: Any) -> requests.Response:
    return requests.get(
        f"{sandbox.base_url}/app/hook/deliveries", headers=as_app(app), params=params, timeout=10
    )


def test_the_log_lists_attempts_newest_first_in_cursor_pages(
    httpserver: HTTPServer, make_sandbox: Callable[..., Sandbox]
) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("down", status=503)
    sandbox, app, token = seeded(make_sandbox, httpserver.url_for("/hook"))
    deploy(sandbox, token, 3)

    first = listed(sandbox, app, per_page=2)
    assert first.status_code == 200
    items = first.json()
    assert [item["id"] for item in items] == [3, 2]
    assert items[0]["status_code"] == 503
    assert items[0]["status"] == "Invalid HTTP Response: 503"
    assert items[0]["redelivery"] is False
    assert items[0]["event"] == "deployment"
    assert items[0]["action"] == "created"
    cursor = next_cursor(first.headers.get("Link"))
    assert cursor is not None

    second = listed(sandbox, app, per_page=2, cursor=cursor)
    assert [item["id"] for item in second.json()] == [1]
    assert "Link" not in second.headers
    assert [d.guid for d in sandbox.deliveries()][::-1] == [
        item["guid"] for item in items + second.json()
    ]
    # `status` filters on the answer's class, as GitHub documents it.
    assert listed(sandbox, app, status="success").json() == []
    assert len(listed(sandbox, app, status="failure").json()) == 3
    assert listed(sandbox, app, cursor="nonsense").status_code == 400


def test_only_the_apps_jwt_may_read_the_log(
    httpserver: HTTPServer, make_sandbox: Callable[..., Sandbox]
) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok", status=202)
    sandbox, app, token = seeded(make_sandbox, httpserver.url_for("/hook"))
    own = next(i for i in sandbox.snapshot()["installations"] if i["app_id"] == app.app_id)
    minted = requests.post(
        f"{sandbox.base_url}/app/installations/{own['id']}/access_tokens",
        headers=as_app(app),
        timeout=10,
    )
    installation_token = minted.json()["token"]
    # GitHub takes only the App's JWT there: an installation token and a user's are refused.
    for header in (f"token {installation_token}", f"token {token}"):
        refused = requests.get(
            f"{sandbox.base_url}/app/hook/deliveries",
            headers={"Authorization": header},
            timeout=10,
        )
        assert refused.status_code == 401
    assert listed(sandbox, app).status_code == 200


def test_a_redelivery_sends_the_same_guid_signed_and_is_logged_as_one(
    httpserver: HTTPServer, make_sandbox: Callable[..., Sandbox]
) -> None:
    answers = iter([503, 202])
    httpserver.expect_request("/hook", method="POST").respond_with_handler(
        lambda _request: Response("", status=next(answers))
    )
    sandbox, app, token = seeded(make_sandbox, httpserver.url_for("/hook"))
    deploy(sandbox, token, 1)
    [failed] = listed(sandbox, app).json()

    attempt = requests.post(
        f"{sandbox.base_url}/app/hook/deliveries/{failed['id']}/attempts",
        headers=as_app(app),
        timeout=10,
    )
    assert attempt.status_code == 202
    assert sandbox.flush_webhooks()
    newest, original = listed(sandbox, app).json()
    assert (newest["guid"], newest["redelivery"], newest["status_code"]) == (
        failed["guid"],
        True,
        202,
    )
    assert original["id"] == failed["id"]
    first, again = (request for request, _ in httpserver.log)
    assert again.get_data() == first.get_data()
    assert again.headers["X-GitHub-Delivery"] == failed["guid"]
    signature = "sha256=" + hmac.new(SECRET.encode(), again.get_data(), hashlib.sha256).hexdigest()
    assert again.headers["X-Hub-Signature-256"] == signature
    missing = requests.post(
        f"{sandbox.base_url}/app/hook/deliveries/999/attempts", headers=as_app(app), timeout=10
    )
    assert missing.status_code == 404


def test_an_attempt_nobody_answered_is_logged_with_status_code_0(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    # Port 9 (discard) on loopback: nothing listens, the connection is refused.
    sandbox, app, token = seeded(make_sandbox, "http://127.0.0.1:9/hook")
    deploy(sandbox, token, 1)
    [item] = listed(sandbox, app).json()
    assert (item["status_code"], item["status"]) == (0, "failed to connect to host")
