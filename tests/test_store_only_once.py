"""Only-once writes hold when replicas race, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TypeVar

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from guard.outcomes import Severity
from guard.store import (
    Delivery,
    DeliveryOutcome,
    Incident,
    IncidentComment,
    Installation,
    KnownBadSha,
    Remedy,
    claim_comment,
    claim_incident,
    claim_remedy,
    make_engine,
    next_incident_code,
    only_once,
    record_delivery,
    record_deployment,
    record_known_bad,
    set_installation,
    upgrade,
)

T = TypeVar("T")
CONTENDERS = 8
NOON = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated database on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'guard.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    upgrade(url)
    database = make_engine(url)
    yield database
    database.dispose()


def race(
    engine: Engine, attempt: Callable[[Session, int], T], contenders: int = CONTENDERS
) -> list[T]:
    """Run `attempt` in `contenders` threads, each in its own session, released together."""
    start = threading.Barrier(contenders)

    def contend(index: int) -> T:
        with Session(engine, expire_on_commit=False) as session:
            start.wait()
            outcome = attempt(session, index)
            session.commit()
            return outcome

    with ThreadPoolExecutor(contenders) as pool:
        return list(pool.map(contend, range(contenders)))


def deployment(engine: Engine, github_id: int = 1001, repository: str = "octo-org/shop") -> int:
    with Session(engine, expire_on_commit=False) as session:
        row, _ = record_deployment(
            session,
            repository=repository,
            github_id=github_id,
            environment="production",
            sha="a" * 40,
            ref="main",
            created_at=NOON,
        )
        session.commit()
        return row.id


def count(engine: Engine, model: type[Delivery | Remedy | Incident]) -> int:
    with Session(engine, expire_on_commit=False) as session:
        return session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


def test_a_delivery_is_recorded_once(engine: Engine) -> None:
    with Session(engine, expire_on_commit=False) as session:
        first = record_delivery(
            session,
            delivery_id="72d3162e-cc78-11e3-81ab-4c9367dc0958",
            event="deployment_status",
            action="created",
            outcome=DeliveryOutcome.ACCEPTED,
            installation_id=1,
            repository="octo-org/shop",
        )
        session.commit()
    with Session(engine, expire_on_commit=False) as session:
        redelivered = record_delivery(
            session,
            delivery_id="72d3162e-cc78-11e3-81ab-4c9367dc0958",
            event="deployment_status",
            action="created",
            outcome=DeliveryOutcome.ACCEPTED,
        )
        other = record_delivery(
            session,
            delivery_id="another",
            event="ping",
            action=None,
            outcome=DeliveryOutcome.IGNORED,
        )
        session.commit()

    assert (first, redelivered, other) == (True, False, True)
    assert count(engine, Delivery) == 2
    with Session(engine, expire_on_commit=False) as session:
        stored = session.scalars(sa.select(Delivery).order_by(Delivery.id)).first()
        assert stored is not None
        assert stored.outcome is DeliveryOutcome.ACCEPTED
        assert stored.installation_id == 1
        assert stored.received_at.tzinfo is not None


def test_a_duplicate_does_not_spoil_the_rest_of_the_transaction(engine: Engine) -> None:
    with Session(engine, expire_on_commit=False) as session:
        record_delivery(
            session, delivery_id="d1", event="ping", action=None, outcome=DeliveryOutcome.ACCEPTED
        )
        session.commit()
    with Session(engine, expire_on_commit=False) as session:
        assert not record_delivery(
            session, delivery_id="d1", event="ping", action=None, outcome=DeliveryOutcome.ACCEPTED
        )
        assert record_delivery(
            session, delivery_id="d2", event="ping", action=None, outcome=DeliveryOutcome.ACCEPTED
        )
        session.commit()

    assert count(engine, Delivery) == 2


def test_racing_replicas_record_a_delivery_once(engine: Engine) -> None:
    recorded = race(
        engine,
        lambda session, _: record_delivery(
            session,
            delivery_id="same-guid",
            event="deployment",
            action="created",
            outcome=DeliveryOutcome.ACCEPTED,
        ),
    )

    assert recorded.count(True) == 1
    assert count(engine, Delivery) == 1


def test_claim_remedy_once(engine: Engine) -> None:
    deployment_id = deployment(engine)
    with Session(engine, expire_on_commit=False) as session:
        claimed = claim_remedy(session, deployment_id, "redeploy", dry_run=True)
        again = claim_remedy(session, deployment_id, "revert")
        session.commit()

    assert claimed is not None
    assert claimed.strategy == "redeploy"
    assert claimed.dry_run is True
    assert again is None
    assert count(engine, Remedy) == 1


def test_racing_replicas_claim_one_remedy(engine: Engine) -> None:
    deployment_id = deployment(engine)

    claims = race(
        engine, lambda session, index: claim_remedy(session, deployment_id, f"strategy-{index}")
    )

    winners = [claim for claim in claims if claim is not None]
    assert len(winners) == 1
    assert count(engine, Remedy) == 1
    with Session(engine, expire_on_commit=False) as session:
        assert session.scalars(sa.select(Remedy.strategy)).one() == winners[0].strategy


def test_a_remedy_for_a_deployment_that_does_not_exist_is_an_error(engine: Engine) -> None:
    # Not "someone else claimed it": the foreign key refuses, and that must surface.
    with Session(engine, expire_on_commit=False) as session, pytest.raises(IntegrityError):
        claim_remedy(session, 987654, "redeploy")


def test_a_rolled_back_claim_leaves_the_remedy_free(engine: Engine) -> None:
    deployment_id = deployment(engine)
    with Session(engine, expire_on_commit=False) as session:
        assert claim_remedy(session, deployment_id, "redeploy") is not None
        session.rollback()
    with Session(engine, expire_on_commit=False) as session:
        assert claim_remedy(session, deployment_id, "redeploy") is not None
        session.commit()


def test_claim_incident_once_with_its_code(engine: Engine) -> None:
    deployment_id = deployment(engine)
    with Session(engine, expire_on_commit=False) as session:
        incident = claim_incident(
            session,
            deployment_id,
            repository="octo-org/shop",
            environment="production",
            severity=Severity.P1,
            now=NOON,
        )
        again = claim_incident(
            session,
            deployment_id,
            repository="octo-org/shop",
            environment="production",
            severity=Severity.P0,
            now=NOON,
        )
        session.commit()

    assert incident is not None
    assert incident.code == "INC-20261122-001"
    assert incident.severity is Severity.P1
    assert again is None
    assert count(engine, Incident) == 1


def test_racing_replicas_open_one_incident_per_deployment(engine: Engine) -> None:
    deployment_id = deployment(engine)

    claims = race(
        engine,
        lambda session, _: claim_incident(
            session,
            deployment_id,
            repository="octo-org/shop",
            environment="production",
            severity=Severity.P1,
            now=NOON,
        ),
    )

    assert len([claim for claim in claims if claim is not None]) == 1
    assert count(engine, Incident) == 1


def test_racing_incidents_of_different_deployments_get_distinct_codes(engine: Engine) -> None:
    deployment_ids = [deployment(engine, github_id=2000 + index) for index in range(CONTENDERS)]

    claims = race(
        engine,
        lambda session, index: claim_incident(
            session,
            deployment_ids[index],
            repository="octo-org/shop",
            environment="production",
            severity=Severity.P2,
            now=NOON,
        ),
    )

    codes = sorted(claim.code for claim in claims if claim is not None)
    assert codes == [f"INC-20261122-{number:03d}" for number in range(1, CONTENDERS + 1)]


def test_a_taken_code_moves_the_claim_to_the_next_one(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = deployment(engine, github_id=1), deployment(engine, github_id=2)
    with Session(engine, expire_on_commit=False) as session:
        claim_incident(
            session, first, repository="o/r", environment="e", severity=Severity.P1, now=NOON
        )
        session.commit()
    proposed: list[str] = []
    real_next_code = only_once.next_incident_code

    def stale_first(session: Session, day: date) -> str:
        # What a replica that read before another committed would propose.
        code = "INC-20261122-001" if not proposed else real_next_code(session, day)
        proposed.append(code)
        return code

    monkeypatch.setattr(only_once, "next_incident_code", stale_first)
    with Session(engine, expire_on_commit=False) as session:
        incident = claim_incident(
            session, second, repository="o/r", environment="e", severity=Severity.P1, now=NOON
        )
        session.commit()

    assert proposed == ["INC-20261122-001", "INC-20261122-002"]
    assert incident is not None
    assert incident.code == "INC-20261122-002"


def test_incident_codes_count_per_day_past_999(engine: Engine) -> None:
    existing = [(999, 22), (41, 22), (5, 23)]
    deployment_ids = [deployment(engine, github_id=number * 100 + day) for number, day in existing]
    with Session(engine, expire_on_commit=False) as session:
        assert next_incident_code(session, date(2026, 11, 22)) == "INC-20261122-001"
        for deployment_id, (number, day) in zip(deployment_ids, existing, strict=True):
            session.add(
                Incident(
                    deployment_id=deployment_id,
                    repository="o/r",
                    environment="e",
                    code=f"INC-202611{day}-{number:03d}",
                    severity=Severity.P1,
                )
            )
        session.commit()

        assert next_incident_code(session, date(2026, 11, 22)) == "INC-20261122-1000"
        assert next_incident_code(session, date(2026, 11, 23)) == "INC-20261123-006"
        assert next_incident_code(session, date(2026, 11, 24)) == "INC-20261124-001"


def test_record_deployment_finds_the_row_it_made(engine: Engine) -> None:
    first = deployment(engine, github_id=77)
    with Session(engine, expire_on_commit=False) as session:
        row, created = record_deployment(
            session,
            repository="octo-org/shop",
            github_id=77,
            environment="production",
            sha="b" * 40,
            ref="v2",
            created_at=NOON,
        )
        other_repository, created_elsewhere = record_deployment(
            session,
            repository="octo-org/other",
            github_id=77,
            environment="production",
            sha="c" * 40,
            ref="main",
            created_at=NOON,
        )
        session.commit()

    assert (row.id, created) == (first, False)
    assert row.sha == "a" * 40
    assert created_elsewhere is True
    assert other_repository.id != first


def test_set_installation_creates_then_updates(engine: Engine) -> None:
    with Session(engine, expire_on_commit=False) as session:
        set_installation(session, 957387, "Codertocat", active=True)
        session.commit()
    with Session(engine, expire_on_commit=False) as session:
        updated = set_installation(session, 957387, "Codertocat-renamed", active=False)
        session.commit()

    assert updated.active is False
    with Session(engine, expire_on_commit=False) as session:
        stored = session.get_one(Installation, 957387)
        assert (stored.account_login, stored.active) == ("Codertocat-renamed", False)


def _claim_in_new_session(engine: Engine, deployment_id: int) -> Remedy | None:
    with Session(engine, expire_on_commit=False) as session:
        claimed = claim_remedy(session, deployment_id, "revert")
        session.commit()
        return claimed


def _wait_until_a_claim_waits_on_a_lock(engine: Engine, claim: Future[Remedy | None]) -> None:
    """Return once another backend is blocked on a lock: a condition polled, not a delay."""
    waiting = sa.text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 30
    with engine.connect() as monitor:
        while not monitor.scalar(waiting):
            assert not claim.done(), "the second claim finished while the first was uncommitted"
            assert time.monotonic() < deadline, "the second claim never waited on the first"
            monitor.rollback()


@pytest.mark.postgres
@pytest.mark.parametrize("first_commits", [True, False], ids=["first commits", "first rolls back"])
def test_a_concurrent_claim_waits_for_the_first_then_follows_its_outcome(
    postgres_url: str, first_commits: bool
) -> None:
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    try:
        deployment_id = deployment(engine)
        with Session(engine, expire_on_commit=False) as first, ThreadPoolExecutor(1) as pool:
            assert claim_remedy(first, deployment_id, "redeploy") is not None
            second = pool.submit(_claim_in_new_session, engine, deployment_id)
            _wait_until_a_claim_waits_on_a_lock(engine, second)
            if first_commits:
                first.commit()
            else:
                first.rollback()
            outcome = second.result(timeout=30)
        assert (outcome is None) is first_commits
        with Session(engine) as session:
            strategies = session.scalars(sa.select(Remedy.strategy)).all()
        assert strategies == (["redeploy"] if first_commits else ["revert"])
    finally:
        engine.dispose()


def test_a_known_bad_commit_is_recorded_once_by_racing_replicas(engine: Engine) -> None:
    failed = deployment(engine)

    outcomes = race(
        engine,
        lambda session, _: record_known_bad(
            session,
            repository="octo-org/shop",
            sha="a" * 40,
            deployment_id=failed,
            reason="home page answered 500",
        ),
    )

    assert sorted(outcomes) == [False] * (CONTENDERS - 1) + [True]
    with Session(engine, expire_on_commit=False) as session:
        (row,) = session.scalars(sa.select(KnownBadSha)).all()
    assert (row.sha, row.deployment_id, row.allowed_at) == ("a" * 40, failed, None)


def test_an_allowed_commit_that_fails_again_elsewhere_is_refused_again(engine: Engine) -> None:
    first, second = deployment(engine, 1001), deployment(engine, 1002)

    def record(session: Session, deployment_id: int) -> bool:
        return record_known_bad(
            session,
            repository="octo-org/shop",
            sha="a" * 40,
            deployment_id=deployment_id,
            reason=None,
        )

    with Session(engine, expire_on_commit=False) as session:
        assert record(session, first)
        row = session.scalars(sa.select(KnownBadSha)).one()
        row.allowed_by, row.allowed_at = "mona", NOON
        session.commit()
    with Session(engine, expire_on_commit=False) as session:
        # The same deployment judged again (a repeated step) leaves the person's choice.
        assert not record(session, first)
        assert session.scalars(sa.select(KnownBadSha.allowed_by)).one() == "mona"
        assert record(session, second)
        session.commit()
    with Session(engine, expire_on_commit=False) as session:
        row = session.scalars(sa.select(KnownBadSha)).one()
    assert (row.deployment_id, row.allowed_by, row.allowed_at) == (second, None, None)


def test_a_comment_is_claimed_once_by_racing_replicas(engine: Engine) -> None:
    outcomes = race(
        engine,
        lambda session, index: claim_comment(
            # GitHub's names are case-insensitive: so are the claims.
            session,
            "Octo-Org/Shop" if index % 2 else "octo-org/shop",
            7,
            "update:remedy",
        ),
    )

    assert sorted(outcomes) == [False] * (CONTENDERS - 1) + [True]
    with Session(engine, expire_on_commit=False) as session:
        assert claim_comment(session, "octo-org/shop", 7, "update:service_restored")
        assert claim_comment(session, "octo-org/shop", 8, "update:remedy")
        session.commit()
        assert session.scalar(sa.select(sa.func.count()).select_from(IncidentComment)) == 3
