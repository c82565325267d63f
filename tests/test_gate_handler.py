"""The protection-rule webhook, end to end: acknowledged at once, answered by a follow-up.

Both ways a follow-up runs are exercised: a durable huey job, and the in-process pool used
when the queue offers no follow-ups.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from huey import MemoryHuey

from guard.events import DeploymentProtectionRuleRequested, parse_event
from guard.gate.background import (
    FollowUpRefusedError,
    InlineFollowUps,
    Outcome,
    followup_task,
    perform,
    send_followup,
    use_inline_followups,
)
from guard.handlers import HANDLERS, Handler, HandlerContext, Status
from guard.handlers.chatops import on_issue_comment
from guard.handlers.gate import on_protection_rule_requested
from guard.handlers.later import handled_later
from guard.observability.logs import get_logger
from guard.service.app import create_app
from guard.store import Deployment
from tests.gate_world import (
    REPO,
    GateWorld,
    PlainQueue,
    RecordingFollowUps,
    gate_world,
    hook_pending_jobs,
)
from tests.service_support import encode, fixture_json, run_queued, signed_headers

RUN_ID = 11223344556
DEPLOYMENT_ID = 1234567890
EVENT = "deployment_protection_rule"
CALLBACK = f"/repos/{REPO}/actions/runs/*/deployment_protection_rule"

# The table as it reads once the two hooks are in (see the report); tests build apps with it.
ROUTES: Mapping[tuple[str, str | None], Handler] = {
    **HANDLERS,
    ("deployment_protection_rule", "requested"): on_protection_rule_requested,
    ("issue_comment", "created"): on_issue_comment,
}


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GateWorld]:
    hook_pending_jobs(monkeypatch)
    with gate_world(tmp_path) as running:
        yield running


def protection_rule_payload(world: GateWorld, *, run_id: int = RUN_ID) -> dict[str, Any]:
    payload = fixture_json("deployment_protection_rule.requested.0.json")
    payload["deployment_callback_url"] = (
        f"{world.sandbox.base_url}/repos/{REPO}/actions/runs/{run_id}/deployment_protection_rule"
    )
    payload["deployment"]["sha"] = world.head
    payload["repository"].update(full_name=REPO, name="shop", html_url=f"https://github.com/{REPO}")
    payload["repository"]["owner"]["login"] = "octo-org"
    payload["installation"] = {"id": world.installation_id}
    return payload


def app_for(world: GateWorld, queue: Any) -> Flask:
    return create_app(world.settings, queue=queue, handlers=ROUTES)


def deliver(app: Flask, payload: Mapping[str, Any], delivery: str = "d-1") -> tuple[int, Any]:
    """The HTTP status, and the handler's answer once the dispatcher ran it (or, for a
    delivery settled in the request, the request's answer)."""
    body = encode(payload)
    headers = signed_headers(EVENT, delivery, body, secret="a webhook secret for tests")
    response = app.test_client().post("/webhook", data=body, headers=headers)
    if response.status_code != 202:
        return response.status_code, response.get_json()
    [done] = run_queued(app)
    assert done.status is not None, done
    return response.status_code, {"status": done.status.value, "reason": done.detail}


def test_the_webhook_is_acknowledged_and_the_answer_queued(world: GateWorld) -> None:
    status, body = deliver(app_for(world, world.queue), protection_rule_payload(world))

    assert status == 202
    assert body["reason"] == f"the gate's answer for run {RUN_ID} to production is on its way"
    # Nothing was answered inside the request.
    assert world.sandbox.reviews() == []
    [work] = world.queue.followups
    assert work["kind"] == "gate"
    assert (work["run_id"], work["environment"], work["sha"]) == (RUN_ID, "production", world.head)
    [row] = world.deployments()
    assert (row.github_id, row.environment) == (DEPLOYMENT_ID, "production")
    assert world.timeline()[0][0] == "gate_requested"

    assert perform(world.means(), work) is Outcome.DONE

    [review] = world.sandbox.reviews()
    assert (review["run_id"], review["state"]) == (RUN_ID, "approved")
    assert world.timeline()[-1][0] == "gate_approved"


def test_a_redelivery_is_not_answered_twice(world: GateWorld) -> None:
    app = app_for(world, world.queue)
    deliver(app, protection_rule_payload(world), "d-1")

    status, body = deliver(app, protection_rule_payload(world), "d-1")

    assert (status, body["status"]) == (200, "duplicate")
    assert len(world.queue.followups) == 1


def test_a_callback_url_without_a_run_is_ignored_and_logged(
    world: GateWorld, caplog: pytest.LogCaptureFixture
) -> None:
    payload = protection_rule_payload(world)
    payload["deployment_callback_url"] = "https://api.github.com/somewhere/else"

    status, body = deliver(app_for(world, world.queue), payload)

    assert (status, body["status"]) == (202, "ignored")
    assert "names no workflow run" in body["reason"]
    assert "gate.no_run_id" in [r.getMessage() for r in caplog.records]
    assert world.queue.followups == []


def test_without_follow_ups_on_the_queue_the_pool_answers_after_the_commit(
    world: GateWorld,
) -> None:
    pool = InlineFollowUps(world.means)
    use_inline_followups(world.settings, pool)

    status, _ = deliver(app_for(world, PlainQueue()), protection_rule_payload(world))
    pool.shutdown()

    assert status == 202
    assert [(r["run_id"], r["state"]) for r in world.sandbox.reviews()] == [(RUN_ID, "approved")]
    assert pool.pending == 0


def test_the_pool_runs_nothing_when_the_transaction_rolls_back(world: GateWorld) -> None:
    ran: list[int] = []

    def means() -> Any:
        ran.append(1)
        return world.means()

    pool = InlineFollowUps(means)

    def failing_handler() -> None:
        with world.session() as session:
            session.execute(sa.select(Deployment.id))
            pool.after_commit(session, {"kind": "gate"})
            raise RuntimeError("the handler failed")

    with pytest.raises(RuntimeError, match="the handler failed"):
        failing_handler()
    pool.shutdown()

    assert (ran, pool.pending) == ([], 0)


def test_the_pool_refuses_past_its_backlog_so_the_delivery_fails(world: GateWorld) -> None:
    pool = InlineFollowUps(world.means, backlog=1)
    pool.reserve()

    with pytest.raises(FollowUpRefusedError, match="redeliver this one later"):
        pool.reserve()
    pool.release()


def test_a_durable_job_answers_and_retries_later_when_github_is_down(world: GateWorld) -> None:
    huey = MemoryHuey("followups", immediate=True, results=False)
    enqueue = followup_task(huey, world.means)
    world.sandbox.add_fault("server_error", CALLBACK, method="POST", times=4)

    enqueue(protection_rule_payload_work(world))

    # The first round spent its four attempts; the next waits in huey's schedule.
    assert world.sandbox.reviews() == []
    assert huey.scheduled_count() == 1
    [scheduled] = huey.scheduled()
    assert scheduled.args[1] == 2

    # Its time comes (read from huey's schedule as the consumer would), and it runs.
    [due] = huey.read_schedule(scheduled.eta)
    huey.execute(due, timestamp=scheduled.eta)

    assert [r["state"] for r in world.sandbox.reviews()] == ["approved"]


def protection_rule_payload_work(world: GateWorld) -> dict[str, Any]:
    return {
        "kind": "gate",
        "repository": REPO,
        "repository_url": f"https://github.com/{REPO}",
        "environment": "production",
        "run_id": RUN_ID,
        "sha": world.head,
        "deployment_id": None,
        "installation_id": world.installation_id,
    }


def test_a_queue_without_follow_ups_cannot_be_sent_them() -> None:
    with pytest.raises(TypeError, match="runs no webhook follow-ups"):
        send_followup(PlainQueue(), {"kind": "gate"})
    queue = RecordingFollowUps()
    send_followup(queue, {"kind": "gate"})
    assert queue.followups == [{"kind": "gate"}]


def test_an_unknown_kind_of_follow_up_gives_up(world: GateWorld) -> None:
    assert perform(world.means(), {"kind": "mystery"}) is Outcome.GAVE_UP


def test_until_the_hooks_are_in_the_table_routes_these_events_later() -> None:
    # Guards the hook lines in the report: the lead swaps these two entries for ours.
    for key in (("deployment_protection_rule", "requested"), ("issue_comment", "created")):
        assert HANDLERS[key] in (handled_later, ROUTES[key])


def test_called_directly_with_a_plain_queue_the_pool_waits_for_the_commit(
    tmp_path: Path,
) -> None:
    with gate_world(tmp_path) as world:
        pool = InlineFollowUps(world.means)
        use_inline_followups(world.settings, pool)
        event = parse_event(EVENT, encode(protection_rule_payload(world)))
        assert isinstance(event, DeploymentProtectionRuleRequested)

        with world.session() as session:
            context = HandlerContext(
                session, PlainQueue(), world.settings, event, get_logger("test")
            )
            result = on_protection_rule_requested(context)
            # Handed over, not started: the transaction is still open.
            assert (result.status, pool.pending) == (Status.ACCEPTED, 1)
            assert world.sandbox.reviews() == []
        pool.shutdown()

        assert [r["state"] for r in world.sandbox.reviews()] == ["approved"]


def test_a_payload_claiming_to_be_a_guard_rollback_does_not_pass_a_freeze(
    world: GateWorld,
) -> None:
    world.clock.now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC).timestamp()  # Saturday
    payload = protection_rule_payload(world)
    # Anyone who may create a deployment can write this; only the guard's remedy rows count.
    payload["deployment"]["payload"] = {"deploy_guard": {"rollback_of": 1}}

    deliver(app_for(world, world.queue), payload)
    [work] = world.queue.followups
    perform(world.means(), work)

    assert [r["state"] for r in world.sandbox.reviews()] == ["rejected"]


def test_a_follow_up_that_fails_is_logged_not_repeated(
    world: GateWorld, caplog: pytest.LogCaptureFixture
) -> None:
    huey = MemoryHuey("followups", immediate=True, results=False)

    def broken_means() -> Any:
        raise RuntimeError("the database is gone")

    followup_task(huey, broken_means)(protection_rule_payload_work(world))

    assert "followup.failed" in [r.getMessage() for r in caplog.records]
    assert huey.scheduled_count() == 0
