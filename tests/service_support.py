"""Helpers shared by the service and handler tests: settings, a recording queue, signed posts."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from guard.jobs.deliveries import DeliveryDispatcher, Dispatched
from guard.service.app import close_app, create_app
from guard.service.state import EXTENSION_KEY, ServiceState
from guard.settings import Settings, load_settings
from guard.store import Delivery, DeliveryOutcome, make_engine, migrate
from guard.webhook_signature import sign

SECRET = "a webhook secret for tests"
TOKEN = "ghp_testtoken0123456789abcdefABCDEF"
FIXTURES = Path(__file__).parent / "fixtures" / "webhooks"


def service_environment(database_url: str, **more: str) -> dict[str, str]:
    """The variables `serve` needs: the webhook secret, a token, and where the database is."""
    return {
        "GUARD_WEBHOOK_SECRET": SECRET,
        "GUARD_GITHUB_TOKEN": TOKEN,
        "GUARD_DATABASE_URL": database_url,
        **more,
    }


def service_settings(database_url: str, *, migrated: bool = True, **more: str) -> Settings:
    settings = load_settings(service_environment(database_url, **more))
    if migrated:
        migrate.upgrade(settings.database_url)
    return settings


def sqlite_url(directory: Path, name: str = "guard.db") -> str:
    return f"sqlite:///{directory / name}"


@dataclass
class RecordingQueue:
    """An in-memory stand-in for guard.jobs.queue.JobQueue: it records what it was asked."""

    answers_ping: bool = True
    fail_enqueue: bool = False
    verifications: list[int] = field(default_factory=list)
    supersedes: list[tuple[str, str, int]] = field(default_factory=list)
    followups: list[dict[str, Any]] = field(default_factory=list)

    def enqueue_verification(self, deployment_id: int) -> None:
        if self.fail_enqueue:
            raise ConnectionError("the queue is down")
        self.verifications.append(deployment_id)

    def enqueue_supersede(
        self, repository: str, environment: str, newer_deployment_id: int
    ) -> None:
        if self.fail_enqueue:
            raise ConnectionError("the queue is down")
        self.supersedes.append((repository, environment, newer_deployment_id))

    def enqueue_followup(self, work: dict[str, Any]) -> None:
        if self.fail_enqueue:
            raise ConnectionError("the queue is down")
        self.followups.append(work)

    def ping(self) -> bool:
        return self.answers_ping


def fixture_body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> dict[str, Any]:
    loaded = json.loads(fixture_body(name))
    assert isinstance(loaded, dict)
    return loaded


def event_of_fixture(name: str) -> str:
    return name.split(".", 1)[0]


def signed_headers(
    event: str | None, delivery: str | None, body: bytes, *, secret: str = SECRET
) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": sign(secret.encode(), body),
    }
    if event is not None:
        headers["X-GitHub-Event"] = event
    if delivery is not None:
        headers["X-GitHub-Delivery"] = delivery
    return headers


def encode(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload).encode("utf-8")


class Apps:
    """Creates service apps for a test and gives their database connections back afterwards."""

    def __init__(self) -> None:
        self._apps: list[Flask] = []

    def __call__(self, settings: Settings, **options: Any) -> Flask:
        app = create_app(settings, **options)
        self._apps.append(app)
        return app

    def close(self) -> None:
        for app in self._apps:
            close_app(app)


def run_queued(app: Flask) -> list[Dispatched]:
    """Run the handlers of the app's queued deliveries now, as the jobs process would."""
    state = app.extensions[EXTENSION_KEY]
    assert isinstance(state, ServiceState)
    dispatcher = DeliveryDispatcher(state.engine, state.queue, state.settings, state.handlers)
    try:
        return dispatcher.drain()
    finally:
        dispatcher.stop()


def settled_outcome(database_url: str, delivery_id: str, *, patience_s: float = 60.0) -> str:
    """The outcome of a delivery once the jobs process has run it (no longer `queued`).

    Waits on the row's state, checking it every few milliseconds; `patience_s` only bounds
    a test whose dispatcher never runs, it is not a timing assertion.
    """
    engine = make_engine(database_url)
    statement = sa.select(Delivery.outcome).where(Delivery.delivery_id == delivery_id)
    checked = threading.Event()
    deadline = time.monotonic() + patience_s
    try:
        while True:
            with engine.connect() as connection:
                outcome = connection.execute(statement).scalar_one_or_none()
            if outcome is not None and outcome != DeliveryOutcome.QUEUED:
                return str(outcome)
            assert time.monotonic() < deadline, f"{delivery_id} is still {outcome}"
            checked.wait(0.01)
    finally:
        engine.dispose()


@contextmanager
def database_session(database_url: str) -> Iterator[Session]:
    """A session on the guard's database whose objects stay readable after it closes."""
    engine = make_engine(database_url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            yield session
    finally:
        engine.dispose()


def refuse_deliveries(database_url: str) -> None:
    """A real database fault that is not "the database is down": SQLite's RAISE(ABORT) on
    every INSERT into deliveries is an IntegrityError, which a request does not expect."""
    with database_session(database_url) as session:
        session.execute(
            sa.text(
                "CREATE TRIGGER refuse_deliveries BEFORE INSERT ON deliveries "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )
        )
        session.commit()
