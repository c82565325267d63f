"""Answering a deployment protection rule: read the policy and the records, decide, call back.

The callback is retried by the GitHub client (bounded, with backoff); a durable follow-up
that still finds GitHub unavailable runs again later (see background.MAX_ROUNDS). When it
gives up, the error is logged and the deployment's timeline says so: a run is never left
waiting without a trace.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from guard.gate.background import Means, Outcome, Work
from guard.gate.decide import (
    ActiveFreeze,
    GateDecision,
    GateFacts,
    KnownBad,
    OpenIncident,
    decide,
)
from guard.github.errors import ErrorKind, GitHubError
from guard.github.port import GitHubPort
from guard.jobs.policy_source import (
    POLICY_PATH,
    PolicyFound,
    PolicyInvalid,
    PolicyMissing,
    read_policy,
)
from guard.observability.logs import EventLogger, get_logger
from guard.policy.models import Gate
from guard.store import (
    Deployment,
    Freeze,
    Incident,
    IncidentState,
    KnownBadSha,
    Remedy,
    Verification,
    add_timeline_event,
)

log = get_logger(__name__)

POLICY_UNREADABLE = "the policy could not be read from GitHub ({error})"
POLICY_INVALID = "the policy ({ref} at {sha}) is invalid: {first}"
ANSWERED = "Deployment protection rule {state} for run {run_id}: {comment}"
UNANSWERED = (
    "The deployment protection rule of run {run_id} could not be answered ({error}); "
    "the run waits for a review: approve or reject it on GitHub"
)


@dataclass(frozen=True)
class GateRequest:
    """One waiting run, as the handler saw it; travels through the queue as JSON."""

    repository: str
    repository_url: str
    environment: str
    run_id: int
    sha: str
    deployment_id: int | None = None
    installation_id: int | None = None

    def work(self) -> dict[str, Any]:
        return {"kind": "gate", **asdict(self)}

    @classmethod
    def of(cls, work: Work) -> GateRequest:
        return cls(**{name: work[name] for name in cls.__dataclass_fields__ if name in work})


def _default_head(github: GitHubPort, repository: str) -> str:
    try:
        return github.get_branch_head(repository, github.default_branch(repository))
    except GitHubError:
        # The policy read that follows fails the same way and says so in the answer.
        return ""


def _moment(means: Means) -> datetime:
    return datetime.fromtimestamp(means.clock(), UTC)


@dataclass(frozen=True)
class PolicyFacts:
    """What the policy says about the environment's gate, or why it cannot say."""

    gate: Gate | None = None
    problem: str | None = None
    # The policy file at the commit it was read at, for readers of the comment.
    page: str | None = None


def read_policy_facts(github: GitHubPort, request: GateRequest) -> PolicyFacts:
    """The policy at the deployed commit (or the default branch, if it pins itself there)."""
    try:
        outcome = read_policy(github, request.repository, request.sha)
    except GitHubError as error:
        # Fail closed: a freeze nobody can read is still a freeze.
        return PolicyFacts(problem=POLICY_UNREADABLE.format(error=error.message))
    if isinstance(outcome, PolicyMissing):
        return PolicyFacts()
    page = f"{request.repository_url}/blob/{outcome.sha}/{POLICY_PATH}"
    if isinstance(outcome, PolicyInvalid):
        first = outcome.error.issues[0].render()
        problem = POLICY_INVALID.format(ref=outcome.ref, sha=outcome.sha[:7], first=first)
        return PolicyFacts(problem=problem, page=page)
    assert isinstance(outcome, PolicyFound)
    environment = outcome.policy.environments.get(request.environment)
    return PolicyFacts(environment.gate if environment is not None else None, page=page)


def _run_page(means: Means, verification_id: int | None) -> str | None:
    base = means.settings.public_url
    return f"{base}/runs/{verification_id}" if base and verification_id is not None else None


def _known_bad(session: Session, means: Means, request: GateRequest) -> KnownBad | None:
    row = session.scalars(
        sa.select(KnownBadSha)
        .where(
            KnownBadSha.repository == request.repository,
            KnownBadSha.sha == request.sha,
            KnownBadSha.allowed_at.is_(None),
        )
        .limit(1)
    ).first()
    if row is None:
        return None
    url = None
    if row.deployment_id is not None:
        verification = session.scalars(
            sa.select(Verification.id)
            .where(Verification.deployment_id == row.deployment_id)
            .order_by(Verification.attempt.desc())
            .limit(1)
        ).first()
        incident = session.scalars(
            sa.select(Incident.issue_url).where(Incident.deployment_id == row.deployment_id)
        ).first()
        url = _run_page(means, verification) or incident
    return KnownBad(row.sha, row.reason, url)


def _open_incident(session: Session, request: GateRequest) -> OpenIncident | None:
    row = session.scalars(
        sa.select(Incident)
        .where(
            Incident.repository == request.repository,
            Incident.environment == request.environment,
            Incident.state == IncidentState.OPEN,
        )
        .order_by(Incident.opened_at.desc())
        .limit(1)
    ).first()
    return OpenIncident(row.code, row.severity.value, row.issue_url) if row else None


def _rollback_of(session: Session, request: GateRequest) -> int | None:
    """The deployment this one rolls back, if a remedy of the guard created it.

    Read from the guard's own remedy rows, never from the deployment's payload: anyone who may
    create a deployment can write a payload, and must not thereby slip past the gate.
    """
    if request.deployment_id is None:
        return None
    remedied: int | None = session.scalars(
        sa.select(Deployment.github_id)
        .join(Remedy, Remedy.deployment_id == Deployment.id)
        .where(
            Remedy.created_deployment_id == request.deployment_id,
            Deployment.repository == request.repository,
        )
        .limit(1)
    ).first()
    return remedied


def active_freezes(
    session: Session, repository: str, environment: str, now: datetime
) -> list[Freeze]:
    """`/guard freeze`s that hold the environment now: not lifted, not run out."""
    return list(
        session.scalars(
            sa.select(Freeze)
            .where(
                Freeze.repository == repository,
                sa.or_(Freeze.environment == environment, Freeze.environment.is_(None)),
                Freeze.lifted_at.is_(None),
                sa.or_(Freeze.until.is_(None), Freeze.until > now),
            )
            .order_by(Freeze.id)
        ).all()
    )


def gather_facts(
    session: Session, means: Means, policy: PolicyFacts, request: GateRequest, now: datetime
) -> GateFacts:
    """Everything the decision reads: the policy's gate and what the records hold now."""
    freezes = tuple(
        ActiveFreeze(row.frozen_by, row.until, row.reason)
        for row in active_freezes(session, request.repository, request.environment, now)
    )
    return GateFacts(
        environment=request.environment,
        gate=policy.gate,
        policy_problem=policy.problem,
        known_bad=_known_bad(session, means, request),
        open_incident=_open_incident(session, request),
        freezes=freezes,
        policy_url=policy.page,
        rollback_of=_rollback_of(session, request),
    )


def _note(means: Means, request: GateRequest, kind: str, message: str) -> None:
    """A line on the deployment's timeline, when the guard knows the deployment."""
    if request.deployment_id is None:
        return
    with means.sessions.begin() as session:
        row = session.scalars(
            sa.select(Deployment).where(
                Deployment.repository == request.repository,
                Deployment.github_id == request.deployment_id,
            )
        ).first()
        if row is not None:
            add_timeline_event(session, kind, message, deployment_id=row.id, at=_moment(means))


def answer_gate(means: Means, work: Work, *, final_round: bool = True) -> Outcome:
    """Decide and answer one waiting run; RETRY when GitHub was unavailable and this is not
    the final round, else DONE or GAVE_UP (logged, and on the timeline)."""
    request = GateRequest.of(work)
    run_log = log.bind(
        repository=request.repository,
        environment=request.environment,
        deployment=request.deployment_id,
        run=request.run_id,
    )
    github = means.github(request.installation_id)
    try:
        if not request.sha:
            # A request without its deployment: judge the commit the default branch is at.
            request = replace(request, sha=_default_head(github, request.repository))
        # GitHub first, then one short read: no database transaction spans a GitHub call.
        policy = read_policy_facts(github, request)
        now = _moment(means)
        with means.sessions.begin() as session:
            facts = gather_facts(session, means, policy, request, now)
        decision = decide(facts, now)
        try:
            github.review_protection_rule(
                request.repository,
                request.run_id,
                request.environment,
                decision.state,
                decision.comment,
            )
        except GitHubError as error:
            return _not_answered(
                means, request, decision, error, final_round=final_round, run_log=run_log
            )
    finally:
        github.close()
    run_log.info(f"gate.{decision.state}", rule=decision.rule.value)
    _note(
        means,
        request,
        f"gate_{decision.state}",
        ANSWERED.format(state=decision.state, run_id=request.run_id, comment=decision.comment),
    )
    return Outcome.DONE


def _not_answered(
    means: Means,
    request: GateRequest,
    decision: GateDecision,
    error: GitHubError,
    *,
    final_round: bool,
    run_log: EventLogger,
) -> Outcome:
    if error.kind is ErrorKind.RETRY and not final_round:
        run_log.warning("gate.callback_failed", error=error.message, rule=decision.rule.value)
        return Outcome.RETRY
    run_log.error("gate.unanswered", error=error.message, rule=decision.rule.value)
    _note(
        means,
        request,
        "gate_unanswered",
        UNANSWERED.format(run_id=request.run_id, error=error.message),
    )
    return Outcome.GAVE_UP
