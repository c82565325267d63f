"""Who the client is on GitHub, and a deployment carrying our idempotency key that somebody
else created: never taken for ours. Over HTTP against the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from guard.github.auth import TokenAuth
from guard.github.identity import OwnIdentity
from guard.sandbox import FaultKind
from tests.github_world import REPO, World, sandbox_world

DEPLOYMENTS = f"/repos/{REPO}/deployments"
KEY = "deploy-guard:rollback:acme/shop:7"


@pytest.fixture
def world() -> Iterator[World]:
    with sandbox_world() as made:
        yield made


def test_an_app_knows_itself_by_its_id_without_asking(world: World) -> None:
    client = world.client()
    mark = world.sandbox.calls.last_seq

    identity = client.own_identity()

    assert identity == OwnIdentity(app_id=world.app.app_id)
    assert world.sandbox.calls.all(since=mark) == []


def test_a_person_s_token_asks_github_once(world: World) -> None:
    token = world.sandbox.register_token("dee")
    client = world.client(auth=TokenAuth(token))

    first, second = client.own_identity(), client.own_identity()

    assert first == second == OwnIdentity(login="dee")
    assert len(world.sandbox.calls.matching("POST", "/graphql")) == 1


def test_an_installation_token_given_as_a_plain_token_is_the_app_s_bot(world: World) -> None:
    token = world.client().installation_token()
    client = world.client(auth=TokenAuth(token))

    assert client.own_identity() == OwnIdentity(login="deploy-guard[bot]")


def test_a_forged_key_is_not_taken_for_the_deployment_an_error_hid(world: World) -> None:
    sha = world.sandbox.branch_sha(REPO)
    assert sha is not None
    # Somebody who can create deployments writes our predictable key first.
    forger = world.client(auth=TokenAuth(world.sandbox.register_token("acme")))
    forged = forger.create_deployment(REPO, sha, "production", idempotency_key=KEY)
    client = world.client()
    # A 502 on the create: maybe applied, so the client looks for the key before resending.
    world.sandbox.add_fault(FaultKind.SERVER_ERROR, path=DEPLOYMENTS, method="POST", status=502)

    made = client.create_deployment(REPO, sha, "production", idempotency_key=KEY)

    assert made.id != forged.id
    assert (made.creator_login, made.app_id) == ("deploy-guard[bot]", world.app.app_id)
    assert client.own_identity().created(made)
    assert not client.own_identity().created(forged)
    # The forger's, ours that failed, ours again.
    assert len(world.sandbox.calls.matching("POST", DEPLOYMENTS)) == 3


def test_a_person_using_the_app_is_not_the_app(world: World) -> None:
    """A user-to-server token carries the App's id too; only the App's bot is the App."""
    sha = world.sandbox.branch_sha(REPO)
    assert sha is not None
    client = world.client()
    ours = client.create_deployment(REPO, sha, "production", idempotency_key=KEY)
    identity = client.own_identity()
    assert identity.created(ours)

    assert not identity.created(replace(ours, creator_login="dee"))
    assert not identity.created(replace(ours, app_id=None))
