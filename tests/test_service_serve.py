"""A real `deploy-guard serve` (gunicorn, 2 workers): intake, readiness, metrics, bad start-ups."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from pytest_httpserver import HTTPServer

from guard.service.errors import MAX_BODY_BYTES
from guard.store import Delivery, DeliveryOutcome, make_engine
from guard.webhook_signature import sign
from tests.serve_process import ServeProcess, free_port, poll_until, run_serve, running
from tests.service_support import (
    FIXTURES,
    TOKEN,
    encode,
    event_of_fixture,
    fixture_body,
    fixture_json,
    service_environment,
    settled_outcome,
    signed_headers,
    sqlite_url,
)

pytestmark = pytest.mark.slow

DOCS_SECRET = "It's a Secret to Everybody"
DOCS_BODY = b"Hello, World!"
DOCS_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


@pytest.fixture
def github_api(httpserver: HTTPServer) -> str:
    """A GitHub that knows no repository: the embedded workers' jobs end at once, not after
    retrying a connection, and no request leaves the machine."""
    httpserver.expect_request(re.compile(".*")).respond_with_json(
        {"message": "Not Found"}, status=404
    )
    return httpserver.url_for("/").rstrip("/")


def environment(database_url: str, github_api: str, **more: str) -> dict[str, str]:
    return service_environment(
        database_url, GUARD_WEBHOOK_SECRET=DOCS_SECRET, GUARD_GITHUB_API_URL=github_api, **more
    )


def post(
    server: ServeProcess,
    event: str | None,
    body: bytes,
    delivery: str | None = None,
    *,
    signature: str | None = "sign",
) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if signature == "sign":
        headers["X-Hub-Signature-256"] = sign(DOCS_SECRET.encode(), body)
    elif signature is not None:
        headers["X-Hub-Signature-256"] = signature
    if event is not None:
        headers["X-GitHub-Event"] = event
    headers["X-GitHub-Delivery"] = delivery or str(uuid.uuid4())
    return requests.post(server.url("/webhook"), data=body, headers=headers, timeout=30)


def delivery_rows(database_url: str) -> dict[str, tuple[str, DeliveryOutcome]]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            statement = sa.select(Delivery.delivery_id, Delivery.event, Delivery.outcome)
            return {row[0]: (row[1], row[2]) for row in connection.execute(statement)}
    finally:
        engine.dispose()


def oversized_post_status(server: ServeProcess) -> tuple[int, dict[str, Any]]:
    """Announce a body over 25 MB and read the answer without sending it (GitHub never would)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.putrequest("POST", "/webhook")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(MAX_BODY_BYTES + 1))
        connection.putheader("X-GitHub-Event", "ping")
        connection.putheader("X-GitHub-Delivery", "too-big")
        connection.endheaders()
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def chunked_post(server: ServeProcess, event: str, body: bytes, delivery: str) -> tuple[int, str]:
    """POST `body` with chunked transfer encoding, in pieces; the answer's code and status."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        pieces = [body[start : start + 1000] for start in range(0, len(body), 1000)]
        headers = signed_headers(event, delivery, body, secret=DOCS_SECRET)
        connection.request("POST", "/webhook", iter(pieces), headers, encode_chunked=True)
        response = connection.getresponse()
        return response.status, str(json.loads(response.read())["status"])
    finally:
        connection.close()


def success_status(deployment_id: int) -> bytes:
    payload = fixture_json("deployment_status.created.0.json")
    payload["deployment"]["id"] = deployment_id
    return encode(payload)


def check_intake(server: ServeProcess, database_url: str) -> None:
    """The webhook contract, answered by a real server, checked against its database."""
    assert (
        post(server, "ping", DOCS_BODY, signature=DOCS_SIGNATURE)
        .json()["reason"]
        .startswith("ping: the body is not JSON")
    )
    forged = DOCS_SIGNATURE[:-1] + "f"
    assert post(server, "ping", DOCS_BODY, signature=forged).status_code == 401
    ping = fixture_body("ping.none.0.json")
    unsigned = post(server, "ping", ping, signature=None)
    assert (unsigned.status_code, unsigned.json()["status"]) == (401, "rejected")
    no_event = post(server, None, ping)
    assert no_event.status_code == 400
    assert "X-GitHub-Event is missing" in no_event.json()["reason"]
    bad_shape = post(server, "deployment_status", b'{"action": "created"}', "shape")
    assert bad_shape.status_code == 400
    assert bad_shape.json()["reason"].startswith("deployment_status.created: ")
    assert oversized_post_status(server) == (
        413,
        {"status": "rejected", "reason": "the body is over 25 MB, the most GitHub ever delivers"},
    )
    assert post(server, "push", fixture_body("push.none.0.json")).json()["status"] == "ignored"
    # A body sent in chunks (no Content-Length) is read to its end and verified whole.
    assert chunked_post(server, "ping", ping, "chunked-ping") == (200, "pong")

    body = success_status(987654)
    first = post(server, "deployment_status", body, "accepted-once")
    assert (first.status_code, first.json()["status"]) == (202, "accepted")
    again = post(server, "deployment_status", body, "accepted-once")
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")

    for path in sorted(FIXTURES.glob("*.json")):
        answer = post(server, event_of_fixture(path.name), path.read_bytes())
        assert answer.status_code in (200, 202), (path.name, answer.text)

    # The 202 meant "queued": the embedded jobs process runs the handler.
    assert settled_outcome(database_url, "accepted-once") == DeliveryOutcome.ACCEPTED
    rows = delivery_rows(database_url)
    assert rows["accepted-once"] == ("deployment_status", DeliveryOutcome.ACCEPTED)
    assert rows["shape"] == ("deployment_status", DeliveryOutcome.REJECTED)
    assert list(rows).count("accepted-once") == 1
    assert requests.get(server.url("/healthz"), timeout=10).status_code == 200


def test_intake_end_to_end_on_sqlite(tmp_path: Path, github_api: str) -> None:
    url = sqlite_url(tmp_path)
    with ServeProcess(environment(url, github_api), tmp_path) as server:
        assert requests.get(server.url("/readyz"), timeout=10).json()["status"] == "ready"
        [jobs] = server.jobs_pids()
        check_intake(server, url)
    # The job workers ran beside gunicorn on the SQLite queue, and stopped with serve.
    assert (tmp_path / "guard-queue.db").exists()
    assert not running(jobs)
    log = server.log_text()
    assert '"event": "workers.stopped"' in log
    # Deliveries, failures and GitHub errors were all logged; the credentials never were.
    assert DOCS_SECRET not in log
    assert TOKEN not in log


def test_the_job_workers_stop_when_serve_is_killed(tmp_path: Path, github_api: str) -> None:
    server = ServeProcess(environment(sqlite_url(tmp_path), github_api), tmp_path)
    with server:
        [jobs] = server.jobs_pids()
        assert server.process is not None
        server.process.kill()
        server.process.wait()
        poll_until(lambda: not running(jobs), "the job workers stopped")
    assert "jobs.serve_gone" in server.log_text()


@pytest.mark.postgres
def test_intake_end_to_end_on_postgresql(
    tmp_path: Path, postgres_url: str, github_api: str
) -> None:
    with ServeProcess(environment(postgres_url, github_api), tmp_path) as server:
        assert requests.get(server.url("/readyz"), timeout=10).json()["status"] == "ready"
        check_intake(server, postgres_url)


@pytest.mark.redis
def test_with_a_redis_queue_serve_runs_no_workers_and_queues_there(
    tmp_path: Path, redis_url: str, github_api: str
) -> None:
    url = sqlite_url(tmp_path)
    with ServeProcess(environment(url, github_api, GUARD_QUEUE_URL=redis_url), tmp_path) as server:
        assert requests.get(server.url("/readyz"), timeout=10).json()["queue"] == "ok"
        answer = post(server, "deployment_status", success_status(55501), "redis-1")
        assert answer.status_code == 202
        log = server.log_text()
        assert server.jobs_pids() == []
    assert "serve.no_embedded_workers" in log
    assert "deploy-guard worker" in log
    assert "workers.started" not in log
    # No workers here: the delivery waits, queued, for a `deploy-guard worker` to run it.
    assert delivery_rows(url)["redis-1"][1] == DeliveryOutcome.QUEUED


def test_readyz_names_the_queue_when_redis_is_down(tmp_path: Path, github_api: str) -> None:
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    variables = environment(sqlite_url(tmp_path), github_api, GUARD_QUEUE_URL=dead_redis)
    with ServeProcess(variables, tmp_path) as server:
        response = requests.get(server.url("/readyz"), timeout=30)
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "reason": "not ready: the queue is not answering",
        "database": "ok",
        "queue": "down",
    }


def pongs(server: ServeProcess) -> float:
    text = requests.get(server.url("/metrics"), timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "deploy_guard_webhook_deliveries_total" and sample.labels == {
                "event": "ping",
                "outcome": "pong",
            }:
                return float(sample.value)
    return 0.0


def test_metrics_add_up_the_deliveries_of_every_worker_process(
    tmp_path: Path, github_api: str
) -> None:
    with ServeProcess(environment(sqlite_url(tmp_path), github_api), tmp_path, workers=2) as server:
        # gunicorn forks its workers one after the other: wait for both before counting.
        poll_until(lambda: len(server.worker_pids()) == 2, "gunicorn started both workers")
        first_workers = server.worker_pids()
        assert len(first_workers) == 2
        ping = fixture_body("ping.none.0.json")
        for _ in range(6):
            assert post(server, "ping", ping).status_code == 200
        assert pongs(server) == 6
        # Replace both workers: the counts the new ones serve can only come from the files
        # the old processes left, so /metrics sums across processes, not within one.
        for pid in first_workers:
            os.kill(pid, signal.SIGTERM)

        def replaced() -> bool:
            workers = server.worker_pids()
            return len(workers) == 2 and set(workers).isdisjoint(first_workers)

        poll_until(replaced, "gunicorn replaced both workers")
        server.wait_until_serving("/metrics")
        assert pongs(server) == 6
        assert post(server, "ping", ping).status_code == 200
        assert pongs(server) == 7


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"GUARD_WEBHOOK_SECRET": ""}, "GUARD_WEBHOOK_SECRET is not set"),
        ({"GUARD_GITHUB_TOKEN": ""}, "no GitHub credentials"),
        ({"GUARD_LOG_FORMAT": "xml"}, 'GUARD_LOG_FORMAT: "xml" is not one of json, text'),
        ({"GUARD_DATABASE_URL": "mysql://db/guard"}, "GUARD_DATABASE_URL: "),
    ],
    ids=["no-secret", "no-credentials", "bad-log-format", "bad-database-url"],
)
def test_a_bad_setting_stops_start_up_with_one_line(
    tmp_path: Path, variables: dict[str, str], message: str
) -> None:
    variables = {**service_environment(sqlite_url(tmp_path)), **variables}
    result = run_serve({k: v for k, v in variables.items() if v}, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("deploy-guard serve: ")
    assert message in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert TOKEN not in result.stderr


def test_a_database_that_cannot_be_created_stops_start_up_with_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/missing-directory/guard.db"
    result = run_serve(service_environment(url), tmp_path)
    assert result.returncode == 1
    [line] = [line for line in result.stderr.splitlines() if line.startswith("deploy-guard serve:")]
    assert "the database cannot be migrated" in line
    assert "Traceback" not in result.stderr


def test_job_workers_that_cannot_start_stop_start_up_with_one_line(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "a-file"
    not_a_directory.write_text("")
    queue = f"sqlite:///{not_a_directory}/queue.db"
    result = run_serve(
        service_environment(sqlite_url(tmp_path), GUARD_QUEUE_URL=queue, GUARD_LOG_FORMAT="text"),
        tmp_path,
    )
    assert result.returncode == 1
    [line] = [line for line in result.stderr.splitlines() if line.startswith("deploy-guard serve:")]
    assert line.startswith("deploy-guard serve: the embedded job workers did not start (")
    assert "a-file" in line
    assert "Traceback" not in result.stderr
