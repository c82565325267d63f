"""Running one `/guard` command: check the commenter's permission, act, reply with a comment."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from guard.chatops import actions, replies
from guard.chatops.parse import Command, CommandError, parse_command
from guard.chatops.rollback import request_rollback
from guard.gate.background import Means, Outcome, Work
from guard.github.client import GitHubClient
from guard.github.client_permissions import permission_port
from guard.github.errors import ErrorKind, GitHubError
from guard.jobs.records import latest_verification
from guard.observability.logs import EventLogger, get_logger
from guard.remedies import FailedDeployment

log = get_logger(__name__)


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
        return {"kind": "chatops", **asdict(self)}

    @classmethod
    def of(cls, work: Work) -> CommandRequest:
        return cls(**{name: work[name] for name in cls.__dataclass_fields__ if name in work})


def run_command(means: Means, work: Work, *, final_round: bool = True) -> Outcome:
    """Check, act, reply. RETRY only before anything was done (the permission check failed
    transiently): a command is never applied twice."""
    request = CommandRequest.of(work)
    command = parse_command(request.body)
    if command is None:
        return Outcome.DONE
    command_log = log.bind(repository=request.repository).bind(
        issue=request.issue_number, login=request.login
    )
    github = means.github(request.installation_id)
    try:
        if isinstance(command, CommandError):
            text = replies.INVALID.format(login=request.login, problem=command.message)
            return _reply(github, request, text, command_log)
        if command.verb == "help":
            return _reply(github, request, replies.help_text(), command_log)
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
            return _reply(github, request, text, command_log)
        if not permission.can_push:
            command_log.info("chatops.refused", permission=permission.permission)
            text = replies.REFUSED.format(
                login=request.login,
                repository=request.repository,
                permission=permission.role_name or permission.permission,
            )
            return _reply(github, request, text, command_log)
        text = _act(means, github, request, command)
        command_log.info("chatops.done", verb=command.verb)
        return _reply(github, request, text, command_log)
    finally:
        github.close()


def _act(means: Means, github: GitHubClient, request: CommandRequest, command: Command) -> str:
    now = datetime.fromtimestamp(means.clock(), UTC)
    repository, login = request.repository, request.login
    with means.sessions.begin() as session:
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
            acted = actions.retry(session, deployment, login, now, request.comment_url)
    if command.verb == "rollback":
        # Outside the transaction: the remedy runs its own, short ones, between GitHub calls.
        run_base = means.settings.public_url
        return request_rollback(
            means,
            github,
            failed,
            repository=repository,
            login=login,
            comment_url=request.comment_url,
            run_url=f"{run_base}/runs/{latest.id}" if run_base and latest else None,
        )
    # Queued after the commit, so the worker finds the new attempt's row.
    if acted.verify_deployment is not None and means.verifications is not None:
        means.verifications.enqueue_verification(acted.verify_deployment)
    return acted.text


def _reply(
    github: GitHubClient, request: CommandRequest, text: str, command_log: EventLogger
) -> Outcome:
    try:
        github.comment_on_issue(request.repository, request.issue_number, replies.reply(text))
    except GitHubError as error:
        # What the command did stays done; only the answer is missing, and the log says so.
        command_log.error("chatops.reply_failed", error=error.message)
        return Outcome.GAVE_UP
    return Outcome.DONE
