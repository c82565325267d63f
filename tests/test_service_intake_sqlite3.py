"""The request's INSERT on SQLite goes through the sqlite3 driver itself: same rows, same errors."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from guard.service.errors import DATABASE_DOWN
from guard.service.intake import record_delivery_once, record_queued
from guard.store import Delivery, DeliveryOutcome, make_engine
from guard.store.base import utcnow
from tests.service_support import (
    Apps,
    RecordingQueue,
    fixture_body,
    service_settings,
    signed_headers,
    sqlite_url,
)
from tests.test_service_intake import status_event


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = make_engine(service_settings(sqlite_url(tmp_path)).database_url)
    yield engine
    engine.dispose()


def test_rows_read_back_through_the_orm_with_their_types(engine: sa.Engine) -> None:
    before = utcnow()
    assert record_queued(engine, "typed-1", status_event(41))
    assert record_delivery_once(
        engine,
        "typed-2",
        event="push",
        action="x" * 80,
        outcome=DeliveryOutcome.IGNORED,
        detail="the guard does not act on push events",
    )
    after = utcnow()

    with Session(engine) as session:
        queued, ignored = session.scalars(sa.select(Delivery).order_by(Delivery.id)).all()
    assert queued.outcome is DeliveryOutcome.QUEUED
    assert queued.received_at.tzinfo is not None
    assert before <= queued.received_at <= after
    assert queued.repository == "Codertocat/Hello-World"
    assert queued.installation_id == status_event(41).installation_id
    assert ignored.outcome is DeliveryOutcome.IGNORED
    assert ignored.action == "x" * 64  # cut to the column's width
    assert ignored.payload is None


def test_the_requeue_of_an_error_matches_only_error_rows(engine: sa.Engine) -> None:
    assert record_queued(engine, "again", status_event(1))
    # Queued (not error): a redelivery changes nothing.
    assert not record_queued(engine, "again", status_event(2))
    with engine.begin() as connection:
        connection.execute(
            sa.update(Delivery)
            .where(Delivery.delivery_id == "again")
            .values(outcome=DeliveryOutcome.ERROR, detail="the handler failed")
        )
    assert record_queued(engine, "again", status_event(3))
    with Session(engine) as session:
        row = session.scalars(sa.select(Delivery)).one()
    assert (row.outcome, row.detail) == (DeliveryOutcome.QUEUED, None)
    assert '"id":3' in (row.payload or "")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[FlaskClient]:
    apps = Apps()
    app = apps(service_settings(sqlite_url(tmp_path)), queue=RecordingQueue())
    yield app.test_client()
    apps.close()


def _post(client: FlaskClient, delivery: str) -> tuple[int, str]:
    body = fixture_body("deployment_status.created.0.json")
    answer = client.post(
        "/webhook", data=body, headers=signed_headers("deployment_status", delivery, body)
    )
    payload = answer.get_json()
    assert isinstance(payload, dict)
    return answer.status_code, str(payload["reason"])


def test_a_database_locked_past_the_timeout_answers_503_and_a_redelivery_is_taken(
    client: FlaskClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("guard.store.engine.SQLITE_BUSY_TIMEOUT_MS", 20)
    delivery = str(uuid.uuid4())
    holder = sqlite3.connect(tmp_path / "guard.db", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        assert _post(client, delivery) == (503, DATABASE_DOWN)
        holder.execute("ROLLBACK")
    finally:
        holder.close()

    status, reason = _post(client, delivery)
    assert status == 202
    assert reason.startswith(f"queued: delivery {delivery}")


def test_a_database_that_cannot_be_opened_answers_503(tmp_path: Path) -> None:
    settings = service_settings(sqlite_url(tmp_path))
    apps = Apps()
    try:
        app = apps(settings, queue=RecordingQueue())
        client = app.test_client()
        (tmp_path / "guard.db").unlink()
        (tmp_path / "guard.db").mkdir()  # a directory where the file was: SQLite cannot open it

        assert _post(client, str(uuid.uuid4())) == (503, DATABASE_DOWN)
    finally:
        apps.close()
