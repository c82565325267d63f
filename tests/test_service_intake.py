"""Recording deliveries in the request: one statement, grouped commits, the intake flag."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from guard.events import DeploymentStatusCreated, parse_event
from guard.service.intake import (
    GroupCommit,
    insert_statement,
    record_delivery_once,
    record_queued,
)
from guard.store import Delivery, DeliveryOutcome, make_engine
from guard.store.base import utcnow
from guard.store.intake_flag import IntakeFlag, flag_path, intake_flag
from tests.service_support import fixture_json, service_settings, sqlite_url


def status_event(deployment_id: int) -> DeploymentStatusCreated:
    payload = fixture_json("deployment_status.created.0.json")
    payload["deployment"]["id"] = deployment_id
    event = parse_event("deployment_status", payload)
    assert isinstance(event, DeploymentStatusCreated)
    return event


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        url = sqlite_url(tmp_path)
    else:
        url = request.getfixturevalue("postgres_url")
    engine = make_engine(service_settings(url).database_url)
    yield engine
    engine.dispose()


def rows(engine: sa.Engine) -> list[tuple[str, str, str | None]]:
    statement = sa.select(Delivery.delivery_id, Delivery.outcome, Delivery.payload).order_by(
        Delivery.id
    )
    with engine.connect() as connection:
        return [(d, str(o), p) for d, o, p in connection.execute(statement)]


def test_a_queued_delivery_keeps_a_payload_that_parses_back_to_the_same_event(
    engine: sa.Engine,
) -> None:
    event = status_event(41)
    assert record_queued(engine, "q-41", event)
    [(delivery_id, outcome, payload)] = rows(engine)
    assert (delivery_id, outcome) == ("q-41", "queued")
    assert payload is not None
    assert parse_event("deployment_status", payload) == event


def test_only_an_error_is_queued_again_by_a_redelivery(engine: sa.Engine) -> None:
    assert record_delivery_once(
        engine,
        "settled",
        event="push",
        action=None,
        outcome=DeliveryOutcome.IGNORED,
        detail="the guard does not act on push events",
    )
    assert not record_delivery_once(
        engine, "settled", event="push", action=None, outcome=DeliveryOutcome.IGNORED, detail="x"
    )
    assert not record_queued(engine, "settled", status_event(1))
    with engine.begin() as connection:
        connection.execute(
            sa.update(Delivery).where(Delivery.delivery_id == "settled").values(outcome="error")
        )
    assert record_queued(engine, "settled", status_event(1))
    [(_, outcome, payload)] = rows(engine)
    assert outcome == "queued"
    assert payload is not None


def test_concurrent_requests_share_commits_and_each_learns_its_own_answer(
    engine: sa.Engine,
) -> None:
    commits = GroupCommit(engine)
    insert = insert_statement(engine.dialect.name, requeue_error=False)
    requests = 12
    start = threading.Barrier(requests)
    answers: dict[int, bool] = {}

    def request(number: int) -> None:
        # Each delivery id is sent twice: one of the pair is fresh, the other a duplicate.
        row = {
            "delivery_id": f"g-{number // 2}",
            "event": "push",
            "action": None,
            "outcome": DeliveryOutcome.IGNORED,
            "detail": "ignored",
            "installation_id": None,
            "repository": None,
            "payload": None,
            "received_at": utcnow(),
        }
        start.wait()
        answers[number] = commits.insert(insert, row)

    threads = [threading.Thread(target=request, args=(n,)) for n in range(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    for pair in range(requests // 2):
        assert sorted([answers[2 * pair], answers[2 * pair + 1]]) == [False, True]
    assert sorted(d for d, _, _ in rows(engine)) == sorted(f"g-{p}" for p in range(requests // 2))


def test_the_intake_flag_is_seen_by_another_holder_only_while_raised(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path))
    try:
        path = flag_path(engine)
        assert path == str(tmp_path / "guard.db") + ".intake"
        recorder, dispatcher = IntakeFlag(path), intake_flag(engine)
        assert dispatcher is not None
        assert dispatcher.is_down()
        with recorder.raised(), recorder.raised():
            assert not dispatcher.is_down()
        assert dispatcher.is_down()
        recorder.close()
        dispatcher.close()
    finally:
        engine.dispose()


@pytest.mark.parametrize("url", ["sqlite://", "postgresql://guard@127.0.0.1:5432/guard"])
def test_postgresql_and_memory_databases_have_no_intake_flag(url: str) -> None:
    engine = make_engine(url)
    assert flag_path(engine) is None
    assert intake_flag(engine) is None
    engine.dispose()
