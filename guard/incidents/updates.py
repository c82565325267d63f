"""Later events as comments on the incident: rollback done or failed, its verification, restored."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cache

from jinja2 import Environment

from guard.incidents.templating import builtin_environment
from guard.policy.secrets import redact

UPDATE_MARKER = "<!-- deploy-guard:update repo={repository} issue={issue} key={key} -->"
# GitHub refuses longer comment bodies, as it does issue bodies.
COMMENT_LIMIT = 65_536
COMMENT_CUT = "\n\n… (cut at GitHub's {limit:,}-character limit)"


class UpdateKind(StrEnum):
    """The events an incident hears about after it is filed."""

    REMEDY_DONE = "remedy_done"
    REMEDY_FAILED = "remedy_failed"
    REMEDY_VERIFIED = "remedy_verified"
    REMEDY_VERIFICATION_FAILED = "remedy_verification_failed"
    SERVICE_RESTORED = "service_restored"
    NOTE = "note"


HEADINGS = {
    UpdateKind.REMEDY_DONE: "Rollback done",
    UpdateKind.REMEDY_FAILED: "Rollback failed",
    UpdateKind.REMEDY_VERIFIED: "Rollback verified",
    UpdateKind.REMEDY_VERIFICATION_FAILED: "Rollback failed its verification: escalated to P0",
    UpdateKind.SERVICE_RESTORED: "Service restored",
    UpdateKind.NOTE: "Update",
}


@dataclass(frozen=True)
class UpdateDetails:
    """What an update may add to its sentence; every part is optional."""

    at: datetime | None = None
    target_ref: str | None = None
    link: str | None = None
    time_to_detect_s: float | None = None
    time_to_restore_s: float | None = None
    # The incident's code, for chat messages that stand alone.
    code: str | None = None


@cache
def _environment() -> Environment:
    return builtin_environment()


def update_marker(repository: str, issue: int, key: str) -> str:
    """The hidden line that names one update, so it can be recognised later."""
    return UPDATE_MARKER.format(repository=repository, issue=issue, key=key)


def render_update(
    repository: str,
    issue: int,
    kind: UpdateKind,
    text: str,
    details: UpdateDetails,
    *,
    key: str | None = None,
    secrets: Sequence[str] = (),
) -> str:
    """The comment for one update: its marker, heading, time, sentence and links, redacted."""
    template = _environment().get_template(f"updates/{kind.value}.md.j2")
    body = template.render(
        marker=update_marker(repository, issue, key or kind.value),
        heading=HEADINGS[kind],
        at=details.at,
        text=redact(text.strip(), secrets),
        details=details,
    )
    body = redact(body.strip("\n") + "\n", secrets)
    if len(body) > COMMENT_LIMIT:
        cut = COMMENT_CUT.format(limit=COMMENT_LIMIT)
        body = body[: COMMENT_LIMIT - len(cut)] + cut
    return body
