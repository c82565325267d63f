"""The timeline of a deployment: the rows a run page and an incident's timeline are read from."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from guard.store.base import utcnow
from guard.store.models import TimelineEvent, Verification

_INSERT_EVENT = sa.insert(cast("sa.Table", TimelineEvent.__table__))


def add_timeline_event(
    session: Session,
    kind: str,
    message: str,
    *,
    deployment_id: int | None = None,
    verification_id: int | None = None,
    at: datetime | None = None,
) -> TimelineEvent:
    """Note that something happened to a deployment or one of its verifications."""
    if deployment_id is None and verification_id is None:
        raise ValueError("a timeline event belongs to a deployment or a verification")
    event = TimelineEvent(
        kind=kind,
        message=message,
        deployment_id=deployment_id,
        verification_id=verification_id,
        at=at or utcnow(),
    )
    session.add(event)
    session.flush()
    return event


def insert_timeline_event(
    session: Session,
    kind: str,
    message: str,
    *,
    deployment_id: int | None = None,
    verification_id: int | None = None,
    at: datetime | None = None,
) -> None:
    """`add_timeline_event` as one INSERT, for callers that need no row object back (a watch
    round notes one event each: the ORM's unit of work costs more than the round's probe)."""
    if deployment_id is None and verification_id is None:
        raise ValueError("a timeline event belongs to a deployment or a verification")
    values = {
        "kind": kind,
        "message": message,
        "deployment_id": deployment_id,
        "verification_id": verification_id,
        "at": at or utcnow(),
    }
    session.execute(_INSERT_EVENT, values)


def deployment_timeline(session: Session, deployment_id: int) -> Sequence[TimelineEvent]:
    """Everything noted about a deployment and its verifications, oldest first."""
    of_its_verifications = sa.select(Verification.id).where(
        Verification.deployment_id == deployment_id
    )
    statement = (
        sa.select(TimelineEvent)
        .where(
            sa.or_(
                TimelineEvent.deployment_id == deployment_id,
                TimelineEvent.verification_id.in_(of_its_verifications),
            )
        )
        .order_by(TimelineEvent.at, TimelineEvent.id)
    )
    return session.scalars(statement).all()
