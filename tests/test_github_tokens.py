"""Installation tokens over HTTP: minted with the App JWT, cached, refreshed before expiry."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest

from guard.github.auth import REFRESH_MARGIN_S, TokenAuth
from guard.github.errors import GitHubError
from tests.github_world import REPO, World, sandbox_world

TOKEN_LIFETIME_S = 3600


@pytest.fixture
def world() -> Iterator[World]:
    with sandbox_world() as made:
        yield made


def test_the_app_jwt_buys_a_token_that_is_then_cached(world: World) -> None:
    client = world.client()
    assert client.default_branch(REPO) == "main"
    assert client.get_file(REPO, "README.md", "main") == b"# shop\n"
    assert world.token_requests() == 1
    calls = world.sandbox.calls.all()
    assert [c.auth for c in calls] == [
        f"app:{world.app.app_id}",
        f"installation:{world.installation_id}",
        f"installation:{world.installation_id}",
    ]


def test_the_token_is_refreshed_shortly_before_it_expires(world: World) -> None:
    now = [time.time()]
    auth = world.auth(clock=lambda: now[0])
    first = auth.token_for(world.installation_id)

    almost = TOKEN_LIFETIME_S - REFRESH_MARGIN_S - 1
    now[0] += almost
    world.sandbox.advance_clock(almost)
    assert auth.token_for(world.installation_id) == first
    assert world.token_requests() == 1

    now[0] += 2
    world.sandbox.advance_clock(2)
    second = auth.token_for(world.installation_id)
    assert second != first
    assert world.token_requests() == 2
    # The new token works where the old one is about to stop.
    assert world.client(auth).default_branch(REPO) == "main"


def test_threads_asking_together_share_one_token(world: World) -> None:
    auth = world.auth()
    start = threading.Barrier(8)
    tokens: list[str] = []

    def ask() -> None:
        start.wait()
        tokens.append(auth.token_for(world.installation_id))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(tokens) == 8
    assert len(set(tokens)) == 1
    assert world.token_requests() == 1


def test_a_token_github_rejects_is_replaced_once(world: World) -> None:
    auth = world.auth()
    client = world.client(auth)
    revoked = auth.token_for(world.installation_id)
    # Revoked early (an admin, a key rotation): GitHub answers 401 "Bad credentials".
    del world.sandbox.runtime.state.tokens[revoked]
    assert client.default_branch(REPO) == "main"
    assert auth.token_for(world.installation_id) != revoked
    assert world.token_requests() == 2


def test_an_installation_the_app_does_not_have_is_a_clear_error(world: World) -> None:
    auth = world.auth()
    with pytest.raises(GitHubError, match="installation token for 999"):
        auth.token_for(999)
    with pytest.raises(GitHubError, match="needs an installation id"):
        auth.token_for(None)


def test_a_plain_token_is_sent_as_it_is_whatever_its_shape(world: World) -> None:
    # Stateless tokens (ghs_APPID_JWT) are long and dotted: nothing may assume 40 characters.
    odd = "ghs_42_" + "eyJhbGciOiJSUzI1NiJ9." * 8 + "sig"
    world.sandbox.register_token("acme", token=odd)
    client = world.client(TokenAuth(odd), installation_id=None)
    assert client.default_branch(REPO) == "main"
    assert client.installation_token(12345) == odd
    assert world.token_requests() == 0
    assert world.sandbox.calls.all()[-1].token_hint == odd[-4:]


def test_debug_logs_never_show_the_token_or_the_jwt(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="github.Requester")
    auth = world.auth()
    client = world.client(auth)
    assert client.default_branch(REPO) == "main"
    token = auth.token_for(world.installation_id)
    # PyGithub logged the token's answer and both requests; the secrets are gone from them.
    assert "access_tokens" in caplog.text
    assert "<redacted>" in caplog.text
    assert token not in caplog.text
    assert auth.app_jwt().split(".")[0] not in caplog.text
