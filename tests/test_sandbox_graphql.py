"""The sandbox's GraphQL: `viewer { login }` for every kind of token, as GitHub answers it."""

from __future__ import annotations

import requests

from guard.sandbox import make_app_jwt
from tests.sandbox_fixtures import SandboxWorld

VIEWER = {"query": "query { viewer { login } }"}


def ask(world: SandboxWorld, body: dict[str, str], authorization: str | None) -> requests.Response:
    headers = {"Authorization": authorization} if authorization else {}
    return requests.post(f"{world.base_url}/graphql", json=body, headers=headers, timeout=10)


def test_a_person_s_token_is_its_account(world: SandboxWorld) -> None:
    answer = ask(world, VIEWER, f"token {world.owner_token}")
    assert answer.status_code == 200
    assert answer.json() == {"data": {"viewer": {"login": "octo-org"}}}


def test_an_installation_token_is_its_app_s_bot(world: SandboxWorld) -> None:
    jwt = make_app_jwt(world.app.app_id, world.app.private_key_pem)
    minted = requests.post(
        f"{world.base_url}/app/installations/{world.installation_id}/access_tokens",
        headers={"Authorization": f"Bearer {jwt}"},
        timeout=10,
    ).json()["token"]
    answer = ask(world, {"query": "{viewer{login}}"}, f"token {minted}")
    assert answer.json() == {"data": {"viewer": {"login": "deploy-guard[bot]"}}}


def test_no_token_an_app_jwt_and_other_queries_are_refused(world: SandboxWorld) -> None:
    assert ask(world, VIEWER, None).status_code == 401
    jwt = make_app_jwt(world.app.app_id, world.app.private_key_pem)
    assert ask(world, VIEWER, f"Bearer {jwt}").status_code == 403
    other = ask(world, {"query": "{ repository(owner: 1) { id } }"}, f"token {world.owner_token}")
    assert other.status_code == 200
    assert "viewer" in other.json()["errors"][0]["message"]
