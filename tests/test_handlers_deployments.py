"""The deployment and deployment_status handlers against a real SQLite database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from guard.events import DeploymentCreated, DeploymentStatusCreated, parse_event
from guard.handlers import HANDLERS, HandlerContext, HandlerResult, Status
from guard.observability.logs import get_logger
from guard.settings import Settings
from guard.store import (
    Deployment,
    Remedy,
    RemedyState,
    TimelineEvent,
    make_engine,
    make_session_factory,
)
from tests.service_support import RecordingQueue, encode, fixture_json


@pytest.fixture
def session(settings: Settings) -> Iterator[Session]:
    engine = make_engine(settings.database_url)
    with make_session_factory(engine).begin() as session:
        yield session
    engine.dispose()


def deployment_created(
    github_id: int, *, environment: str = "production", task: str = "deploy"
) -> DeploymentCreated:
    payload = fixture_json("deployment.created.0.json")
    payload["deployment"].update(
        id=github_id, environment=environment, task=task, sha=f"{github_id:040x}"
    )
    parsed = parse_event("deployment", encode(payload))
    assert isinstance(parsed, DeploymentCreated)
    return parsed


def status_created(
    github_id: int, state: str, *, environment: str = "production", description: str = ""
) -> DeploymentStatusCreated:
    payload = fixture_json("deployment_status.created.0.json")
    payload["deployment"].update(id=github_id, environment=environment, sha=f"{github_id:040x}")
    payload["deployment_status"].update(
        state=state,
        environment=environment,
        environment_url="https://shop.example.com",
        description=description,
    )
    parsed = parse_event("deployment_status", encode(payload))
    assert isinstance(parsed, DeploymentStatusCreated)
    return parsed


def run(session: Session, queue: RecordingQueue, settings: Settings, event: Any) -> HandlerResult:
    context = HandlerContext(session, queue, settings, event, get_logger("tests"))
    return HANDLERS[event.key](context)


def rows(session: Session) -> dict[int, Deployment]:
    return {row.github_id: row for row in session.scalars(sa.select(Deployment))}


def timeline_kinds(session: Session, deployment: Deployment) -> list[str]:
    statement = sa.select(TimelineEvent.kind).where(TimelineEvent.deployment_id == deployment.id)
    return list(session.scalars(statement.order_by(TimelineEvent.id)))


def test_a_created_deployment_is_recorded(session: Session, settings: Settings) -> None:
    queue = RecordingQueue()
    result = run(session, queue, settings, deployment_created(10))
    assert result == HandlerResult(Status.RECORDED, "deployment 10 to production recorded")
    row = rows(session)[10]
    assert (row.repository, row.environment, row.superseded_by_id) == (
        "Codertocat/Hello-World",
        "production",
        None,
    )
    assert timeline_kinds(session, row) == ["deployment_created"]
    assert queue.supersedes == []


def test_a_newer_deployment_supersedes_older_ones_and_queues_the_stop(
    session: Session, settings: Settings
) -> None:
    queue = RecordingQueue()
    run(session, queue, settings, deployment_created(10))
    run(session, queue, settings, deployment_created(11))
    run(session, queue, settings, deployment_created(12, environment="staging"))
    run(session, queue, settings, deployment_created(13, task="deploy:migrations"))
    result = run(session, queue, settings, deployment_created(20))
    assert result.status is Status.ACCEPTED
    # 10 was superseded by 11 already; 20 replaces the one still current.
    assert "supersedes 1 older deployment(s)" in result.reason
    known = rows(session)
    assert known[10].superseded_by_id == known[11].id
    assert known[11].superseded_by_id == known[20].id
    # Another environment, another task: not replaced by this deployment.
    assert known[12].superseded_by_id is None
    assert known[13].superseded_by_id is None
    assert known[20].superseded_by_id is None
    assert queue.supersedes == [
        ("Codertocat/Hello-World", "production", 11),
        ("Codertocat/Hello-World", "production", 20),
    ]
    assert "superseded" in timeline_kinds(session, known[10])


def test_an_older_deployment_arriving_late_is_superseded_at_once(
    session: Session, settings: Settings
) -> None:
    queue = RecordingQueue()
    run(session, queue, settings, deployment_created(30))
    result = run(session, queue, settings, deployment_created(25))
    known = rows(session)
    assert known[25].superseded_by_id == known[30].id
    assert result.status is Status.RECORDED
    success = run(session, queue, settings, status_created(25, "success"))
    assert success.status is Status.RECORDED
    assert "deployment 30 has superseded it" in success.reason
    assert queue.verifications == []


def test_success_queues_the_verification_with_the_github_id(
    session: Session, settings: Settings
) -> None:
    queue = RecordingQueue()
    run(session, queue, settings, deployment_created(40))
    result = run(session, queue, settings, status_created(40, "success"))
    assert result.status is Status.ACCEPTED
    assert queue.verifications == [40]
    row = rows(session)[40]
    assert row.environment_url == "https://shop.example.com"
    assert timeline_kinds(session, row) == ["deployment_created", "deployment_succeeded"]


def test_success_without_a_deployment_event_records_it_and_supersedes(
    session: Session, settings: Settings
) -> None:
    queue = RecordingQueue()
    run(session, queue, settings, status_created(50, "success"))
    run(session, queue, settings, status_created(51, "success"))
    known = rows(session)
    assert known[50].superseded_by_id == known[51].id
    assert queue.verifications == [50, 51]
    assert queue.supersedes == [("Codertocat/Hello-World", "production", 51)]


@pytest.mark.parametrize("state", ["failure", "error"])
def test_a_failed_deployment_is_recorded_on_its_timeline(
    session: Session, settings: Settings, state: str
) -> None:
    queue = RecordingQueue()
    result = run(
        session, queue, settings, status_created(60, state, description="image pull failed")
    )
    assert result == HandlerResult(
        Status.RECORDED, f"deployment 60 to production ended in {state}; recorded"
    )
    row = rows(session)[60]
    [event] = session.scalars(sa.select(TimelineEvent).where(TimelineEvent.deployment_id == row.id))
    assert event.kind == f"deployment_{state}"
    assert event.message == f"GitHub reported deployment 60 {state}: image pull failed"
    assert queue.verifications == []


@pytest.mark.parametrize("state", ["pending", "queued", "in_progress", "inactive"])
def test_other_states_are_ignored_with_a_reason(
    session: Session, settings: Settings, state: str
) -> None:
    queue = RecordingQueue()
    result = run(session, queue, settings, status_created(70, state))
    assert result == HandlerResult(
        Status.IGNORED,
        f"the guard acts on success, failure and error statuses; this one is {state}",
    )
    assert rows(session) == {}


@pytest.mark.parametrize("first_seen", ["deployment", "deployment_status"])
def test_a_new_deployment_after_a_dispatched_rollback_workflow_is_adopted_as_its_remedy(
    session: Session, settings: Settings, first_seen: str
) -> None:
    queue = RecordingQueue()
    run(session, queue, settings, deployment_created(501))
    failed = rows(session)[501]
    session.add(
        Remedy(
            deployment_id=failed.id,
            strategy="workflow",
            state=RemedyState.DONE,
            finished_at=failed.created_at,
        )
    )
    session.flush()
    staging = (
        deployment_created(502, environment="staging")
        if first_seen == "deployment"
        else status_created(502, "success", environment="staging")
    )
    run(session, queue, settings, staging)
    rollback = (
        deployment_created(503) if first_seen == "deployment" else status_created(503, "success")
    )
    run(session, queue, settings, rollback)
    # Its status arriving later changes nothing more.
    run(session, queue, settings, status_created(503, "success"))

    recorded = rows(session)
    assert (recorded[503].is_remedy, recorded[503].remedied_deployment_id) == (True, failed.id)
    assert not recorded[502].is_remedy
    remedy = session.scalars(sa.select(Remedy)).one()
    assert remedy.created_deployment_id == 503
    assert timeline_kinds(session, failed).count("rollback_deployment") == 1
    # The rollback is verified like any deployment: the success queues it.
    assert 503 in queue.verifications
