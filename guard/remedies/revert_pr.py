"""Roll back through a pull request: a real `git revert` of the bad range on the current head.

Used when the branch is protected or moved on past the failed commit. The revert is computed
by git in a temporary clone (a three-way merge the Git Data API cannot do), pushed to
`deploy-guard/revert-<deployment id>` and opened as a pull request with the evidence. A
conflict is reported with its files and nothing is pushed. A branch or pull request left by
an earlier attempt is reused, never made twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from guard.github.errors import NotFoundError
from guard.github.models import PullRef
from guard.github.port import GitHubPort
from guard.remedies import gitwork, messages, statuses
from guard.remedies.errors import GitCommandError, RemedyError
from guard.remedies.models import FailedDeployment, StepResult, short

if TYPE_CHECKING:
    from guard.remedies.job import RemedyJob

BRANCH = "deploy-guard/revert-{id}"
HEADS = "refs/heads/"
NO_GIT_URL = "revert_pr needs to know where git is served (the context's git_url is unset)."


def branch_name(failed_id: int) -> str:
    return BRANCH.format(id=failed_id)


def deployed_branch(github: GitHubPort, repo: str, failed: FailedDeployment) -> str:
    """The branch the failed deployment came from; the default branch when it named a SHA."""
    name = failed.ref.removeprefix(HEADS)
    if name and name != failed.sha:
        try:
            github.get_branch_head(repo, name)
        except NotFoundError:
            pass
        else:
            return name
    return github.default_branch(repo)


def branch_head(github: GitHubPort, repo: str, name: str) -> str | None:
    try:
        return github.get_branch_head(repo, name)
    except NotFoundError:
        return None


def git_url_for(api_url: str) -> str:
    """Where git is served, from the REST API's root: github.com, a GHES host, or the sandbox."""
    base = api_url.rstrip("/")
    scheme, _, rest = base.partition("://")
    host, _, path = rest.partition("/")
    if host == "api.github.com":
        return f"{scheme}://github.com"
    if path == "api/v3":
        # GHES serves its API under /api/v3 and git at the host's root.
        return f"{scheme}://{host}"
    return base


def remote_url(git_url: str, repo: str) -> str:
    """`https://github.com/o/r.git`: credentials never go into it."""
    return f"{git_url.rstrip('/')}/{repo}.git"


def pull_body(job: RemedyJob, base: str, base_head: str) -> str:
    plan = job.plan
    assert plan.target is not None
    good, bad = plan.target.sha, plan.failed.sha
    commits = job.github.compare(job.repo, good, bad).commits
    listed = "\n".join(
        f"- {short(c.sha)} {c.message.split(chr(10), 1)[0]}"
        + (f" (@{c.author_login})" if c.author_login else "")
        for c in commits
    )
    reasons = "\n".join(f"- {reason}" for reason in job.request.reasons) or f"- {plan.reason}"
    count = f"{len(commits)} commit{'s' if len(commits) != 1 else ''}"
    run = messages.PULL_RUN.format(url=job.request.run_url) if job.request.run_url else ""
    return messages.PULL_BODY.format(
        id=plan.failed.id,
        bad=short(bad),
        good=short(good),
        environment=plan.failed.environment,
        reasons=reasons,
        count=count,
        branch=base,
        head=short(base_head),
        commits=listed,
        target=plan.target.label,
        run=run,
        marker=messages.PULL_MARKER.format(id=plan.failed.id),
    )


def _push_revert(job: RemedyJob, base: str, name: str) -> str:
    """Compute and push the revert branch; returns the base head it was made on."""
    plan = job.plan
    assert plan.target is not None
    if not job.ctx.git_url:
        raise RemedyError(NO_GIT_URL)
    try:
        made = gitwork.revert_onto_branch(
            url=remote_url(job.ctx.git_url, job.repo),
            token=job.github.installation_token(),
            base=base,
            good=plan.target.sha,
            bad=plan.failed.sha,
            new_branch=name,
            workdir=job.ctx.workdir,
        )
    except GitCommandError:
        # Another attempt may have pushed the branch meanwhile: then it is the one to use.
        if branch_head(job.github, job.repo, name) is None:
            raise
        return job.github.get_branch_head(job.repo, base)
    job.record(created_commit_sha=made.sha)
    return made.base_head


def run(job: RemedyJob) -> StepResult:
    plan, github, repo = job.plan, job.github, job.repo
    assert plan.target is not None
    base = deployed_branch(github, repo, plan.failed)
    name = branch_name(plan.failed.id)
    pull: PullRef | None = github.find_open_pull(repo, name, base)
    if pull is None:
        base_head = github.get_branch_head(repo, base)
        if branch_head(github, repo, name) is None:
            base_head = _push_revert(job, base, name)
        title = messages.PULL_TITLE.format(id=plan.failed.id, environment=plan.failed.environment)
        pull = github.create_pull(repo, name, base, title, pull_body(job, base, base_head))
    job.record(pull_request_number=pull.number, html_url=pull.html_url)
    statuses.mark_failed(
        job, messages.STATUS_RESULT_PULL.format(number=pull.number), inactive=False
    )
    return StepResult(
        message=messages.PULL_OPENED.format(
            number=pull.number,
            good=short(plan.target.sha),
            bad=short(plan.failed.sha),
            branch=base,
            url=pull.html_url,
        ),
        pull_number=pull.number,
        html_url=pull.html_url,
    )
