"""What deploy-guard answers to `/guard` commands: every sentence a commenter can read."""

from __future__ import annotations

from datetime import UTC, datetime

from guard.chatops.once import reply_mark
from guard.chatops.parse import USAGE

# A hidden marker in every reply: the guard's own comments are never read as commands.
REPLY_MARKER = "<!-- deploy-guard:chatops -->"

HELP = "deploy-guard understands {usage}."
INVALID = "@{login}, I could not read that command: {problem}."
REFUSED = (
    "Sorry @{login}, only people with write, maintain or admin permission on {repository} "
    "can use `/guard` commands; your permission there is {permission}. Ask a maintainer to "
    "run it for you."
)
PERMISSION_UNKNOWN = (
    "@{login}, I could not check your permission on {repository} just now ({error}), so I "
    "did nothing; please try again in a few minutes."
)

ALLOWED = (
    "@{login} allowed commit {sha}: the gate no longer rejects deployments of it "
    "(it failed verification on {environment}: {reason})."
)
ALLOWED_ALREADY = "Commit {sha} was allowed already, by @{by} on {at}; nothing changed."
NOT_KNOWN_BAD = "Commit {sha} is not on the known-bad list of {repository}; nothing to allow."
AMBIGUOUS_SHA = "`{sha}` matches {count} known-bad commits ({matches}); give more of the SHA."

FROZEN = (
    "@{login} froze {target} {until}: the gate rejects new deployments there until then. "
    "`/guard unfreeze {environment}` lifts it."
)
FROZEN_UNTIL = "until {moment}"
FROZEN_UNTIL_LIFTED = "until someone lifts the freeze"
UNFROZEN = "@{login} lifted {count} freeze(s) on {target}: deployments there may go ahead."
STILL_FROZEN = (
    " {environment} is still held by a freeze on every environment (set by @{by}); "
    "`/guard unfreeze *` lifts that one."
)
NOTHING_TO_LIFT = "{target} is not frozen by a `/guard freeze`; nothing to lift."
ALL_ENVIRONMENTS = "every environment of {repository}"
ONE_ENVIRONMENT = "{environment}"

NEEDS_TARGET = (
    "`/guard {verb}` works on an incident issue, or names the environment elsewhere, "
    "e.g. `/guard {verb} production`."
)
NO_DEPLOYMENT = "deploy-guard has seen no deployment of {repository} to {environment} yet."
RETRY_STARTED = (
    "@{login} started verification attempt {attempt} of deployment {deployment} "
    "({sha}) to {environment}."
)
RETRY_RUNNING = (
    "Verification attempt {attempt} of deployment {deployment} to {environment} is still "
    "running ({state}); wait for its verdict before retrying."
)
RETRY_UNAVAILABLE = (
    "This deploy-guard cannot start verifications from comments (it has no job queue); "
    "nothing was started."
)
ROLLBACK_ANSWER = (
    "@{login} asked for a rollback of deployment {deployment} to {environment} "
    "({strategy}): {message}"
)
ROLLBACK_POLICY_INVALID = "Nothing was rolled back: the policy cannot be used ({error})."
ROLLBACK_GITHUB_FAILED = (
    "Nothing was rolled back: GitHub failed while planning the rollback of deployment "
    "{deployment} ({error}); try again in a few minutes."
)

# The late check's answers, when the run that claimed a comment stopped before replying.
LATE_RAN = (
    "@{login}, deploy-guard ran your `{line}` ({url}) but stopped before it could reply; "
    "the gate's answers and the run pages show the result."
)
LATE_NOT_RUN = (
    "@{login}, deploy-guard stopped before answering your `{line}` ({url}) and changed "
    "nothing; comment it again if it is still needed."
)


def reply(text: str, comment_id: int) -> str:
    """The comment body: the sentence, the comment it answers (so a later round can tell it
    was answered), and the marker that keeps the guard from reading it as a command."""
    return f"{text}\n\n{reply_mark(comment_id)}\n{REPLY_MARKER}"


def help_text() -> str:
    return HELP.format(usage=USAGE)


def when(moment: datetime) -> str:
    """`Sun 22 Nov 2026 18:00 UTC`."""
    return moment.astimezone(UTC).strftime("%a %d %b %Y %H:%M UTC")
