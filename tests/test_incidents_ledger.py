"""The comment ledger in the database: one claim per comment across replicas, stale ones taken over.

The issue's comments are read from the GitHub sandbox over HTTP, as the worker reads them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy.orm import Session, sessionmaker

from guard.github.auth import AppAuth
from guard.github.client import GitHubClient
from guard.incidents.ledger import StoreLedger, comment_marker
from guard.incidents.updates import update_marker
from guard.store import make_engine, make_session_factory, upgrade
from tests.sandbox_fixtures import SandboxWorld

NOON = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
STALE = timedelta(minutes=10)


@dataclass
class Clock:
    now: datetime = NOON

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'guard.db'}"
    else:
        url = cast("str", request.getfixturevalue("postgres_url"))
    upgrade(url)
    engine = make_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def client(world: SandboxWorld) -> Iterator[GitHubClient]:
    auth = AppAuth(world.app.app_id, world.app.private_key_pem, api_url=world.base_url)
    made = GitHubClient(
        auth,
        world.base_url,
        installation_id=world.installation_id,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    yield made
    made.close()


def test_a_comment_is_claimed_once_across_replicas_and_again_after_a_release(
    sessions: sessionmaker[Session],
) -> None:
    one, other = StoreLedger(sessions), StoreLedger(sessions)

    assert one.claim("octo-org/shop", 7, "update:remedy")
    assert not other.claim("Octo-Org/Shop", 7, "update:remedy")
    assert other.claim("octo-org/shop", 7, "update:service_restored")
    assert other.claim("octo-org/shop", 8, "update:remedy")

    other.release("octo-org/shop", 7, "update:remedy")
    assert other.claim("octo-org/shop", 7, "update:remedy")
    assert not one.claim("octo-org/shop", 7, "update:remedy")


def test_a_stale_claim_whose_comment_never_appeared_is_taken_over_once(
    sessions: sessionmaker[Session], world: SandboxWorld, client: GitHubClient
) -> None:
    issue = client.create_issue(world.repo, "Incident", "body")
    clock = Clock()
    died = StoreLedger(sessions, comments=client, clock=clock)
    assert died.claim(world.repo, issue.number, "update:service_restored")
    # Its process died before posting. Soon after, nobody may post it: it may be on its way.
    replicas = [StoreLedger(sessions, comments=client, clock=clock) for _ in range(2)]
    clock.now = NOON + STALE - timedelta(seconds=1)
    assert not replicas[0].claim(world.repo, issue.number, "update:service_restored")

    clock.now = NOON + STALE
    taken = [r.claim(world.repo, issue.number, "update:service_restored") for r in replicas]

    assert taken == [True, False]
    # Without a way to look at the issue, a claim is kept for good: at most once.
    blind = StoreLedger(sessions, clock=Clock(NOON + 10 * STALE))
    assert not blind.claim(world.repo, issue.number, "update:service_restored")


def test_a_stale_claim_whose_comment_is_there_is_kept(
    sessions: sessionmaker[Session], world: SandboxWorld, client: GitHubClient
) -> None:
    issue = client.create_issue(world.repo, "Incident", "body")
    clock = Clock()
    ledger = StoreLedger(sessions, comments=client, clock=clock)
    key = "update:remedy"
    assert ledger.claim(world.repo, issue.number, key)
    marker = comment_marker(world.repo, issue.number, key)
    assert marker == update_marker(world.repo, issue.number, "remedy")
    # The post's answer was lost (ambiguous), but GitHub did post it.
    client.comment_on_issue(world.repo, issue.number, f"{marker}\n**Rollback done**\n")

    clock.now = NOON + 2 * STALE

    assert not StoreLedger(sessions, comments=client, clock=clock).claim(
        world.repo, issue.number, key
    )
    assert comment_marker(world.repo, 3, "suspect:4242") == (
        f"<!-- deploy-guard:suspect repo={world.repo} deployment=4242 -->"
    )
    assert comment_marker(world.repo, 3, "something else") is None
