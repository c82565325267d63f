"""Roll back with a commit: the last verified-good tree on top of the bad branch head.

Only when the branch head is still the failed commit: then a commit whose tree is the good
tree and whose parent is the head undoes exactly the bad range, and the branch moves by a
fast-forward (never a force). A protected branch refuses that, and a branch that moved on
needs a real three-way revert: both become a pull request (`revert_pr`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from guard.github.errors import RefUpdateRefused
from guard.remedies import messages, revert_pr, statuses
from guard.remedies.models import StepResult, short
from guard.remedies.plan import describe
from guard.remedies.revert_pr import deployed_branch

if TYPE_CHECKING:
    from guard.remedies.job import RemedyJob


def revert_message(job: RemedyJob) -> str:
    """git's revert style for a range: `Revert "<good>..<bad>"`, a blank line, what and why."""
    plan = job.plan
    assert plan.target is not None
    good, bad = plan.target.sha, plan.failed.sha
    title = messages.REVERT_SUBJECT.format(range=f"{short(good)}..{short(bad)}")
    marker = messages.REVERT_MARKER.format(id=plan.failed.id)
    return f"{title}\n\n{messages.REVERT_BODY.format(good=good, bad=bad, marker=marker)}\n"


def run(job: RemedyJob) -> StepResult:
    plan, github, repo = job.plan, job.github, job.repo
    target, failed = plan.target, plan.failed
    assert target is not None
    branch = deployed_branch(github, repo, failed)
    head = github.get_branch_head(repo, branch)
    good_tree = github.get_commit(repo, target.sha).tree_sha
    if head != failed.sha:
        latest = github.get_commit(repo, head)
        marker = messages.REVERT_MARKER.format(id=failed.id)
        if marker in latest.message and latest.tree_sha == good_tree:
            # An earlier attempt moved the branch before it could say so.
            return _done(job, branch, head)
        why = messages.BRANCH_MOVED.format(branch=branch, head=short(head), bad=short(failed.sha))
        return _fall_back(job, why)
    commit = github.create_commit(repo, revert_message(job), good_tree, [head])
    try:
        github.update_branch(repo, branch, commit)
    except RefUpdateRefused as refused:
        return _fall_back(job, refused.reason)
    return _done(job, branch, commit)


def _done(job: RemedyJob, branch: str, commit: str) -> StepResult:
    target = job.plan.target
    assert target is not None
    job.record(created_commit_sha=commit)
    statuses.mark_failed(
        job, messages.STATUS_RESULT_REVERT.format(target=target.label), inactive=False
    )
    return StepResult(
        message=messages.REVERTED.format(branch=branch, commit=short(commit), target=target.label),
        commit_sha=commit,
    )


def _fall_back(job: RemedyJob, why: str) -> StepResult:
    branch = deployed_branch(job.github, job.repo, job.plan.failed)
    plan = replace(
        job.plan,
        strategy="revert_pr",
        action=describe("revert_pr", job.request, job.plan.target),
    )
    job.switch_to(plan, messages.FELL_BACK.format(branch=branch, why=why.rstrip(".")))
    return revert_pr.run(job)
