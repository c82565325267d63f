"""/healthz, /readyz and /metrics through the test client; intake on the real SQLite queue."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from guard.jobs.queue import JobQueue, make_queue
from guard.settings import Settings
from tests.service_support import (
    Apps,
    RecordingQueue,
    encode,
    fixture_body,
    fixture_json,
    run_queued,
    service_settings,
    signed_headers,
)


def closed_port() -> int:
    """A port nothing listens on: bound, then released without listening."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def sqlite_queue(settings: Settings) -> Iterator[JobQueue]:
    queue = make_queue(settings)
    yield queue
    queue.close()


def test_healthz_answers_while_the_process_lives(settings: Settings, make_app: Apps) -> None:
    response = make_app(settings, queue=RecordingQueue()).test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "reason": "the process is running"}


def test_readyz_is_200_when_the_database_and_the_queue_answer(
    settings: Settings, sqlite_queue: JobQueue, make_app: Apps
) -> None:
    response = make_app(settings, queue=sqlite_queue).test_client().get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ready",
        "reason": "the database and the job queue answer",
        "database": "ok",
        "queue": "ok",
    }


@pytest.mark.parametrize(
    "database_url",
    [
        pytest.param("sqlite:///{tmp}/no/such/directory/guard.db", id="sqlite-unopenable"),
        pytest.param("sqlite:///{tmp}", id="sqlite-path-is-a-directory"),
        pytest.param("postgresql+psycopg://postgres@127.0.0.1:{port}/guard", id="postgres-dead"),
    ],
)
def test_readyz_is_503_naming_the_database_when_it_does_not_answer(
    tmp_path: Path, database_url: str, make_app: Apps
) -> None:
    url = database_url.format(tmp=tmp_path, port=closed_port())
    settings = service_settings(url, migrated=False)
    response = make_app(settings, queue=RecordingQueue()).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {
        "status": "unavailable",
        "reason": "not ready: the database is not answering",
        "database": "down",
        "queue": "ok",
    }


def test_readyz_is_503_naming_the_queue_when_redis_does_not_answer(
    settings: Settings, make_app: Apps
) -> None:
    redis_down = service_settings(
        settings.database_url,
        migrated=False,
        GUARD_QUEUE_URL=f"redis://127.0.0.1:{closed_port()}/0",
    )
    queue = make_queue(redis_down)
    try:
        response = make_app(redis_down, queue=queue).test_client().get("/readyz")
    finally:
        queue.close()
    assert response.status_code == 503
    body = response.get_json()
    assert (body["database"], body["queue"]) == ("ok", "down")
    assert body["reason"] == "not ready: the queue is not answering"


def test_readyz_names_both_when_both_are_down(tmp_path: Path, make_app: Apps) -> None:
    settings = service_settings(f"sqlite:///{tmp_path}/missing/guard.db", migrated=False)
    client = make_app(settings, queue=RecordingQueue(answers_ping=False)).test_client()
    body = client.get("/readyz").get_json()
    assert body["reason"] == (
        "not ready: the database is not answering; the queue is not answering"
    )


def counter_value(text: str, name: str, labels: dict[str, str]) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def test_metrics_count_deliveries_by_event_and_outcome(settings: Settings, make_app: Apps) -> None:
    client = make_app(settings, queue=RecordingQueue()).test_client()
    name = "deploy_guard_webhook_deliveries_total"
    pong = {"event": "ping", "outcome": "pong"}
    unknown = {"event": "other", "outcome": "unauthorized"}
    before = client.get("/metrics").get_data(as_text=True)
    body = fixture_body("ping.none.0.json")
    client.post("/webhook", data=body, headers=signed_headers("ping", str(uuid.uuid4()), body))
    client.post("/webhook", data=b"{}", headers={"X-GitHub-Event": "made_up_event_name"})
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    after = response.get_data(as_text=True)
    assert counter_value(after, name, pong) == counter_value(before, name, pong) + 1
    # An event name nobody subscribed to is counted as "other": callers cannot mint series.
    assert counter_value(after, name, unknown) == counter_value(before, name, unknown) + 1
    assert "made_up_event_name" not in after
    for metric in (
        "deploy_guard_verifications",
        "deploy_guard_probe_duration_seconds",
        "deploy_guard_watch_round_lag_seconds",
        "deploy_guard_github_calls",
        "deploy_guard_github_rate_limit_remaining",
    ):
        assert f"# HELP {metric}" in after


def test_a_queued_delivery_puts_its_job_on_the_real_sqlite_queue_when_dispatched(
    settings: Settings, sqlite_queue: JobQueue, make_app: Apps
) -> None:
    client = make_app(settings, queue=sqlite_queue).test_client()
    payload = fixture_json("deployment_status.created.0.json")
    payload["deployment"]["id"] = 4242
    body = encode(payload)
    response = client.post(
        "/webhook", data=body, headers=signed_headers("deployment_status", "real-queue", body)
    )
    assert response.status_code == 202
    assert sqlite_queue.huey.pending() == []
    run_queued(client.application)
    pending = [(task.name, task.args) for task in sqlite_queue.huey.pending()]
    assert pending == [("start_verification", (4242,))]


def test_metrics_show_how_many_deliveries_wait_for_their_handler(
    settings: Settings, make_app: Apps
) -> None:
    app = make_app(settings, queue=RecordingQueue())
    client = app.test_client()
    gauge = "deploy_guard_deliveries_queued"
    assert f"\n{gauge} 0\n" in client.get("/metrics").get_data(as_text=True)
    for number in (1, 2):
        payload = fixture_json("deployment_status.created.0.json")
        payload["deployment"]["id"] = number
        body = encode(payload)
        headers = signed_headers("deployment_status", f"waiting-{number}", body)
        assert client.post("/webhook", data=body, headers=headers).status_code == 202
    text = client.get("/metrics").get_data(as_text=True)
    assert f"# TYPE {gauge} gauge\n{gauge} 2\n" in text
    assert len(run_queued(app)) == 2
    assert f"\n{gauge} 0\n" in client.get("/metrics").get_data(as_text=True)
