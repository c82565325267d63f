"""What each `/guard` command does to the guard's records; each returns the sentence to reply.

They run inside the caller's transaction and make no GitHub calls; a command that starts
a job (`retry`) says which, for the caller to queue once the transaction committed.
`/guard rollback` is the remedies runner's work: see `rollback`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from guard.chatops import replies
from guard.chatops.parse import ALL_ENVIRONMENTS
from guard.gate.answer import active_freezes
from guard.store import (
    Deployment,
    Freeze,
    Incident,
    KnownBadSha,
    Verification,
    VerificationState,
    add_timeline_event,
)

_OPEN_STATES = (VerificationState.QUEUED, VerificationState.SMOKE, VerificationState.WATCHING)
RETRY_REQUESTED = "@{login} started verification attempt {attempt} with `/guard retry` ({url})"


@dataclass(frozen=True)
class Acted:
    """The reply, and the GitHub deployment id to queue a verification of after the commit."""

    text: str
    verify_deployment: int | None = None


def _target(repository: str, environment: str) -> str:
    if environment == ALL_ENVIRONMENTS:
        return replies.ALL_ENVIRONMENTS.format(repository=repository)
    return replies.ONE_ENVIRONMENT.format(environment=environment)


def allow(session: Session, repository: str, sha: str, login: str, now: datetime) -> str:
    """Take a commit (or every row of it) off the known-bad list."""
    rows = session.scalars(
        sa.select(KnownBadSha)
        .where(KnownBadSha.repository == repository, KnownBadSha.sha.startswith(sha.lower()))
        .order_by(KnownBadSha.id)
    ).all()
    shas = sorted({row.sha for row in rows})
    if not rows:
        return replies.NOT_KNOWN_BAD.format(sha=sha, repository=repository)
    if len(shas) > 1:
        matches = ", ".join(item[:12] for item in shas)
        return replies.AMBIGUOUS_SHA.format(sha=sha, count=len(shas), matches=matches)
    waiting = [row for row in rows if row.allowed_at is None]
    if not waiting:
        done = rows[-1]
        at = replies.when(done.allowed_at) if done.allowed_at else "?"
        return replies.ALLOWED_ALREADY.format(sha=shas[0][:12], by=done.allowed_by, at=at)
    for row in waiting:
        row.allowed_by = login
        row.allowed_at = now
    environment = "?"
    first = waiting[0]
    if first.deployment_id is not None:
        deployment = session.get(Deployment, first.deployment_id)
        environment = deployment.environment if deployment is not None else environment
    session.flush()
    return replies.ALLOWED.format(
        login=login,
        sha=shas[0][:12],
        environment=environment,
        reason=first.reason or "no reason recorded",
    )


def freeze(
    session: Session,
    repository: str,
    environment: str,
    *,
    duration: timedelta | None,
    login: str,
    now: datetime,
    comment_url: str,
) -> str:
    """Freeze one environment (or all of them) until a time, or until lifted."""
    until = now + duration if duration is not None else None
    session.add(
        Freeze(
            repository=repository,
            environment=None if environment == ALL_ENVIRONMENTS else environment,
            until=until,
            frozen_by=login,
            # The comment that froze it: the gate links it in every rejection.
            reason=comment_url,
            created_at=now,
        )
    )
    session.flush()
    shown_until = (
        replies.FROZEN_UNTIL.format(moment=replies.when(until))
        if until is not None
        else replies.FROZEN_UNTIL_LIFTED
    )
    return replies.FROZEN.format(
        login=login,
        target=_target(repository, environment),
        until=shown_until,
        environment=environment,
    )


def unfreeze(session: Session, repository: str, environment: str, login: str, now: datetime) -> str:
    """Lift the freezes set on exactly this target (`*`: the repository-wide ones and all)."""
    holding = sa.or_(Freeze.until.is_(None), Freeze.until > now)
    scope = (
        sa.true() if environment == ALL_ENVIRONMENTS else sa.and_(Freeze.environment == environment)
    )
    rows = session.scalars(
        sa.select(Freeze).where(
            Freeze.repository == repository, Freeze.lifted_at.is_(None), holding, scope
        )
    ).all()
    target = _target(repository, environment)
    for row in rows:
        row.lifted_at = now
    session.flush()
    remaining = (
        []
        if environment == ALL_ENVIRONMENTS
        else active_freezes(session, repository, environment, now)
    )
    still = (
        replies.STILL_FROZEN.format(environment=environment, by=remaining[0].frozen_by)
        if remaining
        else ""
    )
    if not rows:
        return replies.NOTHING_TO_LIFT.format(target=target) + still
    return replies.UNFROZEN.format(login=login, count=len(rows), target=target) + still


def target_deployment(
    session: Session, repository: str, issue_number: int, environment: str | None
) -> Deployment | None:
    """The deployment a command is about: the incident's (on its issue), else the newest one
    of the named environment."""
    if environment is None:
        incident = session.scalars(
            sa.select(Incident).where(
                Incident.repository == repository, Incident.issue_number == issue_number
            )
        ).first()
        return session.get(Deployment, incident.deployment_id) if incident else None
    return session.scalars(
        sa.select(Deployment)
        .where(Deployment.repository == repository, Deployment.environment == environment)
        .order_by(Deployment.github_id.desc())
        .limit(1)
    ).first()


def retry(
    session: Session, deployment: Deployment, login: str, now: datetime, comment_url: str
) -> Acted:
    """A new verification attempt of the deployment, unless one is still running."""
    latest = session.scalars(
        sa.select(Verification)
        .where(Verification.deployment_id == deployment.id)
        .order_by(Verification.attempt.desc())
        .limit(1)
    ).first()
    if latest is not None and latest.state in _OPEN_STATES:
        return Acted(
            replies.RETRY_RUNNING.format(
                attempt=latest.attempt,
                deployment=deployment.github_id,
                environment=deployment.environment,
                state=latest.state.value,
            )
        )
    attempt = (latest.attempt if latest is not None else 0) + 1
    row = Verification(
        deployment_id=deployment.id,
        attempt=attempt,
        environment=deployment.environment,
        state=VerificationState.QUEUED,
        created_at=now,
    )
    session.add(row)
    session.flush()
    add_timeline_event(
        session,
        "retry_requested",
        RETRY_REQUESTED.format(login=login, attempt=attempt, url=comment_url),
        verification_id=row.id,
        at=now,
    )
    return Acted(
        replies.RETRY_STARTED.format(
            login=login,
            attempt=attempt,
            deployment=deployment.github_id,
            sha=deployment.sha[:7],
            environment=deployment.environment,
        ),
        verify_deployment=deployment.github_id,
    )
