"""Which comments the guard already posted: claimed before posting, across replicas in the store.

A comment is claimed before it is posted and released only when posting certainly failed;
an ambiguous failure keeps the claim, so a comment is posted at most once, never twice.
`StoreLedger` keeps the claims in the database (UNIQUE per issue and key); a claim whose
process died before posting is taken over once it is stale and the issue shows no comment
with its marker.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol, cast

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session, sessionmaker

from guard.github.errors import GitHubError
from guard.github.models import IssueComment
from guard.incidents.notices import SUSPECT_MARKER
from guard.incidents.updates import update_marker
from guard.observability.logs import get_logger
from guard.store import IncidentComment, claim_comment
from guard.store.base import utcnow

log = get_logger(__name__)

# How long a claim may stay without its comment before another process posts it instead.
STALE_AFTER = timedelta(minutes=10)
UPDATE_PREFIX = "update:"
SUSPECT_PREFIX = "suspect:"


class CommentLedger(Protocol):
    """Remembers claimed comments; a database-backed ledger makes this hold across replicas."""

    def claim(self, repository: str, number: int, key: str) -> bool:
        """True when this comment was not claimed before (and now is)."""
        ...

    def release(self, repository: str, number: int, key: str) -> None:
        """Forget a claim whose comment certainly was not posted, so it can be tried again."""
        ...


class MemoryLedger:
    """A ledger for one process: enough for tests and the demo, not for several replicas."""

    def __init__(self) -> None:
        self._claimed: set[tuple[str, int, str]] = set()
        self._lock = threading.Lock()

    def claim(self, repository: str, number: int, key: str) -> bool:
        with self._lock:
            entry = (repository.lower(), number, key)
            if entry in self._claimed:
                return False
            self._claimed.add(entry)
            return True

    def release(self, repository: str, number: int, key: str) -> None:
        with self._lock:
            self._claimed.discard((repository.lower(), number, key))

    def claimed(self) -> frozenset[tuple[str, int, str]]:
        with self._lock:
            return frozenset(self._claimed)


class CommentLister(Protocol):
    """The one GitHub read a stale claim needs: the issue's comments."""

    def list_issue_comments(self, repo: str, number: int) -> list[IssueComment]: ...


def comment_marker(repository: str, number: int, key: str) -> str | None:
    """The hidden marker the filer puts in the comment a ledger key stands for, if known."""
    if key.startswith(UPDATE_PREFIX):
        return update_marker(repository, number, key.removeprefix(UPDATE_PREFIX))
    if key.startswith(SUSPECT_PREFIX):
        return SUSPECT_MARKER.format(
            repository=repository, deployment=key.removeprefix(SUSPECT_PREFIX)
        )
    return None


class StoreLedger:
    """Claims in the `incident_comments` table: one comment per (issue, key) on every replica."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        comments: CommentLister | None = None,
        stale_after: timedelta = STALE_AFTER,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._comments = comments
        self._stale_after = stale_after
        self._clock = clock

    def claim(self, repository: str, number: int, key: str) -> bool:
        with self._sessions.begin() as session:
            if claim_comment(session, repository, number, key, now=self._clock()):
                return True
        return self._take_over_stale(repository, number, key)

    def release(self, repository: str, number: int, key: str) -> None:
        with self._sessions.begin() as session:
            session.execute(sa.delete(IncidentComment).where(*_same(repository, number, key)))

    def _take_over_stale(self, repository: str, number: int, key: str) -> bool:
        """Claim again a comment claimed long ago that GitHub does not show: its poster died."""
        with self._sessions() as session:
            seen = session.scalar(
                sa.select(IncidentComment.claimed_at).where(*_same(repository, number, key))
            )
        marker = comment_marker(repository, number, key)
        now = self._clock()
        if seen is None or marker is None or self._comments is None:
            return False
        if now - seen < self._stale_after:
            return False
        try:
            posted = self._comments.list_issue_comments(repository, number)
        except GitHubError as error:
            # Keep the claim: at most once. The next event's claim looks again.
            log.warning("incident.ledger_unchecked", number=number, key=key, error=error.message)
            return False
        if any(marker in comment.body for comment in posted):
            return False
        with self._sessions.begin() as session:
            moved = session.execute(
                sa.update(IncidentComment)
                .where(*_same(repository, number, key), IncidentComment.claimed_at == seen)
                .values(claimed_at=now)
                .execution_options(synchronize_session=False)
            )
        taken = cast("CursorResult[tuple[()]]", moved).rowcount == 1
        if taken:
            log.warning("incident.stale_comment_claim_taken", number=number, key=key)
        return taken


def _same(repository: str, number: int, key: str) -> tuple[sa.ColumnElement[bool], ...]:
    return (
        IncidentComment.repository == repository.lower(),
        IncidentComment.issue_number == number,
        IncidentComment.key == key,
    )


def _conforms(ledger: MemoryLedger, stored: StoreLedger) -> tuple[CommentLedger, CommentLedger]:
    # mypy checks here, once, that both ledgers really are ledgers.
    return ledger, stored
