"""The installation, ping and not-yet-handled routes, against a real SQLite database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from guard.events import EVENT_MODELS, Ignored, ParsedEvent, parse_event
from guard.handlers import HANDLERS, HandlerContext, HandlerResult, Status
from guard.handlers.later import handled_later
from guard.observability.logs import get_logger
from guard.settings import Settings
from guard.store import Installation, make_engine, make_session_factory
from tests.service_support import (
    RecordingQueue,
    encode,
    fixture_body,
    fixture_json,
)


@pytest.fixture
def sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(settings.database_url)
    yield make_session_factory(engine)
    engine.dispose()


def parsed(event: str, payload: bytes) -> ParsedEvent:
    result = parse_event(event, payload)
    assert not isinstance(result, Ignored), result
    return result


def run(sessions: sessionmaker[Session], settings: Settings, event: Any) -> HandlerResult:
    """One delivery, one transaction: as the webhook view runs a handler."""
    with sessions.begin() as session:
        context = HandlerContext(session, RecordingQueue(), settings, event, get_logger("tests"))
        return HANDLERS[event.key](context)


def is_active(sessions: sessionmaker[Session], installation_id: int) -> bool:
    with sessions() as session:
        return session.get_one(Installation, installation_id).active


def installation_event(action: str) -> ParsedEvent:
    payload = fixture_json("installation.created.1.json")
    payload["action"] = action
    return parsed("installation", encode(payload))


def test_an_installation_is_recorded_then_retired_then_restored(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    created = run(sessions, settings, installation_event("created"))
    assert created == HandlerResult(
        Status.RECORDED, "installation 957387 on Codertocat is active (created)"
    )
    assert is_active(sessions, 957387)

    suspended = run(sessions, settings, installation_event("suspend"))
    assert suspended.reason.startswith("installation 957387 on Codertocat is retired (suspend)")
    assert not is_active(sessions, 957387)

    run(sessions, settings, installation_event("unsuspend"))
    assert is_active(sessions, 957387)

    run(sessions, settings, installation_event("deleted"))
    assert not is_active(sessions, 957387)


def test_a_ping_answers_pong_with_the_hook(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    result = run(sessions, settings, parsed("ping", fixture_body("ping.none.0.json")))
    assert result == HandlerResult(Status.PONG, "pong: hook 109948940 reaches deploy-guard")


@pytest.mark.parametrize(
    "fixture",
    ["workflow_run.completed.0.json", "workflow_run.requested.3.json"],
)
def test_events_for_a_later_release_are_ignored_with_that_reason(
    sessions: sessionmaker[Session], settings: Settings, fixture: str
) -> None:
    event_name = fixture.split(".", 1)[0]
    result = run(sessions, settings, parsed(event_name, fixture_body(fixture)))
    assert result == HandlerResult(
        Status.IGNORED, f"{event_name} events are handled in a later release of deploy-guard"
    )


def test_the_table_routes_exactly_the_subscribed_events() -> None:
    assert set(HANDLERS) == set(EVENT_MODELS)
    later = {key[0] for key, handler in HANDLERS.items() if handler is handled_later}
    assert later == {"workflow_run"}
