"""The store rows a remedy reads and writes: the failed deployment, its Remedy, the timeline.

Each function works inside the caller's transaction; the runner keeps those short (never
across a GitHub call: on SQLite a transaction holds the database's write lock).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from guard.github.models import DeploymentRef
from guard.remedies.models import FailedDeployment
from guard.store import (
    Deployment,
    Remedy,
    RemedyState,
    TimelineEvent,
    add_timeline_event,
    record_deployment,
)
from guard.store.base import utcnow

# A remedy in these states has not ended: it is being worked on, or was until a crash.
UNFINISHED = (RemedyState.CLAIMED, RemedyState.RUNNING)


def find_row(session: Session, repo: str, github_id: int) -> Deployment | None:
    return session.scalars(
        sa.select(Deployment).where(
            Deployment.repository == repo, Deployment.github_id == github_id
        )
    ).first()


def ensure_row(session: Session, repo: str, failed: FailedDeployment) -> Deployment:
    """The failed deployment's row, recorded now when the guard had not seen it (the CLI)."""
    row, _created = record_deployment(
        session,
        repository=repo,
        github_id=failed.id,
        environment=failed.environment,
        sha=failed.sha,
        ref=failed.ref,
        created_at=failed.created_at or utcnow(),
        task=failed.task,
        installation_id=failed.installation_id,
        # A payload can say "deploy_guard" whoever wrote it: only our records make a rollback.
        is_remedy=False,
    )
    return row


def remedy_of(session: Session, row_id: int) -> Remedy | None:
    return session.scalars(
        sa.select(Remedy)
        .where(Remedy.deployment_id == row_id)
        .execution_options(populate_existing=True)
    ).first()


def superseded_by(session: Session, row: Deployment) -> Deployment | None:
    """The newer deployment that superseded this one, unless it is this one's own rollback."""
    if row.superseded_by_id is None:
        return None
    newer = session.get(Deployment, row.superseded_by_id)
    if newer is None or newer.remedied_deployment_id == row.id:
        return None
    return newer


def busy_elsewhere(
    session: Session, repo: str, environment: str, row_id: int, since: datetime
) -> Deployment | None:
    """Another deployment of the environment whose remedy made progress after `since`.

    One abandoned by a crash (no progress since) does not hold the environment forever.
    """
    return session.scalars(
        sa.select(Deployment)
        .join(Remedy, Remedy.deployment_id == Deployment.id)
        .where(
            Deployment.repository == repo,
            Deployment.environment == environment,
            Deployment.id != row_id,
            Remedy.state.in_(UNFINISHED),
            Remedy.dry_run.is_(False),
            Remedy.updated_at > since,
        )
        .limit(1)
    ).first()


def upgrade_shadow(session: Session, row_id: int, strategy: str, now: datetime) -> Remedy | None:
    """Turn the shadow-mode remedy of a deployment into a real claim (a person asked, or the
    environment left shadow mode). The UNIQUE row stays one; a conditional update picks one
    caller when several try."""
    statement = (
        sa.update(Remedy)
        .where(
            Remedy.deployment_id == row_id,
            Remedy.dry_run.is_(True),
            Remedy.state == RemedyState.SKIPPED,
        )
        .values(
            dry_run=False,
            state=RemedyState.CLAIMED,
            strategy=strategy,
            claimed_at=now,
            updated_at=now,
            finished_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    result = cast("CursorResult[tuple[()]]", session.execute(statement))
    return remedy_of(session, row_id) if result.rowcount == 1 else None


def take_over(session: Session, remedy_id: int, seen: datetime, now: datetime) -> bool:
    """Compare-and-swap on `updated_at`: of two callers resuming one remedy, one wins."""
    statement = (
        sa.update(Remedy)
        .where(Remedy.id == remedy_id, Remedy.state.in_(UNFINISHED), Remedy.updated_at == seen)
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )
    result = cast("CursorResult[tuple[()]]", session.execute(statement))
    return result.rowcount == 1


def update(session: Session, remedy_id: int, now: datetime, **values: Any) -> None:
    """Change the Remedy row; `updated_at` doubles as its heartbeat."""
    session.execute(
        sa.update(Remedy)
        .where(Remedy.id == remedy_id)
        .values(updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )


def noted(session: Session, row_id: int, kind: str) -> bool:
    found = session.scalar(
        sa.select(TimelineEvent.id)
        .where(TimelineEvent.deployment_id == row_id, TimelineEvent.kind == kind)
        .limit(1)
    )
    return found is not None


def note(session: Session, row_id: int, kind: str, message: str, at: datetime) -> None:
    add_timeline_event(session, kind, message, deployment_id=row_id, at=at)


def note_once(session: Session, row_id: int, kind: str, message: str, at: datetime) -> bool:
    """Note an event unless the same sentence of that kind is there (repeated calls)."""
    same = session.scalar(
        sa.select(TimelineEvent.id)
        .where(
            TimelineEvent.deployment_id == row_id,
            TimelineEvent.kind == kind,
            TimelineEvent.message == message,
        )
        .limit(1)
    )
    if same is not None:
        return False
    note(session, row_id, kind, message, at)
    return True


def record_rollback_deployment(
    session: Session,
    repo: str,
    created: DeploymentRef,
    failed_row: Deployment,
) -> Deployment:
    """The rollback's own deployment, marked as a remedy of the failed one.

    Its webhook may have been recorded first (without knowing whose rollback it is), so an
    existing row is completed rather than left as it was.
    """
    row, _created = record_deployment(
        session,
        repository=repo,
        github_id=created.id,
        environment=created.environment,
        sha=created.sha,
        ref=created.ref,
        created_at=created.created_at,
        task=created.task,
        creator=created.creator_login,
        installation_id=failed_row.installation_id,
        is_remedy=True,
        remedied_deployment_id=failed_row.id,
    )
    if not row.is_remedy or row.remedied_deployment_id != failed_row.id:
        row.is_remedy = True
        row.remedied_deployment_id = failed_row.id
        session.flush()
    return row
