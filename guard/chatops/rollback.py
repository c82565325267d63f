"""`/guard rollback`: the remedy of the deployment a comment names, by the guard's one remedy path.

The policy's rollback settings at the deployed commit decide the strategy; the remedies runner
plans, claims (one remedy per deployment, across replicas) and acts. A person asked, so even a
rollback's own deployment may be rolled back (`manual`), and a dry-run guard only describes.
"""

from __future__ import annotations

from guard.chatops import replies
from guard.gate.background import Means
from guard.github.errors import GitHubError
from guard.github.port import GitHubPort
from guard.jobs.policy_source import PolicyFound, PolicyInvalid, read_policy
from guard.policy.models import Rollback
from guard.remedies import (
    FailedDeployment,
    RemedyContext,
    RemedyRequest,
    execute_remedy,
)
from guard.remedies.revert_pr import git_url_for

REASON = "@{login} asked for it with `/guard rollback` ({url})"


def rollback_settings(
    github: GitHubPort, repository: str, environment: str, sha: str
) -> Rollback | str:
    """The policy's `on_failure.rollback` for the environment (defaults without a policy), or
    the sentence saying why the policy cannot be used."""
    found = read_policy(github, repository, sha)
    if isinstance(found, PolicyInvalid):
        return replies.ROLLBACK_POLICY_INVALID.format(error=found.error.issues[0].render())
    if isinstance(found, PolicyFound) and environment in found.policy.environments:
        return found.policy.environments[environment].on_failure.rollback
    return Rollback()


def request_rollback(
    means: Means,
    github: GitHubPort,
    failed: FailedDeployment,
    *,
    repository: str,
    login: str,
    comment_url: str,
    run_url: str | None,
) -> str:
    """Roll the deployment back (or say why not); the reply to the comment."""
    try:
        settings = rollback_settings(github, repository, failed.environment, failed.sha)
        if isinstance(settings, str):
            return settings
        outcome = execute_remedy(
            RemedyContext(
                github=github,
                sessions=means.sessions,
                git_url=git_url_for(means.settings.github_api_url),
            ),
            RemedyRequest(
                repo=repository,
                failed=failed,
                rollback=settings,
                reasons=(REASON.format(login=login, url=comment_url),),
                dry_run=means.settings.dry_run,
                manual=True,
                run_url=run_url,
            ),
        )
    except GitHubError as error:
        return replies.ROLLBACK_GITHUB_FAILED.format(deployment=failed.id, error=error.message)
    return replies.ROLLBACK_ANSWER.format(
        login=login,
        deployment=failed.id,
        environment=failed.environment,
        strategy=outcome.strategy,
        message=outcome.message,
    )
