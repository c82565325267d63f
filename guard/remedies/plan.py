"""What a remedy would do, in words, and the guards that say it must do nothing.

Never a deployment a newer one already superseded; never a rollback of a rollback (a person
must act); never without a verified-good ref to go back to. Dry runs and shadow mode get the
same plan, and only describe it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import cast, get_args

from guard.github.identity import OwnIdentity, made_by_guard
from guard.github.models import DeploymentRef
from guard.policy.models import RollbackStrategy
from guard.remedies import aws, last_good, messages, workflow
from guard.remedies.errors import RemedyError
from guard.remedies.models import FailedDeployment, RemedyContext, RemedyRequest, Target, short

# Strategies that bring back a commit, and so need a verified-good one.
GIT_STRATEGIES = frozenset({"redeploy", "revert", "revert_pr"})
AWS_STRATEGIES = frozenset({"aws_ecs", "aws_lambda"})


@dataclass(frozen=True)
class RemedyPlan:
    """One remedy for one failed deployment: the strategy, the target, and what it means."""

    strategy: RollbackStrategy
    failed: FailedDeployment
    target: Target | None
    reason: str
    action: str
    # Set when nothing may be done, with why; `escalate` when only a person can go on.
    refusal: str | None = None
    escalate: bool = False
    shadow: bool = False
    dry_run: bool = False
    # Rendered workflow inputs, and what an AWS target runs now.
    inputs: Mapping[str, str] = field(default_factory=dict)
    current: str | None = None

    @property
    def acts(self) -> bool:
        """Whether this plan changes anything."""
        return self.refusal is None and not self.shadow and not self.dry_run

    @property
    def summary(self) -> str:
        """The plan in one sentence, as the timeline, the CLI and the incident say it."""
        if self.refusal is not None:
            return self.refusal
        if self.shadow:
            to = f" to {self.target.label}" if self.target and self.target.sha else ""
            return messages.WOULD_HAVE.format(to=to, action=self.action)
        if self.dry_run:
            return messages.DRY_RUN.format(action=self.action)
        return messages.WILL.format(action=self.action)


def reason_of(reasons: tuple[str, ...]) -> str:
    """The verdict's first reason (the one that decided it), or a plain default."""
    return reasons[0].rstrip(".") if reasons else messages.DEFAULT_REASON


def newer_deployment(
    deployments: list[DeploymentRef],
    failed: FailedDeployment,
    identity: Callable[[], OwnIdentity],
) -> DeploymentRef | None:
    """The oldest deployment of the same task made after the failed one, except this remedy's
    own: its payload names the failed deployment and GitHub says the guard created it (a
    payload claiming it alone does not make someone else's newer deployment ours)."""
    newer = [
        d
        for d in deployments
        if d.id > failed.id
        and d.task == failed.task
        and not made_by_guard(d, identity, remedy_of=failed.id)
    ]
    return min(newer, key=lambda d: d.id) if newer else None


def describe(
    strategy: RollbackStrategy,
    request: RemedyRequest,
    target: Target | None,
    *,
    inputs: Mapping[str, str] | None = None,
) -> str:
    """What the strategy does, in words."""
    failed = request.failed
    label = target.label if target is not None else "?"
    if strategy == "redeploy":
        return messages.ACTION_REDEPLOY.format(target=label, environment=failed.environment)
    if strategy == "revert":
        return messages.ACTION_REVERT.format(branch=failed.ref, target=label, bad=short(failed.sha))
    if strategy == "revert_pr":
        good = short(target.sha) if target is not None else "?"
        return messages.ACTION_REVERT_PR.format(good=good, bad=short(failed.sha), branch=failed.ref)
    if strategy == "workflow":
        settings = request.rollback.workflow
        assert settings is not None  # the policy model requires it for this strategy
        shown = ", ".join(f"{key}={value}" for key, value in sorted((inputs or {}).items()))
        return messages.ACTION_WORKFLOW.format(
            file=settings.file, ref=settings.ref, inputs=f" with {shown}" if shown else ""
        )
    return aws.describe(strategy, request.rollback, label)


def make_plan(ctx: RemedyContext, request: RemedyRequest) -> RemedyPlan:
    """Read what the plan needs (deployments, the last good ref, AWS) and apply the guards."""
    strategy = request.rollback.strategy
    failed = request.failed
    reason = reason_of(request.reasons)

    def refuse(why: str, *, escalate: bool = False, target: Target | None = None) -> RemedyPlan:
        return RemedyPlan(
            strategy, failed, target, reason, describe(strategy, request, target), why, escalate
        )

    if failed.is_remedy and not request.manual:
        return refuse(messages.REMEDY_OF_REMEDY.format(id=failed.id), escalate=True)
    deployments = ctx.github.list_deployments(request.repo, failed.environment)
    newer = newer_deployment(deployments, failed, ctx.github.own_identity)
    if newer is not None:
        return refuse(
            messages.SUPERSEDED.format(
                id=failed.id, newer=newer.id, sha=short(newer.sha), environment=failed.environment
            )
        )
    target = _target(ctx, request, deployments)
    if target is None and strategy in GIT_STRATEGIES:
        return refuse(messages.NO_GOOD_REF.format(environment=failed.environment))
    if target is not None and target.sha == failed.sha and strategy in GIT_STRATEGIES:
        return refuse(
            messages.SAME_COMMIT.format(
                environment=failed.environment, sha=short(failed.sha), id=failed.id
            )
        )
    inputs: Mapping[str, str] = {}
    current: str | None = None
    try:
        if strategy == "workflow":
            inputs = workflow.render_inputs(request, target)
        elif strategy in AWS_STRATEGIES:
            move = aws.previous(strategy, request.rollback, ctx.aws)
            current, target = move.current, Target(sha="", ref=move.previous, source="stored")
    except RemedyError as error:
        return refuse(messages.NO_TARGET.format(strategy=strategy, problem=error))
    return RemedyPlan(
        strategy=strategy,
        failed=failed,
        target=target,
        reason=reason,
        action=describe(strategy, request, target, inputs=inputs),
        shadow=request.shadow,
        dry_run=request.dry_run,
        inputs=inputs,
        current=current,
    )


def _target(
    ctx: RemedyContext, request: RemedyRequest, deployments: list[DeploymentRef]
) -> Target | None:
    if request.to_ref:
        return last_good.resolve(ctx.github, request.repo, request.to_ref)
    with ctx.sessions() as session:
        return last_good.find_last_good(
            ctx.github, session, request.repo, request.failed, deployments
        )


def resumed_plan(
    request: RemedyRequest, strategy: str, target_sha: str | None, target_ref: str | None
) -> RemedyPlan:
    """The plan of a remedy claimed earlier, from what its row kept: the target is fixed then.

    Working it out again could give another answer (the rollback's own deployment may have
    passed since), and for AWS the "previous" version is by then the current one.
    """
    if strategy not in get_args(RollbackStrategy):
        raise RemedyError(f"the stored strategy {strategy!r} is not one deploy-guard knows")
    chosen = cast("RollbackStrategy", strategy)
    target = None
    if target_sha or target_ref:
        target = Target(sha=target_sha or "", ref=target_ref or target_sha or "", source="stored")
    inputs: Mapping[str, str] = {}
    if chosen == "workflow":
        try:
            inputs = workflow.render_inputs(request, target)
        except RemedyError:
            inputs = {}
    return RemedyPlan(
        strategy=chosen,
        failed=request.failed,
        target=target,
        reason=reason_of(request.reasons),
        action=describe(chosen, request, target, inputs=inputs),
        inputs=inputs,
    )
