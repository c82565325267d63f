"""Recording a delivery once, running its handler in the same transaction, then queueing its jobs.

The order is what makes a 202 mean something: the delivery and everything its handler wrote
are committed first, then its jobs are queued (a worker that picks one up finds the rows).
A delivery whose handler failed, or whose jobs could not be queued, is recorded as `error`;
a manual redelivery of it from GitHub is then processed again rather than called a duplicate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, cast

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from guard.events import Ignored, ParsedEvent, Repository
from guard.gate.background import Work, send_followup
from guard.handlers import HandlerContext, HandlerResult, JobQueue, Status
from guard.handlers.context import ignored
from guard.observability.logs import EventLogger, error_summary
from guard.service.state import ServiceState
from guard.store import Delivery, DeliveryOutcome, record_delivery
from guard.store.base import utcnow

# The deliveries table's column widths; an over-long action is cut rather than refused.
_ACTION_WIDTH: Final = 64
NO_ROUTE = "no handler is routed for {key}"
HANDLER_FAILED = "the handler raised {error}"
QUEUE_FAILED = "its jobs could not be queued ({error})"


class IntakeKind(StrEnum):
    HANDLED = "handled"  # the handler answered; its jobs are queued
    DUPLICATE = "duplicate"  # recorded before: nothing done
    FAILED = "failed"  # the handler raised
    DATABASE_DOWN = "database_down"
    QUEUE_DOWN = "queue_down"


@dataclass(frozen=True)
class Intake:
    """What happened to one delivery: the handler's answer, or why there is none."""

    kind: IntakeKind
    result: HandlerResult | None = None


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

    def send(self) -> None:
        """Queue every held job, in the order they were asked for."""
        for job in self._jobs:
            job(self._queue)
        self._jobs.clear()


def repository_of(event: ParsedEvent) -> str | None:
    repository = getattr(event, "repository", None)
    return repository.full_name if isinstance(repository, Repository) else None


def record_ignored(state: ServiceState, delivery_id: str, ignored_event: Ignored) -> bool:
    """Record a delivery the guard does not act on; False when it was recorded before."""
    with state.sessions.begin() as session:
        return record_delivery(
            session,
            delivery_id=delivery_id,
            event=ignored_event.event,
            action=_action(ignored_event.action),
            outcome=DeliveryOutcome.IGNORED,
            detail=ignored_event.reason,
        )


def record_rejected(state: ServiceState, delivery_id: str, event: str, reason: str) -> None:
    """Record a signed delivery whose body was malformed, so the delivery log says why."""
    with state.sessions.begin() as session:
        record_delivery(
            session,
            delivery_id=delivery_id,
            event=event,
            action=None,
            outcome=DeliveryOutcome.REJECTED,
            detail=reason,
        )


def handle_delivery(
    state: ServiceState, delivery_id: str, event: ParsedEvent, log: EventLogger
) -> Intake:
    """Record `event` once, run its handler, commit, queue its jobs."""
    pending = PendingJobs(state.queue)
    try:
        with state.sessions.begin() as session:
            if not _claim(session, delivery_id, event):
                return Intake(IntakeKind.DUPLICATE)
            handler = state.handlers.get(event.key)
            if handler is None:
                result = ignored(NO_ROUTE.format(key=event.key))
            else:
                context = HandlerContext(session, pending, state.settings, event, log)
                result = handler(context)
            _settle(session, delivery_id, result)
    except OperationalError as error:
        log.error("webhook.database_unavailable", error=error_summary(error))
        return Intake(IntakeKind.DATABASE_DOWN)
    except Exception as error:
        # Any fault of a handler: the delivery is answered, the server keeps serving.
        log.exception("webhook.handler_failed", error=type(error).__name__)
        _record_error(
            state, delivery_id, event, HANDLER_FAILED.format(error=type(error).__name__), log
        )
        return Intake(IntakeKind.FAILED)
    try:
        pending.send()
    except Exception as error:
        log.exception("webhook.enqueue_failed", error=type(error).__name__)
        _record_error(
            state, delivery_id, event, QUEUE_FAILED.format(error=type(error).__name__), log
        )
        return Intake(IntakeKind.QUEUE_DOWN)
    return Intake(IntakeKind.HANDLED, result)


def _claim(session: Session, delivery_id: str, event: ParsedEvent) -> bool:
    """Record the delivery as ours to handle; False for a redelivery of one handled already."""
    fresh = record_delivery(
        session,
        delivery_id=delivery_id,
        event=event.event_name,
        action=_action(event.action),
        outcome=DeliveryOutcome.ACCEPTED,
        installation_id=event.installation_id,
        repository=repository_of(event),
    )
    if fresh:
        return True
    # One conditional UPDATE: of two redeliveries racing to retry a failed one, one wins.
    retry = (
        sa.update(Delivery)
        .where(Delivery.delivery_id == delivery_id, Delivery.outcome == DeliveryOutcome.ERROR)
        .values(outcome=DeliveryOutcome.ACCEPTED, detail=None, received_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    result = cast("CursorResult[tuple[()]]", session.execute(retry))
    return result.rowcount == 1


def _settle(session: Session, delivery_id: str, result: HandlerResult) -> None:
    outcome = (
        DeliveryOutcome.IGNORED if result.status is Status.IGNORED else DeliveryOutcome.ACCEPTED
    )
    session.execute(
        sa.update(Delivery)
        .where(Delivery.delivery_id == delivery_id)
        .values(outcome=outcome, detail=result.reason)
        .execution_options(synchronize_session=False)
    )


def _record_error(
    state: ServiceState, delivery_id: str, event: ParsedEvent, detail: str, log: EventLogger
) -> None:
    """Mark the delivery `error` in a transaction of its own (the handler's was rolled back)."""
    try:
        with state.sessions.begin() as session:
            fresh = record_delivery(
                session,
                delivery_id=delivery_id,
                event=event.event_name,
                action=_action(event.action),
                outcome=DeliveryOutcome.ERROR,
                installation_id=event.installation_id,
                repository=repository_of(event),
                detail=detail,
            )
            if not fresh:
                session.execute(
                    sa.update(Delivery)
                    .where(Delivery.delivery_id == delivery_id)
                    .values(outcome=DeliveryOutcome.ERROR, detail=detail)
                    .execution_options(synchronize_session=False)
                )
    except Exception as error:
        # The answer is a 5xx either way; losing this row only loses the retry on redelivery.
        log.exception("webhook.error_not_recorded", error=type(error).__name__)


def _action(action: str | None) -> str | None:
    return action[:_ACTION_WIDTH] if action is not None else None
