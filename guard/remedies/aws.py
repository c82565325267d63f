"""Roll back on AWS: the ECS service onto its previous task definition, a Lambda alias onto its
previous version. boto3 is imported only when one of these strategies runs.

"Previous" is worked out once, when the remedy is planned, and stored on the Remedy row: after
the move, the previous one is the current one, and working it out again would step back twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from guard.policy.models import AwsTarget, Rollback
from guard.remedies import messages, statuses
from guard.remedies.errors import RemedyError
from guard.remedies.models import AwsClientFactory, StepResult

if TYPE_CHECKING:
    from guard.remedies.job import RemedyJob

# `arn:aws:ecs:<region>:<account>:task-definition/<family>:<revision>`
_TASK_DEFINITION = re.compile(r"task-definition/(?P<family>[^:/]+):(?P<revision>\d+)$")
# A deploy tool may note the version it replaced in the alias's description.
_PREVIOUS_IN_DESCRIPTION = re.compile(r"previous[ _-]?version[\s:=]+(\d+)", re.IGNORECASE)
LAMBDA_DESCRIPTION = "deploy-guard rolled back from {current} (deployment {id} failed verification)"
NO_EARLIER_TASK = "task definition family {family} has no ACTIVE revision before {current}"
NO_EARLIER_VERSION = "function {function} has no published version before {current}"
NOT_A_VERSION = "alias {alias} of {function} points at {current}, not a published version"
NO_SERVICE = "ECS service {service} was not found in cluster {cluster}"
AWS_FAILED = "AWS answered: {error}"


@dataclass(frozen=True)
class AwsMove:
    """What runs now and what the remedy moves back to (an ARN, or a Lambda version)."""

    current: str
    previous: str


def default_client(service: str, region: str) -> Any:
    """A boto3 client with the environment's credentials (imported here: boto3 is slow)."""
    import boto3

    return boto3.client(service, region_name=region)  # type: ignore[call-overload]


def _target(rollback: Rollback) -> AwsTarget:
    if rollback.aws is None:
        raise RemedyError("the policy names no aws target (aws: {region, ...})")
    return rollback.aws


def describe(strategy: str, rollback: Rollback, label: str) -> str:
    target = rollback.aws or AwsTarget(region="?")
    if strategy == "aws_ecs":
        return messages.ACTION_ECS.format(
            service=target.service, cluster=target.cluster, target=label
        )
    return messages.ACTION_LAMBDA.format(alias=target.alias, function=target.function, target=label)


def _client(factory: AwsClientFactory | None, strategy: str, region: str) -> Any:
    service = "ecs" if strategy == "aws_ecs" else "lambda"
    return (factory or default_client)(service, region)


def _aws_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


def previous(strategy: str, rollback: Rollback, factory: AwsClientFactory | None) -> AwsMove:
    """Read what runs now and what ran before it; RemedyError when there is nothing before."""
    target = _target(rollback)
    client = _client(factory, strategy, target.region)
    try:
        if strategy == "aws_ecs":
            return _ecs_previous(client, target)
        return _lambda_previous(client, target)
    except _aws_errors() as error:
        raise RemedyError(AWS_FAILED.format(error=error)) from error


def _revision(arn: str) -> tuple[str, int] | None:
    found = _TASK_DEFINITION.search(arn)
    return (found["family"], int(found["revision"])) if found else None


def _pages(client: Any, operation: str, key: str, **arguments: Any) -> Iterator[Any]:
    for page in client.get_paginator(operation).paginate(**arguments):
        yield from page.get(key) or ()


def _ecs_service(client: Any, target: AwsTarget) -> dict[str, Any]:
    found = client.describe_services(cluster=target.cluster, services=[target.service])
    services = [s for s in found.get("services") or () if s.get("status") != "INACTIVE"]
    if not services:
        raise RemedyError(NO_SERVICE.format(service=target.service, cluster=target.cluster))
    service: dict[str, Any] = services[0]
    return service


def _ecs_previous(client: Any, target: AwsTarget) -> AwsMove:
    current = str(_ecs_service(client, target)["taskDefinition"])
    parsed = _revision(current)
    if parsed is None:
        raise RemedyError(f"cannot read the task definition revision of {current}")
    family, revision = parsed
    # familyPrefix is a prefix ("web" also finds "web-worker"): keep the family itself.
    earlier = [
        (found[1], arn)
        for arn in _pages(
            client,
            "list_task_definitions",
            "taskDefinitionArns",
            familyPrefix=family,
            status="ACTIVE",
            sort="DESC",
        )
        if (found := _revision(arn)) is not None and found[0] == family and found[1] < revision
    ]
    if not earlier:
        raise RemedyError(NO_EARLIER_TASK.format(family=family, current=f"{family}:{revision}"))
    return AwsMove(current=current, previous=max(earlier)[1])


def _lambda_previous(client: Any, target: AwsTarget) -> AwsMove:
    alias = client.get_alias(FunctionName=target.function, Name=target.alias)
    current = str(alias["FunctionVersion"])
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    if weights:
        # A weighted rollout: the new version only takes a share; all traffic goes back.
        shares = ", ".join(f"{share:.0%} on {version}" for version, share in weights.items())
        return AwsMove(current=f"{current} with {shares}", previous=current)
    if not current.isdigit():
        raise RemedyError(
            NOT_A_VERSION.format(alias=target.alias, function=target.function, current=current)
        )
    noted = _PREVIOUS_IN_DESCRIPTION.search(str(alias.get("Description") or ""))
    if noted is not None and noted.group(1) != current:
        return AwsMove(current=current, previous=noted.group(1))
    versions = [
        int(version["Version"])
        for version in _pages(
            client, "list_versions_by_function", "Versions", FunctionName=target.function
        )
        if str(version.get("Version", "")).isdigit()
    ]
    earlier = [number for number in versions if number < int(current)]
    if not earlier:
        raise RemedyError(NO_EARLIER_VERSION.format(function=target.function, current=current))
    return AwsMove(current=current, previous=str(max(earlier)))


def run(job: RemedyJob) -> StepResult:
    """Move the service or alias to the stored previous one; already there counts as done."""
    plan, rollback = job.plan, job.request.rollback
    target = _target(rollback)
    assert plan.target is not None
    wanted = plan.target.ref
    client = _client(job.ctx.aws, plan.strategy, target.region)
    try:
        if plan.strategy == "aws_ecs":
            what = f"ECS service {target.service}"
            current = str(_ecs_service(client, target)["taskDefinition"])
            if current != wanted:
                client.update_service(
                    cluster=target.cluster, service=target.service, taskDefinition=wanted
                )
        else:
            what = f"Lambda alias {target.alias} of {target.function}"
            alias = client.get_alias(FunctionName=target.function, Name=target.alias)
            current = str(alias["FunctionVersion"])
            routed = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
            if current != wanted or routed:
                client.update_alias(
                    FunctionName=target.function,
                    Name=target.alias,
                    FunctionVersion=wanted,
                    Description=LAMBDA_DESCRIPTION.format(current=current, id=plan.failed.id),
                    RoutingConfig={"AdditionalVersionWeights": {}},
                )
    except _aws_errors() as error:
        raise RemedyError(AWS_FAILED.format(error=error)) from error
    statuses.mark_failed(
        job, messages.STATUS_RESULT_OTHER.format(strategy=plan.strategy), inactive=False
    )
    shown_current = plan.current or current
    return StepResult(
        message=messages.AWS_MOVED.format(what=what, target=wanted, current=shown_current)
    )
