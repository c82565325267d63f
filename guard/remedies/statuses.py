"""The failed deployment's own statuses: `failure` with the reason and what was done, once."""

from __future__ import annotations

from typing import TYPE_CHECKING

from guard.github.errors import GitHubError
from guard.github.models import truncate_description
from guard.github.port import GitHubPort
from guard.observability.logs import get_logger
from guard.remedies import messages
from guard.remedies.models import FailedStatus

if TYPE_CHECKING:
    from guard.remedies.job import RemedyJob


log = get_logger(__name__)
NOT_POSTED = "The failed deployment's failure status could not be posted: {error}"
# The timeline's note (of kind POSTED_KIND) that the one `failure` status was posted.
POSTED_KIND = "deployment_status"
POSTED = "Deployment {deployment} marked failure on GitHub{link}."


def description(reason: str, result: str, *, manual: bool = False) -> str:
    """GitHub keeps 140 characters: the reason is shortened first, the result kept whole."""
    template = messages.STATUS_BY_HAND if manual else messages.STATUS_ROLLED_BACK
    room = max(20, 140 - len(template.format(reason="", result=result)))
    return truncate_description(
        template.format(reason=truncate_description(reason, room), result=result)
    )


def mark_failed(job: RemedyJob, result: str, *, inactive: bool) -> None:
    """Post `failure` (linking the run) unless an earlier attempt did; then `inactive` if asked.

    With `RemedyContext.statuses_later` the status is left on the job for the caller, who posts
    it after its own first writes. The rollback itself is done by now, so a status GitHub will
    not take is noted, not a reason to call the remedy failed.
    """
    text = description(job.plan.reason, result, manual=job.request.manual)
    status = FailedStatus(text, job.request.run_url, inactive)
    if job.ctx.statuses_later:
        job.status = status
        return
    try:
        post_failed(job.github, job.repo, job.plan.failed.id, status, look_first=job.look_first)
    except GitHubError as error:
        log.warning("remedy.status_not_posted", remedy=job.remedy_id, error=error.message)
        job.note("remedy_status_not_posted", NOT_POSTED.format(error=error.message))


def post_failed(
    github: GitHubPort,
    repo: str,
    deployment_id: int,
    status: FailedStatus,
    *,
    look_first: bool,
    environment_url: str | None = None,
    environment: str | None = None,
) -> None:
    """Post the `failure` status, then `inactive` when asked.

    A status cannot be taken back, so a retry (`look_first`) reads the statuses first and
    does not stack a second identical `failure`; a first attempt has nothing to find.
    """
    posted = github.list_deployment_statuses(repo, deployment_id) if look_first else []
    there = any(s.state == "failure" and s.description == status.description for s in posted)
    if not there:
        github.create_deployment_status(
            repo,
            deployment_id,
            "failure",
            description=status.description,
            log_url=status.log_url,
            # Without it the environment would lose its link to the service in GitHub's UI.
            environment_url=environment_url,
            environment=environment,
        )
    # The rollback, not this deployment, is what the environment is to run now. After our
    # own `failure` the newest status is that one; after an earlier attempt's, look.
    if status.inactive and (not there or posted[0].state != "inactive"):
        github.create_deployment_status(
            repo, deployment_id, "inactive", description=status.description
        )
