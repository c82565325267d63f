"""The delivery dispatcher: runs the handler of each queued delivery once, in arrival order.

`POST /webhook` only records a delivery as `queued` (with its event's minimal model); the row
is the delivery's job. A dispatcher in the jobs process takes the oldest queued row inside a
transaction of its own, runs the handler in that same transaction, marks the row with the
handler's outcome and commits; then it sends the jobs the handler asked for.

The claim lives exactly as long as that transaction: on PostgreSQL the row is locked with
`FOR UPDATE SKIP LOCKED` (other dispatchers pass over it), on SQLite the transaction holds the
write lock (BEGIN IMMEDIATE). A dispatcher killed mid-handler loses its transaction, so the
row is queued again at once and nothing the handler wrote was kept: there is no lease to
wait out and no way for two dispatchers to commit one delivery's handler.

On SQLite a handler's transaction holds the database's one write lock, and a request
recording a delivery meanwhile waits for it. So there the dispatcher lets the requests go
first: it does not start while one is recording (guard.store.intake_flag), nor while
deliveries arrive faster than a handler runs, unless many are waiting (see QUIET_S).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Protocol, cast

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from guard.events import EventShapeError, Ignored, ParsedEvent, Repository, parse_event
from guard.gate.background import Work, send_followup
from guard.handlers import HANDLERS, Handler, HandlerContext, HandlerResult, JobQueue, Status
from guard.observability.logs import bound, error_summary, get_logger
from guard.settings import Settings
from guard.store.base import utcnow
from guard.store.engine import READ_ONLY, make_engine, make_session_factory
from guard.store.intake_flag import intake_flag
from guard.store.models import Delivery, DeliveryOutcome

# How long an idle dispatcher waits before looking for new deliveries again: well inside
# what GitHub users notice, and a cheap indexed query on an empty set.
IDLE_S: Final = 0.05
# After the database failed (down, locked for too long): wait this much before trying again.
FAILURE_BACKOFF_S: Final = 1.0
# On SQLite every write takes the one write lock, and a handler's transaction holds it for
# milliseconds, so a request recording a delivery meanwhile waits that long. While deliveries
# arrive, the dispatcher starts a handler only where it fits before the next one is expected
# (arrivals come at the pace of the last ARRIVALS_SEEN); after QUIET_S without any it goes...
QUIET_S: Final = 0.02
ARRIVALS_SEEN: Final = 8
# ...and once the oldest waiting delivery has waited this long it goes as soon as no request
# is recording one (a request arriving meanwhile waits for one handler's transaction, some
# milliseconds): under a long burst, or deliveries arriving faster than handlers run, no
# handler waits much longer than this...
OVERDUE_S: Final = 2.0
# ...and it never holds back longer than this in a row.
MAX_DEFER_S: Final = 0.5
# How often a holding-back dispatcher looks again (each look is a query when no request is
# recording: a few milliseconds late costs nothing, looking too often costs a core's share).
LOOK_S: Final = 0.005
# A first guess of how long a handler's transaction takes (then measured as they run).
FIRST_GUESS_S: Final = 0.01

NO_ROUTE: Final = "no handler is routed for {key}"
HANDLER_FAILED: Final = "the handler raised {error}"
QUEUE_FAILED: Final = "its jobs could not be queued ({error})"
UNREADABLE: Final = "its recorded event no longer parses: {error}"

log = get_logger(__name__)
DELIVERIES: Final = cast("sa.Table", Delivery.__table__)
# The dispatcher's looks, built once: building a statement cost more than running it, and a
# look runs every LOOK_S while deliveries arrive.
_LATEST_ARRIVALS: Final = (
    sa.select(DELIVERIES.c.received_at).order_by(DELIVERIES.c.id.desc()).limit(ARRIVALS_SEEN)
)
# An idle dispatcher's look, every IDLE_S in every jobs process.
_ANY_QUEUED: Final = (
    sa.select(DELIVERIES.c.id).where(DELIVERIES.c.outcome == DeliveryOutcome.QUEUED).limit(1)
)
_OLDEST_QUEUED: Final = (
    sa.select(DELIVERIES.c.received_at)
    .where(DELIVERIES.c.outcome == DeliveryOutcome.QUEUED)
    .order_by(DELIVERIES.c.id)
    .limit(1)
)


class PendingJobs:
    """A JobQueue that holds the jobs a handler asks for until the transaction commits."""

    def __init__(self, queue: JobQueue) -> None:
        self._queue = queue
        self._jobs: list[Callable[[JobQueue], None]] = []

    def enqueue_verification(self, deployment_id: int) -> None:
        self._jobs.append(lambda queue: queue.enqueue_verification(deployment_id))

    def enqueue_supersede(
        self, repository: str, environment: str, newer_deployment_id: int
    ) -> None:
        self._jobs.append(
            lambda queue: queue.enqueue_supersede(repository, environment, newer_deployment_id)
        )

    def enqueue_followup(self, work: Work) -> None:
        self._jobs.append(lambda queue: send_followup(queue, work))

    def ping(self) -> bool:
        return self._queue.ping()

    def __len__(self) -> int:
        return len(self._jobs)

    def discard(self) -> None:
        """Forget the held jobs (their handler's transaction was rolled back)."""
        self._jobs.clear()

    def send(self) -> None:
        """Queue every held job, in the order they were asked for."""
        for job in self._jobs:
            job(self._queue)
        self._jobs.clear()


@dataclass(frozen=True)
class Claimed:
    """A queued delivery this dispatcher's transaction holds."""

    row_id: int
    delivery_id: str
    event_name: str
    payload: str | None


@dataclass(frozen=True)
class Dispatched:
    """What the dispatcher did with one delivery."""

    delivery_id: str
    outcome: DeliveryOutcome
    detail: str
    # The handler's own answer, when it ran and its transaction committed.
    status: Status | None = None


def repository_of(event: ParsedEvent) -> str | None:
    repository = getattr(event, "repository", None)
    return repository.full_name if isinstance(repository, Repository) else None


def outcome_of(result: HandlerResult) -> DeliveryOutcome:
    """The delivery's final outcome for a handler's answer."""
    return DeliveryOutcome.IGNORED if result.status is Status.IGNORED else DeliveryOutcome.ACCEPTED


class DeliveryDispatcher:
    """Runs queued deliveries' handlers; `drain()` for a test or a loop, `start()` for a thread."""

    def __init__(
        self,
        engine: Engine,
        queue: JobQueue,
        settings: Settings,
        handlers: Mapping[tuple[str, str | None], Handler] = HANDLERS,
        *,
        idle_s: float = IDLE_S,
        failure_backoff_s: float = FAILURE_BACKOFF_S,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if idle_s <= 0 or failure_backoff_s <= 0:
            raise ValueError("the dispatcher's waits must be positive")
        self._sessions = make_session_factory(engine)
        # Looking for work takes no lock: an idle dispatcher never holds up a request's INSERT.
        self._peek_bind = engine.execution_options(**{READ_ONLY: True})
        self._queue = queue
        self._settings = settings
        self._handlers = handlers
        self._idle_s = idle_s
        self._failure_backoff_s = failure_backoff_s
        self._clock = clock
        # PostgreSQL has row locks: requests never wait for a handler's transaction there.
        self._yields_to_intake = engine.dialect.name == "sqlite"
        self._intake_flag = intake_flag(engine)
        self._took_s = FIRST_GUESS_S
        self._oldest_queued_at: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._own_engine: Engine | None = None

    @classmethod
    def for_settings(
        cls, settings: Settings, queue: JobQueue, **options: Any
    ) -> DeliveryDispatcher:
        """A dispatcher on an engine of its own (given back by `stop()`)."""
        engine = make_engine(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
        dispatcher = cls(engine, queue, settings, **options)
        dispatcher._own_engine = engine
        return dispatcher

    def has_queued(self) -> bool:
        """Whether any delivery waits (a read that takes no write lock)."""
        with self._peek_bind.connect() as connection:
            return connection.execute(_ANY_QUEUED).first() is not None

    def arrivals(self) -> tuple[float, float | None] | None:
        """Seconds since the newest delivery arrived, and the mean gap between the last
        arrivals (None when there were too few); None when there are no deliveries."""
        with self._peek_bind.connect() as connection:
            times: list[datetime] = list(connection.execute(_LATEST_ARRIVALS).scalars())
        if not times:
            return None
        since: timedelta = self._clock() - times[0]
        if len(times) < 2:
            return since.total_seconds(), None
        spread: timedelta = times[0] - times[-1]
        return since.total_seconds(), spread.total_seconds() / (len(times) - 1)

    def fits(self) -> bool:
        """Whether a handler can run now without holding up a delivery being recorded."""
        if self._intake_flag is not None and not self._intake_flag.is_down():
            return False
        seen = self.arrivals()
        if seen is None:
            return True
        since, gap = seen
        if since >= QUIET_S or (gap is not None and since + self._took_s < gap):
            return True
        waited = self.oldest_wait()
        return waited is not None and waited >= OVERDUE_S

    def oldest_wait(self) -> float | None:
        """Seconds the oldest queued delivery has waited; None when none waits.

        The oldest stays the oldest until a dispatcher runs it, so its arrival is kept until
        this one dispatches (another dispatcher running it first only makes this one go a
        little early)."""
        received = self._oldest_queued_at
        if received is None:
            with self._peek_bind.connect() as connection:
                received = connection.execute(_OLDEST_QUEUED).scalar_one_or_none()
            self._oldest_queued_at = received
        return None if received is None else (self._clock() - received).total_seconds()

    def _let_intake_go_first(self) -> None:
        """On SQLite, hold back while deliveries are being recorded or about to arrive (see
        QUIET_S and MAX_DEFER_S): GitHub's acknowledgement goes before background work."""
        if not self._yields_to_intake:
            return
        started = time.monotonic()
        while time.monotonic() - started < MAX_DEFER_S and not self._stop.is_set():
            if self.fits():
                return
            self._stop.wait(LOOK_S)

    # -- one delivery --------------------------------------------------------------------------
    def dispatch_next(self) -> Dispatched | None:
        """Run the oldest queued delivery nobody else is running; None when there is none.

        Raises OperationalError when the database fails: the delivery stays queued.
        """
        pending = PendingJobs(self._queue)
        self._oldest_queued_at = None
        started = time.monotonic()
        with self._sessions.begin() as session:
            claimed = self._claim(session)
            if claimed is None:
                return None
            with bound(delivery=claimed.delivery_id):
                done = self._run(session, claimed, pending)
        # How long the write lock was held, smoothed: what the next one is expected to take.
        self._took_s = 0.8 * self._took_s + 0.2 * (time.monotonic() - started)
        if done.outcome is not DeliveryOutcome.ERROR and len(pending):
            done = self._send(pending, claimed, done)
        return done

    def _claim(self, session: Session) -> Claimed | None:
        statement = (
            sa.select(
                DELIVERIES.c.id, DELIVERIES.c.delivery_id, DELIVERIES.c.event, DELIVERIES.c.payload
            )
            .where(DELIVERIES.c.outcome == DeliveryOutcome.QUEUED)
            .order_by(DELIVERIES.c.id)
            .limit(1)
        )
        if session.get_bind().dialect.name == "postgresql":
            # Other dispatchers pass over the row we hold instead of waiting for it.
            statement = statement.with_for_update(skip_locked=True)
        row = session.execute(statement).first()
        if row is None:
            return None
        return Claimed(int(row.id), str(row.delivery_id), str(row.event), row.payload)

    def _run(self, session: Session, claimed: Claimed, pending: PendingJobs) -> Dispatched:
        """The handler in a savepoint of the claiming transaction, then the row's outcome.

        A handler that raises leaves nothing behind (its savepoint is rolled back) and the
        delivery is marked `error` while still claimed, so no other dispatcher runs it.
        """
        try:
            event = parse_event(claimed.event_name, claimed.payload or "")
        except EventShapeError as error:
            detail = UNREADABLE.format(error=error)
            return self._settle(session, claimed, DeliveryOutcome.ERROR, detail)
        if isinstance(event, Ignored):
            return self._settle(session, claimed, DeliveryOutcome.IGNORED, event.reason)
        handler = self._handlers.get(event.key)
        if handler is None:
            return self._settle(
                session, claimed, DeliveryOutcome.IGNORED, NO_ROUTE.format(key=event.key)
            )
        handler_log = get_logger("guard.handlers").bind(
            github_event=claimed.event_name, action=event.action
        )
        with bound(installation=event.installation_id, repository=repository_of(event)):
            try:
                with session.begin_nested():
                    context = HandlerContext(session, pending, self._settings, event, handler_log)
                    result = handler(context)
            except OperationalError:
                # The database, not the handler: the whole claim rolls back and stays queued.
                raise
            except Exception as error:
                # Any fault of a handler: recorded on the delivery, the dispatcher carries on.
                handler_log.exception("delivery.handler_failed", error=type(error).__name__)
                pending.discard()
                detail = HANDLER_FAILED.format(error=type(error).__name__)
                return self._settle(session, claimed, DeliveryOutcome.ERROR, detail)
            handler_log.info(f"delivery.{outcome_of(result).value}", reason=result.reason)
        self._settle(session, claimed, outcome_of(result), result.reason)
        return Dispatched(claimed.delivery_id, outcome_of(result), result.reason, result.status)

    @staticmethod
    def _settle(
        session: Session, claimed: Claimed, outcome: DeliveryOutcome, detail: str
    ) -> Dispatched:
        session.execute(
            sa.update(DELIVERIES)
            .where(DELIVERIES.c.id == claimed.row_id)
            .values(outcome=outcome, detail=detail)
        )
        return Dispatched(claimed.delivery_id, outcome, detail)

    def _send(self, pending: PendingJobs, claimed: Claimed, done: Dispatched) -> Dispatched:
        """Queue the handler's jobs after its commit; if the queue refuses, the delivery is an
        `error` (a redelivery from GitHub runs it again)."""
        try:
            pending.send()
        except Exception as error:
            log.exception(
                "delivery.enqueue_failed", delivery=claimed.delivery_id, error=type(error).__name__
            )
            detail = QUEUE_FAILED.format(error=type(error).__name__)
            try:
                with self._sessions.begin() as session:
                    return self._settle(session, claimed, DeliveryOutcome.ERROR, detail)
            except Exception as second:
                # The handler's rows are committed either way; only the redelivery retry is lost.
                log.error(
                    "delivery.error_not_recorded",
                    delivery=claimed.delivery_id,
                    error=error_summary(second),
                )
            return Dispatched(claimed.delivery_id, DeliveryOutcome.ERROR, detail)
        return done

    # -- many deliveries -----------------------------------------------------------------------
    def drain(self, limit: int | None = None) -> list[Dispatched]:
        """Run queued deliveries until none is left (or `limit` ran); what each became."""
        done: list[Dispatched] = []
        while limit is None or len(done) < limit:
            dispatched = self.dispatch_next()
            if dispatched is None:
                break
            done.append(dispatched)
        return done

    def run(self) -> None:
        """Drain, wait `idle_s`, drain again, until `stop()`; database faults are waited out."""
        log.info("deliveries.dispatcher_started", idle_s=self._idle_s)
        while not self._stop.is_set():
            try:
                # Busy: one delivery after the other (the requests first); idle: a cheap look.
                self._let_intake_go_first()
                while not self._stop.is_set() and self.dispatch_next() is not None:
                    self._let_intake_go_first()
                while not self._stop.wait(self._idle_s) and not self.has_queued():
                    pass
            except Exception as error:
                log.error("deliveries.dispatch_failed", error=error_summary(error))
                self._stop.wait(self._failure_backoff_s)

    def start(self) -> DeliveryDispatcher:
        self._thread = threading.Thread(target=self.run, name="guard-deliveries", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Let the delivery being run finish (its transaction commits), then return."""
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join()
        if self._intake_flag is not None:
            self._intake_flag.close()
        if self._own_engine is not None:
            self._own_engine.dispose()


class _HasSettings(Protocol):
    settings: Settings


class _SettingsQueue(JobQueue, _HasSettings, Protocol):
    """The jobs' queue (guard.jobs.queue.JobQueue): it knows the settings it was made from."""


def start_dispatcher(queue: _SettingsQueue, **options: Any) -> DeliveryDispatcher:
    """The hook the job workers call: a dispatcher thread beside them, on its own engine."""
    return DeliveryDispatcher.for_settings(queue.settings, queue, **options).start()
