"""Who works on what across replicas: verification leases and per-environment locks."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import cast

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from guard.store.base import utcnow
from guard.store.models import Verification

# Built once: a watch round claims and releases a lease each, and building the statements
# cost more than running them.
_VERIFICATIONS = cast("sa.Table", Verification.__table__)
_CLAIM = (
    sa.update(_VERIFICATIONS)
    .where(
        _VERIFICATIONS.c.id == sa.bindparam("lease_verification"),
        sa.or_(
            _VERIFICATIONS.c.lease_owner.is_(None),
            _VERIFICATIONS.c.lease_owner == sa.bindparam("lease_claimant"),
            _VERIFICATIONS.c.lease_expires_at < sa.bindparam("lease_now"),
        ),
    )
    .values(
        lease_owner=sa.bindparam("lease_claimant"), lease_expires_at=sa.bindparam("lease_until")
    )
)
_RELEASE = (
    sa.update(_VERIFICATIONS)
    .where(
        _VERIFICATIONS.c.id == sa.bindparam("lease_verification"),
        _VERIFICATIONS.c.lease_owner == sa.bindparam("lease_claimant"),
    )
    .values(lease_owner=None, lease_expires_at=None)
)


def claim_lease(
    session: Session,
    verification_id: int,
    owner: str,
    *,
    ttl: timedelta,
    now: datetime | None = None,
) -> bool:
    """Take (or renew) the lease on a verification; False while another owner holds it.

    One conditional UPDATE: the database decides between racing workers, and a worker
    that died leaves a lease that simply expires, so its work can be resumed.
    """
    now = now or utcnow()
    parameters = {
        "lease_verification": verification_id,
        "lease_claimant": owner,
        "lease_now": now,
        "lease_until": now + ttl,
    }
    result = cast("CursorResult[tuple[()]]", session.execute(_CLAIM, parameters))
    return result.rowcount == 1


def release_lease(session: Session, verification_id: int, owner: str) -> bool:
    """Give the lease back; False when `owner` no longer held it."""
    parameters = {"lease_verification": verification_id, "lease_claimant": owner}
    result = cast("CursorResult[tuple[()]]", session.execute(_RELEASE, parameters))
    return result.rowcount == 1


def lock_environment(
    session: Session, repository: str, environment: str, *, wait: bool = True
) -> bool:
    """Hold the remedy lock of one repository's environment until the transaction ends.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: every transaction already holds
    the database's write lock (BEGIN IMMEDIATE), which is stricter, so this returns True.
    With `wait=False`, returns False instead of waiting when another transaction holds it.
    """
    if session.get_bind().dialect.name != "postgresql":
        return True
    function = sa.func.pg_advisory_xact_lock if wait else sa.func.pg_try_advisory_xact_lock
    acquired = session.scalar(sa.select(function(_lock_key(repository, environment))))
    return True if wait else bool(acquired)


def _lock_key(repository: str, environment: str) -> int:
    # A stable signed 64-bit key: Python's hash() differs between processes.
    digest = hashlib.blake2b(f"{repository}\0{environment}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
