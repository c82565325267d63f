"""The sandbox authenticates like GitHub: App JWTs, installation tokens, personal tokens, 401s."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import jwt
import pytest
import requests
from github import Auth, Github, GithubException, GithubIntegration

from guard.sandbox import Sandbox, generate_app_key, make_app_jwt

if TYPE_CHECKING:
    from tests.sandbox_fixtures import SandboxWorld


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def _app_jwt_headers(world: SandboxWorld, **options: Any) -> dict[str, str]:
    token = make_app_jwt(world.app.app_id, world.app.private_key_pem, **options)
    return {"Authorization": f"Bearer {token}"}


def test_app_jwt_to_installation_token_to_repo_calls(world: SandboxWorld) -> None:
    auth = Auth.AppAuth(world.app.app_id, world.app.private_key_pem)
    integration = GithubIntegration(auth=auth, base_url=world.base_url)
    try:
        assert integration.get_app().slug == "deploy-guard"
        installation = integration.get_repo_installation("octo-org", "shop")
        assert installation.id == world.installation_id
        access = integration.get_access_token(installation.id)
        assert access.token.startswith("ghs_")
        assert len(access.token) == 40
        lifetime = access.expires_at - datetime.now(UTC)
        assert 3500 < lifetime.total_seconds() <= 3600
        github = integration.get_github_for_installation(installation.id)
        repo = github.get_repo(world.repo)
        assert repo.default_branch == "main"
        assert repo.full_name == world.repo
    finally:
        integration.close()
    repo_calls = world.sandbox.calls.matching("GET", f"/repos/{world.repo}")
    assert [call.auth for call in repo_calls] == [f"installation:{world.installation_id}"]
    token_calls = world.sandbox.calls.matching("POST", "/app/installations/*/access_tokens")
    assert {call.auth for call in token_calls} == {f"app:{world.app.app_id}"}


def test_installation_token_with_bearer_scheme_reaches_only_its_repositories(
    world: SandboxWorld, http: requests.Session
) -> None:
    world.sandbox.create_repo("octo-org/other", {"a.txt": "a\n"})
    answer = http.post(
        f"{world.base_url}/app/installations/{world.installation_id}/access_tokens",
        headers=_app_jwt_headers(world),
    )
    assert answer.status_code == 201
    token = answer.json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert http.get(f"{world.base_url}/repos/{world.repo}", headers=headers).status_code == 200
    hidden = http.get(f"{world.base_url}/repos/octo-org/other", headers=headers)
    assert hidden.status_code == 404
    assert hidden.json()["message"] == "Not Found"


def test_token_limited_to_named_repositories_and_permissions(
    world: SandboxWorld, http: requests.Session
) -> None:
    url = f"{world.base_url}/app/installations/{world.installation_id}/access_tokens"
    refused = http.post(
        url, headers=_app_jwt_headers(world), json={"permissions": {"administration": "write"}}
    )
    assert refused.status_code == 422
    answer = http.post(
        url,
        headers=_app_jwt_headers(world),
        json={"repositories": ["shop"], "permissions": {"issues": "read"}},
    )
    assert answer.status_code == 201
    assert answer.json()["repositories"][0]["full_name"] == world.repo
    headers = {"Authorization": f"token {answer.json()['token']}"}
    read = http.get(f"{world.base_url}/repos/{world.repo}/issues", headers=headers)
    assert read.status_code == 200
    write = http.post(
        f"{world.base_url}/repos/{world.repo}/issues", headers=headers, json={"title": "x"}
    )
    assert write.status_code == 403
    assert write.json()["message"] == "Resource not accessible by integration"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"issued_offset": -3600}, "'Expiration time' claim ('exp') must be a numeric"),
        ({"lifetime": 3600}, "'Expiration time' claim ('exp') is too far in the future"),
        ({"issued_offset": 600}, "'Issued at' claim ('iat') must be an Integer"),
    ],
)
def test_app_jwt_time_claims_are_checked(
    world: SandboxWorld, http: requests.Session, options: dict[str, Any], message: str
) -> None:
    # Offsets from the moment the test runs, not from when the suite was collected.
    if "issued_offset" in options:
        options = {"issued_at": time.time() + options["issued_offset"]}
    answer = http.get(f"{world.base_url}/app", headers=_app_jwt_headers(world, **options))
    assert answer.status_code == 401
    assert answer.json()["message"].startswith(message)
    assert answer.json()["documentation_url"].startswith("https://docs.github.com/")


def test_app_jwt_signed_with_another_key_is_refused(
    world: SandboxWorld, http: requests.Session
) -> None:
    other_key, _ = generate_app_key()
    token = make_app_jwt(world.app.app_id, other_key)
    answer = http.get(f"{world.base_url}/app", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401
    assert answer.json()["message"] == "A JSON web token could not be decoded"


def test_app_jwt_with_hs256_is_refused(world: SandboxWorld, http: requests.Session) -> None:
    now = int(time.time())
    forged = jwt.encode(
        {"iat": now - 60, "exp": now + 300, "iss": str(world.app.app_id)}, "s" * 32, "HS256"
    )
    answer = http.get(f"{world.base_url}/app", headers={"Authorization": f"Bearer {forged}"})
    assert answer.status_code == 401


def test_pygithub_reports_bad_credentials(world: SandboxWorld) -> None:
    github = Github(base_url=world.base_url, auth=Auth.Token("ghp_not-a-real-token"), retry=None)
    try:
        with pytest.raises(GithubException) as raised:
            github.get_repo(world.repo)
    finally:
        github.close()
    assert raised.value.status == 401
    assert raised.value.data["message"] == "Bad credentials"


def test_installation_token_expires_after_an_hour(
    world: SandboxWorld, http: requests.Session
) -> None:
    answer = http.post(
        f"{world.base_url}/app/installations/{world.installation_id}/access_tokens",
        headers=_app_jwt_headers(world),
    )
    headers = {"Authorization": f"token {answer.json()['token']}"}
    assert http.get(f"{world.base_url}/repos/{world.repo}", headers=headers).status_code == 200
    world.sandbox.advance_clock(3601)
    expired = http.get(f"{world.base_url}/repos/{world.repo}", headers=headers)
    assert expired.status_code == 401
    assert expired.json()["message"] == "Bad credentials"


def test_app_endpoints_need_a_jwt_and_repo_endpoints_refuse_one(
    world: SandboxWorld, http: requests.Session
) -> None:
    with_token = http.get(
        f"{world.base_url}/app", headers={"Authorization": f"token {world.owner_token}"}
    )
    assert with_token.status_code == 401
    with_jwt = http.get(f"{world.base_url}/repos/{world.repo}", headers=_app_jwt_headers(world))
    assert with_jwt.status_code == 403


def test_anonymous_callers_read_public_repositories_only(
    world: SandboxWorld, http: requests.Session
) -> None:
    world.sandbox.create_repo("octo-org/secret", {"a.txt": "a\n"}, private=True)
    assert http.get(f"{world.base_url}/repos/{world.repo}").status_code == 200
    assert http.get(f"{world.base_url}/repos/octo-org/secret").status_code == 404
    write = http.post(f"{world.base_url}/repos/{world.repo}/issues", json={"title": "hi"})
    assert write.status_code == 401
    assert write.json()["message"] == "Requires authentication"


def test_collaborator_levels_decide_who_may_write(
    world: SandboxWorld, http: requests.Session
) -> None:
    reader = world.sandbox.register_token("reader")
    world.sandbox.set_permission(world.repo, "reader", "read")
    url = f"{world.base_url}/repos/{world.repo}/deployments"
    refused = http.post(url, headers={"Authorization": f"token {reader}"}, json={"ref": "main"})
    assert refused.status_code == 403
    world.sandbox.set_permission(world.repo, "reader", "write")
    allowed = http.post(url, headers={"Authorization": f"token {reader}"}, json={"ref": "main"})
    assert allowed.status_code == 201
    assert allowed.json()["creator"]["login"] == "reader"


def test_rate_limit_headers_count_per_caller(world: SandboxWorld, http: requests.Session) -> None:
    headers = {"Authorization": f"token {world.owner_token}"}
    first = http.get(f"{world.base_url}/repos/{world.repo}", headers=headers)
    second = http.get(f"{world.base_url}/repos/{world.repo}", headers=headers)
    assert first.headers["x-ratelimit-limit"] == "5000"
    assert first.headers["x-ratelimit-resource"] == "core"
    remaining = int(first.headers["x-ratelimit-remaining"])
    assert int(second.headers["x-ratelimit-remaining"]) == remaining - 1
    assert int(second.headers["x-ratelimit-used"]) == 5000 - remaining + 1
    assert int(second.headers["x-ratelimit-reset"]) > time.time()
    assert first.headers["X-GitHub-Request-Id"] != second.headers["X-GitHub-Request-Id"]
    overview = http.get(f"{world.base_url}/rate_limit", headers=headers)
    after = http.get(f"{world.base_url}/repos/{world.repo}", headers=headers)
    # GET /rate_limit is free: it shows the same count and does not add to it.
    assert overview.json()["resources"]["core"]["remaining"] == remaining - 1
    assert int(after.headers["x-ratelimit-remaining"]) == remaining - 2


def test_primary_rate_limit_is_enforced(
    make_sandbox: Callable[..., Sandbox], http: requests.Session
) -> None:
    sandbox = make_sandbox(rate_limit=2)
    sandbox.create_repo("o/r", {"a": "a"})
    headers = {"Authorization": f"token {sandbox.register_token('o')}"}
    statuses = [http.get(f"{sandbox.base_url}/repos/o/r", headers=headers) for _ in range(3)]
    assert [answer.status_code for answer in statuses] == [200, 200, 403]
    assert statuses[2].headers["x-ratelimit-remaining"] == "0"
    assert statuses[2].json()["message"].startswith("API rate limit exceeded")
    assert sandbox.calls.counts() == {"ok": 2, "rate_limited": 1}
