"""The same intake on the scale-out backends: PostgreSQL for state, Redis for the queue."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from guard.jobs.queue import JobQueue, make_queue
from guard.service.app import close_app, create_app
from guard.settings import Settings
from guard.store import Delivery, DeliveryOutcome, Deployment, make_engine
from tests.service_support import (
    RecordingQueue,
    encode,
    fixture_json,
    run_queued,
    service_settings,
    signed_headers,
    sqlite_url,
)


def success_status(deployment_id: int) -> bytes:
    payload = fixture_json("deployment_status.created.0.json")
    payload["deployment"]["id"] = deployment_id
    return encode(payload)


def count(database_url: str, statement: sa.Select[Any]) -> int:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(statement).scalar_one())
    finally:
        engine.dispose()


@pytest.fixture
def postgres_settings(postgres_url: str) -> Settings:
    return service_settings(postgres_url)


@pytest.mark.postgres
def test_intake_on_postgresql_records_once_and_queues_once(postgres_settings: Settings) -> None:
    queue = RecordingQueue()
    app = create_app(postgres_settings, queue=queue)
    body = success_status(777)
    headers = signed_headers("deployment_status", "pg-1", body)
    try:
        first = app.test_client().post("/webhook", data=body, headers=headers)
        run_queued(app)
        again = app.test_client().post("/webhook", data=body, headers=headers)
        assert run_queued(app) == []
    finally:
        close_app(app)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.get_json()["status"] == "duplicate"
    assert queue.verifications == [777]
    url = postgres_settings.database_url
    assert count(url, sa.select(sa.func.count()).select_from(Delivery)) == 1
    outcome = sa.select(Delivery.outcome).where(Delivery.delivery_id == "pg-1")
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            assert connection.execute(outcome).scalar_one() == DeliveryOutcome.ACCEPTED
    finally:
        engine.dispose()
    assert count(url, sa.select(sa.func.count()).select_from(Deployment)) == 1


@pytest.mark.postgres
def test_two_replicas_racing_on_one_delivery_start_it_once(postgres_settings: Settings) -> None:
    queue = RecordingQueue()
    # Two apps, two engines: as two replicas behind a load balancer would be.
    apps = [create_app(postgres_settings, queue=queue) for _ in range(2)]
    clients = [app.test_client() for app in apps]
    body = success_status(888)
    headers = signed_headers("deployment_status", "raced", body)
    start = threading.Barrier(len(clients))
    statuses: list[int] = []

    def deliver(client: Any) -> None:
        start.wait()
        statuses.append(client.post("/webhook", data=body, headers=headers).status_code)

    threads = [threading.Thread(target=deliver, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    dispatched = [run_queued(app) for app in apps]
    for app in apps:
        close_app(app)
    assert sorted(statuses) == [200, 202]
    assert sorted(len(done) for done in dispatched) == [0, 1]
    assert queue.verifications == [888]
    url = postgres_settings.database_url
    assert count(url, sa.select(sa.func.count()).select_from(Delivery)) == 1


@pytest.fixture
def redis_queue(tmp_path: Path, redis_url: str) -> Iterator[tuple[Settings, JobQueue]]:
    settings = service_settings(sqlite_url(tmp_path), GUARD_QUEUE_URL=redis_url)
    # A queue name of this test's own: other runs may use the same Redis database.
    queue = make_queue(settings, name=f"deploy-guard-test-{uuid.uuid4().hex[:12]}")
    yield settings, queue
    queue.huey.flush()
    queue.close()


@pytest.mark.redis
def test_intake_with_the_redis_queue_puts_the_job_in_redis(
    redis_queue: tuple[Settings, JobQueue],
) -> None:
    settings, queue = redis_queue
    app = create_app(settings, queue=queue)
    client = app.test_client()
    assert client.get("/readyz").get_json()["queue"] == "ok"
    body = success_status(999)
    response = client.post(
        "/webhook", data=body, headers=signed_headers("deployment_status", "redis-1", body)
    )
    assert response.status_code == 202
    run_queued(app)
    pending = [(task.name, task.args) for task in queue.huey.pending()]
    assert pending == [("start_verification", (999,))]
    again = client.post(
        "/webhook", data=body, headers=signed_headers("deployment_status", "redis-1", body)
    )
    assert again.get_json()["status"] == "duplicate"
    assert run_queued(app) == []
    assert len(queue.huey.pending()) == 1
    close_app(app)
