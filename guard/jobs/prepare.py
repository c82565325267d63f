"""A queued verification gets its plan: from the governing policy, or it ends before it starts.

No policy file, or no section for the environment: the deployment is not the guard's to
verify, so its verification row goes and a note on the deployment says why. An invalid
policy fails the check run with every error by line, and nothing else happens.
"""

from __future__ import annotations

import sqlalchemy as sa

from guard.jobs import records
from guard.jobs.job import Job
from guard.jobs.policy_source import (
    POLICY_PATH,
    PolicyFound,
    PolicyInvalid,
    PolicyMissing,
    read_policy,
)
from guard.jobs.publish import show
from guard.jobs.rollback_verdict import recognise_merged_revert
from guard.observability.metrics import count_verification
from guard.policy.types import format_duration
from guard.report import check_run as render
from guard.store import Verification, VerificationState
from guard.verification import VerificationPlan

NO_POLICY = (
    "Not verified: there is no {path} at {sha}, so deploy-guard does not guard this repository "
    "there."
)
NOT_IN_POLICY = (
    "Not verified: the policy ({ref} at {sha}) has no environment {environment} (it has: {known})."
)
POLICY_INVALID = "Not verified: the policy ({ref} at {sha}) is invalid.\n{errors}"
POLICY_LOADED = "Policy read from {path} at {sha} ({where}): {plan}."
DEPLOYED_COMMIT = "the deployed commit"
DEFAULT_BRANCH = "the default branch {branch}, as its policy_ref asks"
NO_WATCH_WORDS = "{smoke} smoke checks, no watch"
PLAN_WORDS = "{smoke} smoke checks, {rounds} watch rounds every {interval}"


def _forget(job: Job, kind: str, message: str) -> None:
    """Delete the queued row of a deployment the guard does not verify, noting why once."""
    with job.transaction() as session:
        session.execute(
            sa.delete(Verification).where(
                Verification.id == job.id, Verification.state == VerificationState.QUEUED
            )
        )
        records.note_once(session, kind, message, at=job.moment(), deployment_id=job.deployment.id)
    job.log.info(f"verification.{kind}")


def _fail_on_invalid_policy(job: Job, outcome: PolicyInvalid) -> None:
    output = render.policy_invalid(job.subject, outcome.error, path=POLICY_PATH, sha=outcome.sha)
    show(job, output)
    message = POLICY_INVALID.format(
        ref=outcome.ref, sha=outcome.sha[:7], errors=outcome.error.render()
    )
    with job.transaction() as session:
        session.execute(
            sa.update(Verification)
            .where(Verification.id == job.id)
            .values(policy_ref=outcome.ref, policy_sha=outcome.sha)
        )
        concluded = records.conclude(session, job.id, VerificationState.ERROR, job.moment())
        if concluded:
            records.note(
                session, "policy_invalid", message, at=job.moment(), verification_id=job.id
            )
    if concluded:
        count_verification("error")
        job.log.info("verification.policy_invalid", errors=len(outcome.error.issues))


def _describe(plan: VerificationPlan) -> str:
    if plan.rounds_planned == 0:
        return NO_WATCH_WORDS.format(smoke=len(plan.smoke_checks))
    return PLAN_WORDS.format(
        smoke=len(plan.smoke_checks),
        rounds=plan.rounds_planned,
        interval=format_duration(plan.interval_s),
    )


def _where(found: PolicyFound) -> str:
    if found.ref == "default_branch":
        return DEFAULT_BRANCH.format(branch=found.branch)
    return DEPLOYED_COMMIT


def prepare(job: Job) -> bool:
    """Fix the plan of a queued verification; False when it ended (ignored or invalid)."""
    # Before any verdict: a merged revert's deployment is judged as the rollback it is.
    recognise_merged_revert(job)
    outcome = read_policy(job.github, job.repo, job.deployment.sha)
    environment_name = job.deployment.environment
    if isinstance(outcome, PolicyMissing):
        _forget(job, "policy_missing", NO_POLICY.format(path=POLICY_PATH, sha=outcome.sha[:7]))
        return False
    if isinstance(outcome, PolicyInvalid):
        _fail_on_invalid_policy(job, outcome)
        return False
    assert isinstance(outcome, PolicyFound)
    environment = outcome.policy.environments.get(environment_name)
    if environment is None:
        known = ", ".join(sorted(outcome.policy.environments))
        message = NOT_IN_POLICY.format(
            ref=outcome.ref, sha=outcome.sha[:7], environment=environment_name, known=known
        )
        _forget(job, "environment_not_in_policy", message)
        return False
    plan = VerificationPlan.from_environment(environment)
    with job.transaction() as session:
        prepared = records.mark_prepared(
            session,
            job.id,
            plan,
            policy_ref=outcome.ref,
            policy_sha=outcome.sha,
            now=job.moment(),
        )
        if prepared:
            records.note(
                session,
                "policy_loaded",
                POLICY_LOADED.format(
                    path=POLICY_PATH,
                    sha=outcome.sha[:7],
                    where=_where(outcome),
                    plan=_describe(plan),
                ),
                at=job.moment(),
                verification_id=job.id,
            )
    return job.reload() and job.row.state is not VerificationState.QUEUED
