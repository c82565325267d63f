"""The delivery dispatcher: queued deliveries run in order, once, across dispatchers and kills."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from guard.events import DeploymentStatusCreated, parse_event
from guard.handlers import HANDLERS, HandlerContext, HandlerResult, Status
from guard.jobs.deliveries import QUIET_S, DeliveryDispatcher
from guard.jobs.records import needing_a_push
from guard.service.intake import record_queued
from guard.settings import Settings
from guard.store import Delivery, DeliveryOutcome, Installation, Verification, make_engine
from guard.store.base import utcnow
from guard.store.intake_flag import IntakeFlag
from tests.service_support import (
    RecordingQueue,
    fixture_json,
    service_settings,
    sqlite_url,
)

EVENT = "deployment_status"


def status_event(deployment_id: int) -> DeploymentStatusCreated:
    payload = fixture_json("deployment_status.created.0.json")
    payload["deployment"]["id"] = deployment_id
    event = parse_event(EVENT, payload)
    assert isinstance(event, DeploymentStatusCreated)
    return event


def mark_installation(ctx: HandlerContext[DeploymentStatusCreated], login: str) -> HandlerResult:
    """A handler's visible effect: one row keyed by the deployment (a second run would clash)."""
    ctx.session.add(Installation(id=ctx.event.deployment.id, account_login=login))
    ctx.session.flush()
    return HandlerResult(Status.RECORDED, f"marked {ctx.event.deployment.id}")


def routes(handler: Any) -> dict[tuple[str, str | None], Any]:
    return {(EVENT, "created"): handler}


def outcomes(engine: sa.Engine) -> dict[str, str]:
    with engine.connect() as connection:
        rows = connection.execute(sa.select(Delivery.delivery_id, Delivery.outcome)).all()
    return {delivery_id: str(outcome) for delivery_id, outcome in rows}


def marks(engine: sa.Engine) -> dict[int, str]:
    with engine.connect() as connection:
        rows = connection.execute(sa.select(Installation.id, Installation.account_login)).all()
    return {int(row_id): str(login) for row_id, login in rows}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "sqlite":
        return service_settings(sqlite_url(tmp_path))
    return service_settings(request.getfixturevalue("postgres_url"))


@pytest.fixture
def engine(settings: Settings) -> Iterator[sa.Engine]:
    engine = make_engine(settings.database_url)
    yield engine
    engine.dispose()


def test_queued_deliveries_run_in_the_order_they_arrived(
    settings: Settings, engine: sa.Engine
) -> None:
    ran: list[int] = []

    def handler(ctx: HandlerContext[DeploymentStatusCreated]) -> HandlerResult:
        ran.append(ctx.event.deployment.id)
        return mark_installation(ctx, "ordered")

    for number in (30, 10, 20):
        assert record_queued(engine, f"d-{number}", status_event(number))
    dispatcher = DeliveryDispatcher(engine, RecordingQueue(), settings, routes(handler))

    assert dispatcher.has_queued()
    done = dispatcher.drain()

    assert ran == [30, 10, 20]
    assert [d.delivery_id for d in done] == ["d-30", "d-10", "d-20"]
    assert {d.status for d in done} == {Status.RECORDED}
    assert outcomes(engine) == dict.fromkeys(("d-30", "d-10", "d-20"), "accepted")
    assert not dispatcher.has_queued()
    assert dispatcher.drain() == []


def test_a_handler_fault_marks_only_its_delivery_error_and_keeps_nothing_it_wrote(
    settings: Settings, engine: sa.Engine
) -> None:
    def handler(ctx: HandlerContext[DeploymentStatusCreated]) -> HandlerResult:
        result = mark_installation(ctx, "half-done")
        if ctx.event.deployment.id == 2:
            raise ValueError("a bug in a handler")
        return result

    for number in (1, 2, 3):
        record_queued(engine, f"d-{number}", status_event(number))
    done = DeliveryDispatcher(engine, RecordingQueue(), settings, routes(handler)).drain()

    assert [(d.delivery_id, d.outcome) for d in done] == [
        ("d-1", DeliveryOutcome.ACCEPTED),
        ("d-2", DeliveryOutcome.ERROR),
        ("d-3", DeliveryOutcome.ACCEPTED),
    ]
    assert done[1].detail == "the handler raised ValueError"
    assert marks(engine) == {1: "half-done", 3: "half-done"}
    # A redelivery of the failed one (same GUID) queues it again; the others are duplicates.
    assert record_queued(engine, "d-2", status_event(2))
    assert not record_queued(engine, "d-1", status_event(1))
    again = DeliveryDispatcher(
        engine, RecordingQueue(), settings, routes(lambda ctx: mark_installation(ctx, "retry"))
    ).drain()
    assert [(d.delivery_id, d.outcome) for d in again] == [("d-2", DeliveryOutcome.ACCEPTED)]
    assert marks(engine) == {1: "half-done", 2: "retry", 3: "half-done"}


def test_a_dispatcher_thread_picks_up_deliveries_as_they_arrive(
    settings: Settings, engine: sa.Engine
) -> None:
    handled = threading.Semaphore(0)

    def handler(ctx: HandlerContext[DeploymentStatusCreated]) -> HandlerResult:
        result = mark_installation(ctx, "threaded")
        handled.release()
        return result

    dispatcher = DeliveryDispatcher(engine, RecordingQueue(), settings, routes(handler)).start()
    try:
        for number in (1, 2):
            record_queued(engine, f"t-{number}", status_event(number))
            assert handled.acquire(timeout=60)
    finally:
        dispatcher.stop()
    assert marks(engine) == {1: "threaded", 2: "threaded"}


@pytest.mark.postgres
def test_two_dispatchers_on_postgresql_never_run_one_delivery_twice(postgres_url: str) -> None:
    settings = service_settings(postgres_url)
    engines = [make_engine(postgres_url) for _ in range(2)]
    inside = threading.Event()
    release = threading.Event()
    ran: list[tuple[str, int]] = []
    lock = threading.Lock()

    def handler_of(name: str) -> Any:
        def handler(ctx: HandlerContext[DeploymentStatusCreated]) -> HandlerResult:
            with lock:
                ran.append((name, ctx.event.deployment.id))
            if name == "slow" and ctx.event.deployment.id == 1:
                # Hold delivery 1 claimed while the other dispatcher drains everything else.
                inside.set()
                assert release.wait(60)
            return mark_installation(ctx, name)

        return handler

    try:
        for number in range(1, 21):
            record_queued(engines[0], f"p-{number}", status_event(number))
        slow = DeliveryDispatcher(
            engines[0], RecordingQueue(), settings, routes(handler_of("slow"))
        )
        fast = DeliveryDispatcher(
            engines[1], RecordingQueue(), settings, routes(handler_of("fast"))
        )
        holding = threading.Thread(target=slow.dispatch_next)
        holding.start()
        assert inside.wait(60)
        fast_done = fast.drain()
        release.set()
        holding.join()
        # Both drain whatever is left at once: racing, never overlapping.
        start = threading.Barrier(2)
        finished: list[list[Any]] = [[], []]

        def race(index: int, dispatcher: DeliveryDispatcher) -> None:
            start.wait()
            finished[index] = dispatcher.drain()

        racers = [threading.Thread(target=race, args=pair) for pair in enumerate((slow, fast))]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()

        assert ("fast", 1) not in ran
        assert [d.delivery_id for d in fast_done] == [f"p-{n}" for n in range(2, 21)]
        assert finished == [[], []]
        assert sorted(number for _, number in ran) == list(range(1, 21))
        assert marks(engines[0]) == {1: "slow", **dict.fromkeys(range(2, 21), "fast")}
        assert set(outcomes(engines[0]).values()) == {"accepted"}
    finally:
        for engine in engines:
            engine.dispose()


KILLED_DISPATCHER = textwrap.dedent(
    """
    import sys, threading
    from guard.handlers import HandlerResult, Status
    from guard.jobs.deliveries import QUIET_S, DeliveryDispatcher
    from guard.settings import load_settings
    from guard.store import Installation, make_engine
    from tests.service_support import RecordingQueue

    def handler(ctx):
        ctx.session.add(Installation(id=ctx.event.deployment.id, account_login="killed"))
        ctx.session.flush()
        print("inside", flush=True)
        threading.Event().wait()  # until kill -9
        return HandlerResult(Status.RECORDED, "never")

    settings = load_settings()
    engine = make_engine(settings.database_url)
    routes = {("deployment_status", "created"): handler}
    DeliveryDispatcher(engine, RecordingQueue(), settings, routes).dispatch_next()
    """
)


def test_a_delivery_whose_dispatcher_was_killed_is_run_again_and_only_once(
    settings: Settings, engine: sa.Engine
) -> None:
    record_queued(engine, "k-1", status_event(7))
    environment = {
        **os.environ,
        "GUARD_WEBHOOK_SECRET": "s",
        "GUARD_GITHUB_TOKEN": "ghp_unused0123456789",
        "GUARD_DATABASE_URL": settings.database_url,
        "PYTHONPATH": str(Path(__file__).parent.parent),
    }
    with subprocess.Popen(
        [sys.executable, "-c", KILLED_DISPATCHER], env=environment, stdout=subprocess.PIPE
    ) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline() == b"inside\n"
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
    assert child.returncode == -signal.SIGKILL

    retaken = DeliveryDispatcher(
        engine, RecordingQueue(), settings, routes(lambda ctx: mark_installation(ctx, "retaken"))
    )
    # PostgreSQL ends the killed session's transaction when it sees the connection close;
    # until then the row is skipped as locked, so look again (on its state, not a clock).
    done = retaken.drain()
    pause = threading.Event()
    for _ in range(6000):
        if done or not retaken.has_queued():
            break
        pause.wait(0.01)
        done = retaken.drain()

    assert [(d.delivery_id, d.outcome) for d in done] == [("k-1", DeliveryOutcome.ACCEPTED)]
    assert marks(engine) == {7: "retaken"}
    assert outcomes(engine) == {"k-1": "accepted"}


def test_on_sqlite_the_dispatcher_lets_deliveries_being_recorded_go_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = service_settings(sqlite_url(tmp_path))
    engine = make_engine(settings.database_url)
    now = [utcnow()]
    try:
        for number in range(4):
            record_queued(engine, f"f-{number}", status_event(number))
        # Arrivals 1 ms apart, whatever this disk's commits took: a slow fsync spread them
        # wider than a handler's first-guess time, and the dispatcher then rightly went.
        first = utcnow()
        with engine.begin() as connection:
            for number in range(4):
                connection.execute(
                    sa.update(Delivery)
                    .where(Delivery.delivery_id == f"f-{number}")
                    .values(received_at=first + timedelta(milliseconds=number))
                )
        newest = max_received(engine)
        dispatcher = DeliveryDispatcher(
            engine, RecordingQueue(), settings, routes(None), clock=lambda: now[0]
        )
        recorder = IntakeFlag(f"{tmp_path / 'guard.db'}.intake")
        # A request is recording a delivery: the handler's transaction would hold it up.
        with recorder.raised():
            now[0] = newest + timedelta(seconds=QUIET_S * 10)
            assert not dispatcher.fits()
        # Quiet for long enough: go.
        assert dispatcher.fits()
        # Deliveries arrived just now, faster than a handler's transaction: hold back...
        now[0] = newest + timedelta(microseconds=100)
        assert not dispatcher.fits()
        # ...unless the oldest has waited long enough: the handlers must keep up.
        waited = dispatcher.oldest_wait()
        assert waited is not None
        assert waited == pytest.approx(0.0031, abs=1e-6)
        monkeypatch.setattr("guard.jobs.deliveries.OVERDUE_S", 0.003)
        assert dispatcher.fits()
        recorder.close()
        dispatcher.stop()
    finally:
        engine.dispose()


def max_received(engine: sa.Engine) -> datetime:
    with engine.connect() as connection:
        newest = connection.execute(sa.select(sa.func.max(Delivery.received_at))).scalar_one()
    assert isinstance(newest, datetime)
    return newest.replace(tzinfo=UTC) if newest.tzinfo is None else newest


def test_a_verification_whose_start_job_is_lost_is_found_by_the_reconciler(
    settings: Settings, engine: sa.Engine
) -> None:
    """The success status's handler commits the verification's row with the delivery, so a
    start job lost after that commit (a dispatcher killed before queueing it, or a job
    that never ran) leaves a queued verification the reconciler starts again."""
    payload = fixture_json("deployment_status.created.0.json")
    payload["deployment_status"]["state"] = "success"
    event = parse_event(EVENT, payload)
    assert isinstance(event, DeploymentStatusCreated)
    assert record_queued(engine, "d-lost", event)
    # The jobs the handler asks for are recorded here and never run: a lost start job.
    queue = RecordingQueue()
    [done] = DeliveryDispatcher(engine, queue, settings, HANDLERS).drain()
    assert done.outcome is DeliveryOutcome.ACCEPTED
    assert queue.verifications == [event.deployment.id]

    grace = timedelta(seconds=30)
    with sa.orm.Session(engine) as session:
        [verification] = session.scalars(sa.select(Verification)).all()
        assert str(verification.state) == "queued"
        created = verification.created_at
        assert needing_a_push(session, created + grace / 2, grace) == []
        assert needing_a_push(session, created + grace * 2, grace) == [verification.id]
