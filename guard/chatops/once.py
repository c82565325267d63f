"""Each `/guard` comment is acted on and answered once: a claim in the store, a mark in the reply.

The claim (`chatops:<comment id>` in the only-once comment claims) is taken in the same
transaction as the command's effect, so a redelivered comment, a retried job or a second
worker finds it taken and does nothing. The run that took it answers; if its answer may not
have reached GitHub, the next round first looks for the reply's mark on the issue. A late
check (`chatops-late:<comment id>`, claimed by one late run only) answers a comment whose
worker was killed between the effect and the reply.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import sqlalchemy as sa
from sqlalchemy.orm import Session

from guard.github.port import GitHubPort
from guard.store import IncidentComment, claim_comment

CLAIM_KEY: Final = "chatops:{comment_id}"
# Beside the claim when the command ran (changed, or may have changed, something): what the
# late check tells apart from a reply that changed nothing (help, a refusal).
RAN_KEY: Final = "chatops-ran:{comment_id}"
LATE_KEY: Final = "chatops-late:{comment_id}"
# Hidden in the reply beside replies.REPLY_MARKER: which comment it answers.
REPLY_TO: Final = "<!-- deploy-guard:reply-to {comment_id} -->"


def claim_command(
    session: Session,
    repository: str,
    issue_number: int,
    comment_id: int,
    now: datetime,
    *,
    runs: bool,
) -> bool:
    """Claim the right to act on and answer comment `comment_id`; False when it is taken.
    `runs`: the command is about to run (in this transaction), not only to be answered."""
    key = CLAIM_KEY.format(comment_id=comment_id)
    if not claim_comment(session, repository, issue_number, key, now=now):
        return False
    if runs:
        ran = RAN_KEY.format(comment_id=comment_id)
        claim_comment(session, repository, issue_number, ran, now=now)
    return True


def _claim_time(session: Session, repository: str, issue_number: int, key: str) -> datetime | None:
    return session.scalar(
        sa.select(IncidentComment.claimed_at).where(
            IncidentComment.repository == repository.lower(),
            IncidentComment.issue_number == issue_number,
            IncidentComment.key == key,
        )
    )


def claimed_at(
    session: Session, repository: str, issue_number: int, comment_id: int
) -> datetime | None:
    """When comment `comment_id` was claimed, or None when nobody has claimed it yet."""
    return _claim_time(session, repository, issue_number, CLAIM_KEY.format(comment_id=comment_id))


def command_ran(session: Session, repository: str, issue_number: int, comment_id: int) -> bool:
    """Whether the command of claimed comment `comment_id` ran (rather than only a reply)."""
    key = RAN_KEY.format(comment_id=comment_id)
    return _claim_time(session, repository, issue_number, key) is not None


def claim_late_answer(
    session: Session, repository: str, issue_number: int, comment_id: int, now: datetime
) -> bool:
    """Claim the one late answer to comment `comment_id`; False when another late run has."""
    key = LATE_KEY.format(comment_id=comment_id)
    return claim_comment(session, repository, issue_number, key, now=now)


def reply_mark(comment_id: int) -> str:
    return REPLY_TO.format(comment_id=comment_id)


def already_answered(
    github: GitHubPort, repository: str, issue_number: int, comment_id: int
) -> bool:
    """Whether a reply to the comment is on the issue (a reply GitHub took though the guard
    saw an error)."""
    mark = reply_mark(comment_id)
    return any(
        mark in comment.body for comment in github.list_issue_comments(repository, issue_number)
    )
