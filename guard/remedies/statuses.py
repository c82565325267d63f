"""The failed deployment's own statuses: `failure` with the reason and what was done, once."""

from __future__ import annotations

from typing import TYPE_CHECKING

from guard.github.errors import GitHubError
from guard.github.models import truncate_description
from guard.observability.logs import get_logger
from guard.remedies import messages

if TYPE_CHECKING:
    from guard.remedies.job import RemedyJob


log = get_logger(__name__)
NOT_POSTED = "The failed deployment's failure status could not be posted: {error}"


def description(reason: str, result: str, *, manual: bool = False) -> str:
    """GitHub keeps 140 characters: the reason is shortened first, the result kept whole."""
    template = messages.STATUS_BY_HAND if manual else messages.STATUS_ROLLED_BACK
    room = max(20, 140 - len(template.format(reason="", result=result)))
    return truncate_description(
        template.format(reason=truncate_description(reason, room), result=result)
    )


def mark_failed(job: RemedyJob, result: str, *, inactive: bool) -> None:
    """Post `failure` (linking the run) unless an earlier attempt did; then `inactive` if asked.

    Looked up first because a status cannot be taken back: a resumed remedy must not stack a
    second identical `failure` on the deployment. The rollback itself is done by now, so a
    status GitHub will not take is noted, not a reason to call the remedy failed.
    """
    try:
        _post(job, result, inactive=inactive)
    except GitHubError as error:
        log.warning("remedy.status_not_posted", remedy=job.remedy_id, error=error.message)
        job.note("remedy_status_not_posted", NOT_POSTED.format(error=error.message))


def _post(job: RemedyJob, result: str, *, inactive: bool) -> None:
    github, repo, failed = job.github, job.repo, job.plan.failed
    text = description(job.plan.reason, result, manual=job.request.manual)
    statuses = github.list_deployment_statuses(repo, failed.id)
    if not any(s.state == "failure" and s.description == text for s in statuses):
        github.create_deployment_status(
            repo, failed.id, "failure", description=text, log_url=job.request.run_url
        )
        statuses = github.list_deployment_statuses(repo, failed.id) if inactive else statuses
    if inactive and (not statuses or statuses[0].state != "inactive"):
        # The rollback, not this deployment, is what the environment is to run now.
        github.create_deployment_status(repo, failed.id, "inactive", description=text)
