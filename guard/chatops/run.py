"""Running one `/guard` command: check the commenter's permission, act, reply with a comment.

Once per comment: the claim of `guard.chatops.once` is taken with the command's effect, and
a round that could not answer hands its reply to the next round (Resume) rather than
acting again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy.orm import Session

from guard.chatops import actions, replies
from guard.chatops.once import (
    already_answered,
    claim_command,
    claim_late_answer,
    claimed_at,
    command_ran,
)
from guard.chatops.parse import Command, CommandError, command_line, parse_command
from guard.chatops.rollback import request_rollback
from guard.gate.background import (
    LATE_CHECK_AFTER_KEY,
    LATE_CHECK_KEY,
    Means,
    Outcome,
    Resume,
    RunResult,
    Work,
)
from guard.github.client import GitHubClient
from guard.github.client_permissions import permission_port
from guard.github.errors import ErrorKind, GitHubError
from guard.jobs.records import latest_verification
from guard.observability.logs import EventLogger, get_logger
from guard.remedies import FailedDeployment

log = get_logger(__name__)

# What a resumed round carries in its work: the reply an earlier round decided on (to post),
# or that an earlier round holds the claim (a rollback cut short: its remedy is redone, which
# the remedy's own claim keeps to one).
ANSWER_KEY = "answer"
CLAIMED_KEY = "claimed"
# The late check runs this long after the first round started: after the last retry round
# (at most about 6 minutes in) has had its time.
LATE_CHECK_AFTER_S: Final = 20 * 60.0
# A claim younger than this at the late check belongs to a run that may still be answering.
QUIET_FOR: Final = timedelta(minutes=10)


@dataclass(frozen=True)
class CommandRequest:
    """One comment with a command, as the handler saw it; travels through the queue as JSON."""

    repository: str
    issue_number: int
    comment_id: int
    comment_url: str
    body: str
    login: str
    installation_id: int | None = None

    def work(self) -> dict[str, Any]:
        return {"kind": "chatops", **asdict(self), LATE_CHECK_AFTER_KEY: LATE_CHECK_AFTER_S}

    @classmethod
    def of(cls, work: Work) -> CommandRequest:
        return cls(**{name: work[name] for name in cls.__dataclass_fields__ if name in work})


def run_command(means: Means, work: Work, *, final_round: bool = True) -> RunResult:
    """Check, act, reply, each once per comment. RETRY only before anything was done (the
    permission check failed transiently); Resume when the reply (or a rollback) is left for
    the next round. A comment another run claimed is left to that run: DONE."""
    request = CommandRequest.of(work)
    command = parse_command(request.body)
    if command is None:
        return Outcome.DONE
    command_log = log.bind(repository=request.repository).bind(
        issue=request.issue_number, login=request.login, comment=request.comment_id
    )
    github = means.github(request.installation_id)
    try:
        answer = work.get(ANSWER_KEY)
        if isinstance(answer, str):
            return _reply(github, request, answer, work, final_round, command_log)
        try:
            if work.get(LATE_CHECK_KEY):
                decided = _late(means, github, request, command, work, final_round, command_log)
            else:
                decided = _decide(means, github, request, command, work, final_round, command_log)
        except Exception as error:
            # Nothing of this run was committed: the claim commits with the effect, and
            # what comes after it (the rollback, queueing, the reply) handles its own
            # failures. So the next round starts over, and acts once.
            command_log.exception("chatops.failed", error=type(error).__name__)
            return Outcome.GAVE_UP if final_round else Outcome.RETRY
        # Outcome is a StrEnum: tell the ends of a run from a reply first.
        if isinstance(decided, Outcome | Resume):
            return decided
        return _reply(github, request, decided, work, final_round, command_log)
    finally:
        github.close()


def _decide(  # noqa: PLR0917 - one command's whole context
    means: Means,
    github: GitHubClient,
    request: CommandRequest,
    command: Command | CommandError,
    work: Work,
    final_round: bool,
    command_log: EventLogger,
) -> str | RunResult:
    """The reply, once the command was claimed (and done); else how this run ends."""
    if isinstance(command, CommandError):
        text = replies.INVALID.format(login=request.login, problem=command.message)
        return _claimed(means, request, text, command_log)
    if command.verb == "help":
        return _claimed(means, request, replies.help_text(), command_log)
    try:
        permission = permission_port(github).collaborator_permission(
            request.repository, request.login
        )
    except GitHubError as error:
        if error.kind is ErrorKind.RETRY and not final_round:
            command_log.warning("chatops.permission_unknown", error=error.message)
            return Outcome.RETRY
        text = replies.PERMISSION_UNKNOWN.format(
            login=request.login, repository=request.repository, error=error.message
        )
        command_log.error("chatops.permission_unknown", error=error.message)
        return _claimed(means, request, text, command_log)
    if not permission.can_push:
        command_log.info("chatops.refused", permission=permission.permission)
        text = replies.REFUSED.format(
            login=request.login,
            repository=request.repository,
            permission=permission.role_name or permission.permission,
        )
        return _claimed(means, request, text, command_log)
    acted = _act(means, github, request, command, work, command_log)
    if not isinstance(acted, Outcome | Resume):
        command_log.info("chatops.done", verb=command.verb)
    return acted


def _late(  # noqa: PLR0917 - one command's whole context
    means: Means,
    github: GitHubClient,
    request: CommandRequest,
    command: Command | CommandError,
    work: Work,
    final_round: bool,
    command_log: EventLogger,
) -> str | RunResult:
    """The late check: run a comment nobody claimed, answer one whose run stopped between its
    claim and its reply (a killed worker), leave alone one that was answered or is still
    being worked on."""
    where = (request.repository, request.issue_number, request.comment_id)
    with means.sessions.begin() as session:
        at = claimed_at(session, *where)
        ran = command_ran(session, *where)
    if at is None:
        command_log.warning("chatops.late_unclaimed")
        return _decide(means, github, request, command, work, final_round, command_log)
    now = datetime.fromtimestamp(means.clock(), UTC)
    if now - at < QUIET_FOR or already_answered(github, *where):
        return Outcome.DONE
    with means.sessions.begin() as session:
        if not claim_late_answer(session, *where, now):
            return Outcome.DONE
    command_log.warning("chatops.late_answer", ran=ran)
    if ran and isinstance(command, Command) and command.verb == "rollback":
        # The remedy's own claim keeps it to one; running it again tells how it stands. A
        # round after this one (Resume) goes on as the claim's holder, not as a late check.
        holder = {k: v for k, v in work.items() if k != LATE_CHECK_KEY}
        return _act(means, github, request, command, {**holder, CLAIMED_KEY: True}, command_log)
    line = (command_line(request.body) or "/guard").replace("`", "'")
    late = replies.LATE_RAN if ran else replies.LATE_NOT_RUN
    return late.format(login=request.login, line=line, url=request.comment_url)


def _claim(session: Session, means: Means, request: CommandRequest, *, runs: bool) -> bool:
    now = datetime.fromtimestamp(means.clock(), UTC)
    return claim_command(
        session, request.repository, request.issue_number, request.comment_id, now, runs=runs
    )


def _claimed(
    means: Means, request: CommandRequest, text: str, command_log: EventLogger
) -> str | Outcome:
    """A reply that changes nothing, once the comment is claimed for it."""
    with means.sessions.begin() as session:
        if not _claim(session, means, request, runs=False):
            command_log.info("chatops.claimed_elsewhere")
            return Outcome.DONE
    return text


def _act(  # noqa: PLR0917 - one command's whole context
    means: Means,
    github: GitHubClient,
    request: CommandRequest,
    command: Command,
    work: Work,
    command_log: EventLogger,
) -> str | RunResult:
    now = datetime.fromtimestamp(means.clock(), UTC)
    repository, login = request.repository, request.login
    # The claim and the effect commit together: either both happened or neither did.
    with means.sessions.begin() as session:
        if not work.get(CLAIMED_KEY) and not _claim(session, means, request, runs=True):
            command_log.info("chatops.claimed_elsewhere")
            return Outcome.DONE
        if command.verb == "allow":
            assert command.sha is not None
            return actions.allow(session, repository, command.sha, login, now)
        if command.verb == "freeze":
            assert command.environment is not None
            return actions.freeze(
                session,
                repository,
                command.environment,
                duration=command.duration,
                login=login,
                now=now,
                comment_url=request.comment_url,
            )
        if command.verb == "unfreeze":
            assert command.environment is not None
            return actions.unfreeze(session, repository, command.environment, login, now)
        deployment = actions.target_deployment(
            session, repository, request.issue_number, command.environment
        )
        if deployment is None:
            if command.environment is None:
                return replies.NEEDS_TARGET.format(verb=command.verb)
            return replies.NO_DEPLOYMENT.format(
                repository=repository, environment=command.environment
            )
        if command.verb == "rollback":
            failed = FailedDeployment.from_row(deployment)
            latest = latest_verification(session, deployment.id)
        elif means.verifications is None:
            return replies.RETRY_UNAVAILABLE
        else:
            retried = actions.retry(session, deployment, login, now, request.comment_url)
    if command.verb == "rollback":
        run_base = means.settings.public_url
        try:
            # Outside the transaction: the remedy runs its own, short ones, between GitHub
            # calls, and claims the deployment's one remedy itself.
            return request_rollback(
                means,
                github,
                failed,
                repository=repository,
                login=login,
                comment_url=request.comment_url,
                run_url=f"{run_base}/runs/{latest.id}" if run_base and latest else None,
            )
        except Exception as error:
            # The comment is claimed: this run's chain must finish it, or nobody will.
            command_log.exception("chatops.rollback_cut_short", error=type(error).__name__)
            return Resume({**work, CLAIMED_KEY: True})
    # Queued after the commit, so the worker finds the new attempt's row.
    if retried.verify_deployment is not None and means.verifications is not None:
        try:
            means.verifications.enqueue_verification(retried.verify_deployment)
        except Exception as error:
            # The attempt is recorded (queued); the reconciler pushes verifications whose
            # job was lost. The reply still says what was done.
            command_log.exception("chatops.enqueue_failed", error=type(error).__name__)
    return retried.text


def _reply(  # noqa: PLR0917 - one reply's whole context
    github: GitHubClient,
    request: CommandRequest,
    text: str,
    work: Work,
    final_round: bool,
    command_log: EventLogger,
) -> RunResult:
    """Post the reply; a resumed round first looks for one GitHub took from an earlier round."""
    try:
        if ANSWER_KEY in work and already_answered(
            github, request.repository, request.issue_number, request.comment_id
        ):
            command_log.info("chatops.answered_before")
            return Outcome.DONE
        github.comment_on_issue(
            request.repository,
            request.issue_number,
            replies.reply(text, request.comment_id),
        )
    except GitHubError as error:
        if error.kind is ErrorKind.RETRY and not final_round:
            # What the command did stays done; the next round only answers.
            command_log.warning("chatops.reply_later", error=error.message)
            return Resume({**work, ANSWER_KEY: text})
        command_log.error("chatops.reply_failed", error=error.message)
        return Outcome.GAVE_UP
    return Outcome.DONE
