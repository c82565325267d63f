"""Writes that must happen once across every replica, guaranteed by UNIQUE constraints.

Each one inserts inside a SAVEPOINT and treats the constraint's refusal as "someone else
already did it" — never a check-then-insert, which two replicas can both pass. The caller
owns the transaction and commits it; until then a concurrent claim for the same thing waits
(PostgreSQL: on the unique index; SQLite: on the write lock) and then loses.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from guard.outcomes import Severity
from guard.store.base import Base, utcnow
from guard.store.models import (
    Delivery,
    DeliveryOutcome,
    Deployment,
    Incident,
    IncidentComment,
    Installation,
    KnownBadSha,
    Remedy,
)

INCIDENT_CODE_PREFIX = "INC"
# Two replicas opening incidents the same second can pick the same number; the loser
# takes the next one. More collisions than this in a row means something else is wrong.
_INCIDENT_CODE_ATTEMPTS = 20


def _insert_once(session: Session, row: Base, already_there: Callable[[], bool]) -> bool:
    """Insert `row`; False when a UNIQUE constraint says it exists already.

    Any other integrity failure (a missing foreign key, say) is re-raised: `already_there`
    tells the two apart after the fact.
    """
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        if already_there():
            return False
        raise
    return True


def _exists(session: Session, statement: sa.Select[Any]) -> bool:
    return session.scalar(statement.limit(1)) is not None


def record_delivery(
    session: Session,
    *,
    delivery_id: str,
    event: str,
    action: str | None,
    outcome: DeliveryOutcome,
    installation_id: int | None = None,
    repository: str | None = None,
    detail: str | None = None,
    received_at: datetime | None = None,
) -> bool:
    """Record a signed delivery; False when this X-GitHub-Delivery was recorded before.

    Record only deliveries whose signature checked out: anyone can send a GUID, and a
    recorded forgery would make the real delivery look like a duplicate.
    """
    row = Delivery(
        delivery_id=delivery_id,
        event=event,
        action=action,
        outcome=outcome,
        installation_id=installation_id,
        repository=repository,
        detail=detail,
        received_at=received_at or utcnow(),
    )
    return _insert_once(
        session,
        row,
        lambda: _exists(session, sa.select(Delivery.id).where(Delivery.delivery_id == delivery_id)),
    )


def record_deployment(
    session: Session,
    *,
    repository: str,
    github_id: int,
    environment: str,
    sha: str,
    ref: str,
    created_at: datetime,
    task: str = "deploy",
    creator: str | None = None,
    installation_id: int | None = None,
    environment_url: str | None = None,
    production: bool = False,
    transient: bool = False,
    is_remedy: bool = False,
    remedied_deployment_id: int | None = None,
) -> tuple[Deployment, bool]:
    """The row of this GitHub deployment, and whether this call created it.

    A deployment arrives several times (its `deployment` event, each status, a protection
    rule); the first one creates the row and the others find it.
    """
    row = Deployment(
        repository=repository,
        github_id=github_id,
        environment=environment,
        sha=sha,
        ref=ref,
        created_at=created_at,
        task=task,
        creator=creator,
        installation_id=installation_id,
        environment_url=environment_url,
        production=production,
        transient=transient,
        is_remedy=is_remedy,
        remedied_deployment_id=remedied_deployment_id,
    )
    same = sa.select(Deployment).where(
        Deployment.repository == repository, Deployment.github_id == github_id
    )
    if _insert_once(session, row, lambda: session.scalar(same) is not None):
        return row, True
    return session.scalars(same).one(), False


def set_installation(
    session: Session, installation_id: int, account_login: str, *, active: bool
) -> Installation:
    """Create or update an installation (installed, suspended, deleted, ...)."""
    row = Installation(id=installation_id, account_login=account_login, active=active)
    if _insert_once(session, row, lambda: session.get(Installation, installation_id) is not None):
        return row
    existing = session.get_one(Installation, installation_id, populate_existing=True)
    existing.account_login = account_login
    existing.active = active
    session.flush()
    return existing


def claim_remedy(
    session: Session, deployment_id: int, strategy: str, *, dry_run: bool = False
) -> Remedy | None:
    """Claim the right to remedy a failed deployment; None when a remedy was claimed already."""
    row = Remedy(deployment_id=deployment_id, strategy=strategy, dry_run=dry_run)
    taken = sa.select(Remedy.id).where(Remedy.deployment_id == deployment_id)
    return row if _insert_once(session, row, lambda: _exists(session, taken)) else None


def record_known_bad(
    session: Session,
    *,
    repository: str,
    sha: str,
    deployment_id: int | None,
    reason: str | None,
    now: datetime | None = None,
) -> bool:
    """Record that `sha` failed verification in `repository`; False when that was known already.

    One row per commit. A commit someone allowed that then fails in another deployment is
    refused again (the row moves to that deployment); the same deployment judged twice (a
    repeated step) changes nothing.
    """
    at = now or utcnow()
    row = KnownBadSha(
        repository=repository, sha=sha, deployment_id=deployment_id, reason=reason, recorded_at=at
    )
    same = sa.select(KnownBadSha).where(
        KnownBadSha.repository == repository, KnownBadSha.sha == sha
    )
    if _insert_once(session, row, lambda: _exists(session, same)):
        return True
    existing = session.scalars(same.execution_options(populate_existing=True)).one()
    if existing.allowed_at is None or existing.deployment_id == deployment_id:
        return False
    existing.deployment_id = deployment_id
    existing.reason = reason
    existing.recorded_at = at
    existing.allowed_by = None
    existing.allowed_at = None
    session.flush()
    return True


def claim_comment(
    session: Session, repository: str, number: int, key: str, *, now: datetime | None = None
) -> bool:
    """Claim the comment `key` on issue or pull request `number`; False when claimed before."""
    name = repository.lower()
    row = IncidentComment(repository=name, issue_number=number, key=key, claimed_at=now or utcnow())
    taken = sa.select(IncidentComment.id).where(
        IncidentComment.repository == name,
        IncidentComment.issue_number == number,
        IncidentComment.key == key,
    )
    return _insert_once(session, row, lambda: _exists(session, taken))


def claim_incident(
    session: Session,
    deployment_id: int,
    *,
    repository: str,
    environment: str,
    severity: Severity,
    now: datetime | None = None,
) -> Incident | None:
    """Claim the one incident of a failed deployment, with its code (INC-YYYYMMDD-NNN).

    None when the deployment has its incident already. File the issue after the claim
    commits, then store its number on the row.
    """
    opened_at = now or utcnow()
    taken = sa.select(Incident.id).where(Incident.deployment_id == deployment_id)
    for _ in range(_INCIDENT_CODE_ATTEMPTS):
        # Codes count days in UTC, whatever zone `now` was given in.
        code = next_incident_code(session, opened_at.astimezone(UTC).date())
        row = Incident(
            deployment_id=deployment_id,
            repository=repository,
            environment=environment,
            code=code,
            severity=severity,
            opened_at=opened_at,
        )
        if _insert_once(
            session, row, partial(_incident_or_code_taken, session, deployment_id, code)
        ):
            return row
        if _exists(session, taken):
            return None
    raise RuntimeError(
        f"could not number an incident for deployment {deployment_id}: "
        f"{_INCIDENT_CODE_ATTEMPTS} codes in a row were taken"
    )


def _incident_or_code_taken(session: Session, deployment_id: int, code: str) -> bool:
    """Why an incident insert was refused: this deployment's incident, or another's code."""
    clash = sa.or_(Incident.deployment_id == deployment_id, Incident.code == code)
    return _exists(session, sa.select(Incident.id).where(clash))


def next_incident_code(session: Session, day: date) -> str:
    """The next free incident code of `day`: INC-20261122-001, -002, ... (-1000 after -999)."""
    prefix = f"{INCIDENT_CODE_PREFIX}-{day:%Y%m%d}-"
    codes = session.scalars(sa.select(Incident.code).where(Incident.code.startswith(prefix)))
    # Numbers, not strings: "-1000" sorts before "-999".
    numbers = [int(code[len(prefix) :]) for code in codes if code[len(prefix) :].isdigit()]
    return f"{prefix}{max(numbers, default=0) + 1:03d}"
