"""POST /webhook through Flask's test client: signatures, headers, shapes, sizes, outcomes."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from guard.events import EVENT_MODELS
from guard.handlers import HANDLERS, HandlerContext, HandlerResult
from guard.service.errors import MAX_BODY_BYTES
from guard.settings import Settings
from guard.store import Delivery, DeliveryOutcome, Deployment, make_engine
from guard.webhook_signature import sign, verify_signature
from tests.service_support import (
    FIXTURES,
    SECRET,
    Apps,
    RecordingQueue,
    encode,
    event_of_fixture,
    fixture_body,
    fixture_json,
    run_queued,
    service_settings,
    signed_headers,
    sqlite_url,
)


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture
def app(settings: Settings, queue: RecordingQueue, make_app: Apps) -> Flask:
    return make_app(settings, queue=queue)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def deliver(
    client: FlaskClient, event: str | None, body: bytes, delivery: str | None = None
) -> Any:
    delivery = delivery if delivery is not None else str(uuid.uuid4())
    return client.post("/webhook", data=body, headers=signed_headers(event, delivery, body))


def deliveries(settings: Settings) -> list[Delivery]:
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.select(Delivery)).all()
            return [Delivery(**row._mapping) for row in rows]
    finally:
        engine.dispose()


def deployments(settings: Settings) -> list[dict[str, Any]]:
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            statement = sa.select(Deployment).order_by(Deployment.github_id)
            return [dict(row._mapping) for row in connection.execute(statement)]
    finally:
        engine.dispose()


def success_status(deployment_id: int = 1001, environment: str = "production") -> dict[str, Any]:
    payload = fixture_json("deployment_status.created.0.json")
    payload["deployment"]["id"] = deployment_id
    payload["deployment"]["environment"] = environment
    payload["deployment_status"]["state"] = "success"
    payload["deployment_status"]["environment"] = environment
    payload["deployment_status"]["environment_url"] = "https://shop.example.com"
    return payload


def test_the_documented_signature_vector_verifies() -> None:
    body = b"Hello, World!"
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert sign(b"It's a Secret to Everybody", body) == expected
    assert verify_signature(b"It's a Secret to Everybody", body, expected)


def test_a_delivery_signed_as_in_githubs_docs_is_accepted_by_the_view(
    tmp_path: Path, make_app: Apps
) -> None:
    docs_settings = service_settings(
        sqlite_url(tmp_path, "docs.db"), GUARD_WEBHOOK_SECRET="It's a Secret to Everybody"
    )
    client = make_app(docs_settings, queue=RecordingQueue()).test_client()
    headers = {
        "X-Hub-Signature-256": (
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        ),
        "X-GitHub-Event": "ping",
        "X-GitHub-Delivery": "vector-1",
    }
    response = client.post("/webhook", data=b"Hello, World!", headers=headers)
    # Signed correctly, so it gets past the 401; the body is not JSON, so 400 says so.
    assert response.status_code == 400
    assert "not JSON" in response.get_json()["reason"]


def test_a_missing_signature_is_401_and_records_nothing(
    client: FlaskClient, settings: Settings
) -> None:
    body = encode(fixture_json("ping.none.0.json"))
    headers = signed_headers("ping", "no-signature", body)
    del headers["X-Hub-Signature-256"]
    response = client.post("/webhook", data=body, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["status"] == "rejected"
    assert "X-Hub-Signature-256 is missing" in response.get_json()["reason"]
    assert deliveries(settings) == []


@pytest.mark.parametrize(
    "signature",
    [
        sign(b"another secret", b"{}"),
        "sha256=" + "0" * 64,
        "sha1=0123",
        "sha256=not-hex",
        "",
    ],
)
def test_a_wrong_signature_is_401(client: FlaskClient, settings: Settings, signature: str) -> None:
    body = encode(fixture_json("ping.none.0.json"))
    headers = signed_headers("ping", "wrong-signature", body)
    headers["X-Hub-Signature-256"] = signature
    response = client.post("/webhook", data=body, headers=headers)
    assert response.status_code == 401
    assert "does not match" in response.get_json()["reason"]
    assert deliveries(settings) == []


def test_a_signature_over_other_bytes_is_401(client: FlaskClient) -> None:
    body = encode(fixture_json("ping.none.0.json"))
    headers = signed_headers("ping", "re-serialised", body)
    response = client.post("/webhook", data=body + b" ", headers=headers)
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("event", "delivery", "reason"),
    [
        (None, "d-1", "X-GitHub-Event is missing"),
        ("ping", None, "X-GitHub-Delivery is missing"),
        ("Not An Event", "d-2", "X-GitHub-Event is not a GitHub event name"),
        ("ping", "x" * 101, "X-GitHub-Delivery is not a delivery id"),
    ],
)
def test_missing_or_malformed_headers_are_400_with_the_reason(
    client: FlaskClient, event: str | None, delivery: str | None, reason: str
) -> None:
    body = encode(fixture_json("ping.none.0.json"))
    response = client.post("/webhook", data=body, headers=signed_headers(event, delivery, body))
    assert response.status_code == 400
    assert response.get_json() == {"status": "rejected", "reason": response.get_json()["reason"]}
    assert reason in response.get_json()["reason"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "deployment_status: the body is not JSON"),
        (b"[1, 2]", "deployment_status: the body is a JSON array, not an object"),
        (b'{"action": "created"}', "deployment_status.created: deployment_status: Field required"),
    ],
)
def test_a_body_not_the_events_shape_is_400_with_the_reason(
    client: FlaskClient, settings: Settings, body: bytes, reason: str
) -> None:
    response = deliver(client, "deployment_status", body, delivery="bad-shape")
    assert response.status_code == 400
    assert response.get_json()["reason"].startswith(reason)
    [row] = deliveries(settings)
    assert (row.delivery_id, row.outcome) == ("bad-shape", DeliveryOutcome.REJECTED)


def test_a_body_over_25_mb_is_413_before_the_signature_is_checked(client: FlaskClient) -> None:
    body = b" " * (MAX_BODY_BYTES + 1)
    response = client.post(
        "/webhook", data=body, headers={"X-GitHub-Event": "ping", "X-GitHub-Delivery": "big"}
    )
    assert response.status_code == 413
    assert response.get_json() == {
        "status": "rejected",
        "reason": "the body is over 25 MB, the most GitHub ever delivers",
    }


def test_a_body_of_exactly_25_mb_is_read(client: FlaskClient) -> None:
    payload = fixture_body("ping.none.0.json")
    body = payload + b" " * (MAX_BODY_BYTES - len(payload))
    response = deliver(client, "ping", body)
    assert response.status_code == 200
    assert response.get_json()["status"] == "pong"


def test_an_unknown_event_is_200_ignored_and_recorded(
    client: FlaskClient, settings: Settings, queue: RecordingQueue
) -> None:
    response = deliver(client, "push", fixture_body("push.none.0.json"), delivery="push-1")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ignored",
        "reason": "the guard does not act on push events",
    }
    [row] = deliveries(settings)
    assert (row.event, row.outcome, row.detail) == (
        "push",
        DeliveryOutcome.IGNORED,
        "the guard does not act on push events",
    )
    assert queue.verifications == []


def test_an_unknown_action_is_200_ignored(client: FlaskClient) -> None:
    payload = fixture_json("deployment_status.created.0.json")
    payload["action"] = "edited"
    response = deliver(client, "deployment_status", encode(payload))
    assert response.status_code == 200
    assert response.get_json()["reason"] == "the guard does not act on deployment_status.edited"


def test_a_successful_deployment_is_202_queued_and_its_handler_runs_in_the_dispatcher(
    app: Flask, client: FlaskClient, settings: Settings, queue: RecordingQueue
) -> None:
    response = deliver(client, "deployment_status", encode(success_status()), delivery="ok-1")
    assert response.status_code == 202
    assert response.get_json() == {
        "status": "accepted",
        "reason": (
            "queued: delivery ok-1 (deployment_status.created) is recorded and will be handled"
            " by the guard's workers; its outcome is kept on the delivery"
        ),
    }
    # The request only recorded the delivery: nothing was handled or queued yet.
    assert queue.verifications == []
    assert deployments(settings) == []
    [row] = deliveries(settings)
    assert (row.delivery_id, row.event, row.action, row.outcome) == (
        "ok-1",
        "deployment_status",
        "created",
        DeliveryOutcome.QUEUED,
    )
    assert row.repository == "Codertocat/Hello-World"

    [done] = run_queued(app)

    assert (done.delivery_id, done.outcome) == ("ok-1", DeliveryOutcome.ACCEPTED)
    assert queue.verifications == [1001]
    [row] = deliveries(settings)
    assert (row.outcome, row.detail) == (
        DeliveryOutcome.ACCEPTED,
        "deployment 1001 to production succeeded; its verification is queued",
    )
    [deployment] = deployments(settings)
    assert deployment["github_id"] == 1001
    assert deployment["environment_url"] == "https://shop.example.com"


def test_a_redelivery_is_200_duplicate_and_starts_nothing(
    app: Flask, client: FlaskClient, settings: Settings, queue: RecordingQueue
) -> None:
    body = encode(success_status())
    first = deliver(client, "deployment_status", body, delivery="same-guid")
    before_handling = deliver(client, "deployment_status", body, delivery="same-guid")
    run_queued(app)
    after_handling = deliver(client, "deployment_status", body, delivery="same-guid")
    assert first.status_code == 202
    for again in (before_handling, after_handling):
        assert again.status_code == 200
        assert again.get_json() == {
            "status": "duplicate",
            "reason": "delivery same-guid was received before; nothing was started again",
        }
    assert run_queued(app) == []
    assert queue.verifications == [1001]
    assert len(deliveries(settings)) == 1


def test_a_redelivered_ignored_event_is_a_duplicate(
    client: FlaskClient, settings: Settings
) -> None:
    body = fixture_body("push.none.1.json")
    assert deliver(client, "push", body, delivery="push-twice").status_code == 200
    again = deliver(client, "push", body, delivery="push-twice")
    assert again.get_json()["status"] == "duplicate"
    assert len(deliveries(settings)) == 1


def test_a_ping_is_pong(client: FlaskClient, settings: Settings) -> None:
    response = deliver(client, "ping", fixture_body("ping.none.0.json"), delivery="ping-1")
    assert response.status_code == 200
    assert response.get_json()["status"] == "pong"
    [row] = deliveries(settings)
    assert row.outcome == DeliveryOutcome.ACCEPTED


RECORDED_PAYLOADS = sorted(
    path for path in FIXTURES.glob("**/*.json") if path.parent.name != "schemas"
)


def test_there_are_recorded_payloads_of_every_family() -> None:
    assert {event_of_fixture(path.name) for path in RECORDED_PAYLOADS} >= {
        "deployment",
        "deployment_status",
        "installation",
        "ping",
        "push",
        "workflow_run",
    }


@pytest.mark.parametrize("path", RECORDED_PAYLOADS, ids=lambda path: path.name)
def test_every_recorded_payload_gets_a_2xx_and_its_handler_runs_from_the_queue(
    app: Flask, client: FlaskClient, path: Path
) -> None:
    response = deliver(client, event_of_fixture(path.name), path.read_bytes())
    assert response.status_code in (200, 202), response.get_json()
    assert response.get_json()["status"] in ("accepted", "pong", "ignored")
    # The recorded minimal model parses again and its handler runs without fault.
    done = run_queued(app)
    assert len(done) == (1 if response.status_code == 202 else 0)
    assert all(d.outcome is not DeliveryOutcome.ERROR for d in done), done


def failing_handlers(error: Exception) -> dict[tuple[str, str | None], Any]:
    def explode(_context: HandlerContext[Any]) -> HandlerResult:
        raise error

    return {**HANDLERS, ("deployment_status", "created"): explode}


def test_a_handler_that_raises_is_recorded_as_error_and_the_dispatcher_keeps_going(
    settings: Settings, queue: RecordingQueue, caplog: pytest.LogCaptureFixture, make_app: Apps
) -> None:
    app = make_app(settings, queue=queue, handlers=failing_handlers(KeyError("boom")))
    client = app.test_client()
    response = deliver(client, "deployment_status", encode(success_status()), "explodes")
    assert response.status_code == 202
    after = deliver(client, "deployment_status", encode(success_status(1002)), "healthy")
    assert after.status_code == 202

    done = run_queued(app)

    assert [(d.delivery_id, d.outcome) for d in done] == [
        ("explodes", DeliveryOutcome.ERROR),
        ("healthy", DeliveryOutcome.ERROR),
    ]
    rows = {row.delivery_id: row for row in deliveries(settings)}
    assert (rows["explodes"].outcome, rows["explodes"].detail) == (
        DeliveryOutcome.ERROR,
        "the handler raised KeyError",
    )
    # Nothing of the failed handler stayed behind, and nothing was queued for it.
    assert deployments(settings) == []
    assert queue.verifications == []
    failures = [r for r in caplog.records if r.getMessage() == "delivery.handler_failed"]
    assert len(failures) == 2
    assert failures[0].exc_info is not None
    assert client.get("/healthz").status_code == 200


def test_a_redelivery_of_a_failed_delivery_is_processed_again(
    settings: Settings, queue: RecordingQueue, make_app: Apps
) -> None:
    body = encode(success_status())
    broken = make_app(settings, queue=queue, handlers=failing_handlers(RuntimeError("x")))
    assert deliver(broken.test_client(), "deployment_status", body, "retry-me").status_code == 202
    assert [d.outcome for d in run_queued(broken)] == [DeliveryOutcome.ERROR]
    fixed = make_app(settings, queue=queue)
    again = deliver(fixed.test_client(), "deployment_status", body, "retry-me")
    assert again.status_code == 202
    assert again.get_json()["status"] == "accepted"
    assert [d.outcome for d in run_queued(fixed)] == [DeliveryOutcome.ACCEPTED]
    [row] = deliveries(settings)
    assert row.outcome == DeliveryOutcome.ACCEPTED
    assert queue.verifications == [1001]
    # Once handled, a further redelivery is a duplicate again.
    third = deliver(fixed.test_client(), "deployment_status", body, "retry-me")
    assert third.get_json()["status"] == "duplicate"


def test_a_job_the_queue_refuses_marks_the_delivery_error_and_it_can_be_redelivered(
    settings: Settings, make_app: Apps
) -> None:
    down = RecordingQueue(fail_enqueue=True)
    body = encode(success_status())
    refused = make_app(settings, queue=down)
    assert deliver(refused.test_client(), "deployment_status", body, "q-1").status_code == 202
    assert [d.outcome for d in run_queued(refused)] == [DeliveryOutcome.ERROR]
    [row] = deliveries(settings)
    assert row.outcome == DeliveryOutcome.ERROR
    assert row.detail == "its jobs could not be queued (ConnectionError)"

    up = RecordingQueue()
    working = make_app(settings, queue=up)
    again = deliver(working.test_client(), "deployment_status", body, "q-1")
    assert again.status_code == 202
    run_queued(working)
    assert up.verifications == [1001]


def test_every_subscribed_event_and_action_has_a_route() -> None:
    assert set(HANDLERS) == set(EVENT_MODELS)


def test_other_methods_and_paths_answer_json(client: FlaskClient) -> None:
    missing = client.get("/nowhere")
    assert missing.status_code == 404
    assert missing.get_json()["status"] == "rejected"
    wrong_method = client.get("/webhook")
    assert wrong_method.status_code == 405
    assert wrong_method.get_json()["status"] == "rejected"


def test_the_secret_is_needed_to_sign(client: FlaskClient) -> None:
    body = fixture_body("ping.none.0.json")
    forged = signed_headers("ping", "forged", body, secret=SECRET + "x")
    assert client.post("/webhook", data=body, headers=forged).status_code == 401


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("repository.full_name", lambda p: p["repository"].update(full_name="o/" + "r" * 300)),
        ("installation.id", lambda p: p.update(installation={"id": 2**63})),
        ("deployment.environment", lambda p: p["deployment"].update(environment="e" * 256)),
    ],
)
def test_a_value_beyond_what_the_tables_hold_is_400_naming_the_field(
    client: FlaskClient, settings: Settings, field: str, change: Any
) -> None:
    payload = success_status()
    change(payload)
    response = deliver(client, "deployment_status", encode(payload), delivery="too-big")
    assert response.status_code == 400
    assert field in response.get_json()["reason"]
    [row] = deliveries(settings)
    assert (row.delivery_id, row.outcome) == ("too-big", DeliveryOutcome.REJECTED)
