"""What a webhook handler is given (session, queue, settings, event, logger) and what it answers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy.orm import Session

from guard.events import ParsedEvent
from guard.observability.logs import EventLogger
from guard.settings import Settings

EventT_co = TypeVar("EventT_co", bound=ParsedEvent, covariant=True)


class JobQueue(Protocol):
    """The jobs the service starts: what it needs of `guard.jobs.queue.JobQueue`."""

    def enqueue_verification(self, deployment_id: int) -> None:
        """Verify the deployment whose GitHub deployment id this is."""

    def enqueue_supersede(
        self, repository: str, environment: str, newer_deployment_id: int
    ) -> None:
        """Stop verifying deployments of this environment older than the newer one."""

    def ping(self) -> bool:
        """Whether the queue's backend answers."""


class Status(StrEnum):
    """What a handler did. The delivery dispatcher keeps it on the delivery (`accepted` for
    all but IGNORED, see guard.jobs.deliveries.outcome_of): the webhook's HTTP answer was
    given before any handler ran."""

    ACCEPTED = "accepted"  # recorded, and work queued
    RECORDED = "recorded"  # recorded, nothing to run
    PONG = "pong"  # answered a ping
    IGNORED = "ignored"  # nothing to do for this event


@dataclass(frozen=True)
class HandlerResult:
    """A handler's answer: its status and a sentence saying why."""

    status: Status
    reason: str


@dataclass(frozen=True)
class HandlerContext(Generic[EventT_co]):
    """Everything one handler may use. The session's transaction is committed by the caller,
    and jobs put on `queue` are sent only after that commit."""

    session: Session
    queue: JobQueue
    settings: Settings
    event: EventT_co
    log: EventLogger


Handler = Callable[[HandlerContext[Any]], HandlerResult]


def accepted(reason: str) -> HandlerResult:
    return HandlerResult(Status.ACCEPTED, reason)


def recorded(reason: str) -> HandlerResult:
    return HandlerResult(Status.RECORDED, reason)


def ignored(reason: str) -> HandlerResult:
    return HandlerResult(Status.IGNORED, reason)
