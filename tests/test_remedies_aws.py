"""ECS and Lambda rollbacks over real HTTP against moto's server, as boto3 would reach AWS."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from guard.outcomes import VerdictKind
from guard.policy.models import AwsTarget, Rollback
from guard.remedies import OutcomeKind, RemedyContext, execute_remedy
from guard.remedies.models import AwsClientFactory
from guard.store import Remedy, RemedyState
from tests.aws_world import use_moto
from tests.remedies_world import RemedyWorld, remedy_world

REGION = "eu-central-1"
ECS = Rollback(strategy="aws_ecs", aws=AwsTarget(region=REGION, cluster="shop", service="web"))
LAMBDA = Rollback(
    strategy="aws_lambda", aws=AwsTarget(region=REGION, function="shop-api", alias="live")
)


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> AwsClientFactory:
    """boto3 clients on moto with fake credentials, no machine AWS config, fresh state."""
    use_moto(moto_url, monkeypatch)

    def client(service: str, region: str) -> Any:
        import boto3

        return boto3.client(service, region_name=region, endpoint_url=moto_url)  # type: ignore[call-overload]

    return client


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[RemedyWorld]:
    with remedy_world(f"sqlite:///{tmp_path / 'guard.db'}", tmp_path / "clones") as world:
        yield world


def failed(shop: RemedyWorld) -> Any:
    bad = shop.deploy("main")
    shop.record(bad, VerdictKind.FAIL)
    return bad


def context(shop: RemedyWorld, aws: AwsClientFactory, **options: Any) -> RemedyContext:
    return shop.context(aws=aws, **options)


def ecs_service(aws: AwsClientFactory, *, deregister: int | None = None) -> Any:
    """Cluster `shop`, family `web` at revisions 1..3 (and a `web-worker` family at 1..4)."""
    ecs = aws("ecs", REGION)
    ecs.create_cluster(clusterName="shop")
    container = [{"name": "web", "image": "shop:1", "memory": 128}]
    arns = {}
    for revision in (1, 2, 3):
        made = ecs.register_task_definition(family="web", containerDefinitions=container)
        arns[revision] = made["taskDefinition"]["taskDefinitionArn"]
    for _ in range(4):
        ecs.register_task_definition(family="web-worker", containerDefinitions=container)
    if deregister is not None:
        ecs.deregister_task_definition(taskDefinition=arns[deregister])
    ecs.create_service(cluster="shop", serviceName="web", taskDefinition=arns[3], desiredCount=1)
    return ecs, arns


def running(ecs: Any) -> str:
    service = ecs.describe_services(cluster="shop", services=["web"])["services"][0]
    return str(service["taskDefinition"])


def test_the_ecs_service_goes_back_to_the_previous_revision(
    shop: RemedyWorld, aws: AwsClientFactory
) -> None:
    ecs, arns = ecs_service(aws)
    bad = failed(shop)

    outcome = execute_remedy(context(shop, aws), shop.request(bad, rollback=ECS))

    assert outcome.kind is OutcomeKind.DONE, outcome.message
    assert running(ecs) == arns[2]
    assert outcome.message == (
        f"Remedy done: ECS service web is back on {arns[2]} (it ran {arns[3]})."
    )
    (remedy,) = shop.remedies()
    assert (remedy.target_ref, remedy.target_sha) == (arns[2], None)
    assert [s.state for s in shop.statuses(bad.id)] == ["success", "failure"]


def test_an_inactive_revision_is_skipped(shop: RemedyWorld, aws: AwsClientFactory) -> None:
    ecs, arns = ecs_service(aws, deregister=2)
    bad = failed(shop)
    outcome = execute_remedy(context(shop, aws), shop.request(bad, rollback=ECS))
    assert outcome.kind is OutcomeKind.DONE, outcome.message
    assert running(ecs) == arns[1]


def test_a_resumed_ecs_rollback_does_not_step_back_twice(
    shop: RemedyWorld, aws: AwsClientFactory
) -> None:
    ecs, arns = ecs_service(aws)
    bad = failed(shop)
    execute_remedy(context(shop, aws), shop.request(bad, rollback=ECS))
    # As if the process died after the move but before it could say so.
    with shop.sessions.begin() as session:
        session.get_one(Remedy, shop.remedies()[0].id).state = RemedyState.RUNNING

    resumed = execute_remedy(
        context(shop, aws, resume_after=timedelta(0)), shop.request(bad, rollback=ECS)
    )

    assert resumed.kind is OutcomeKind.DONE, resumed.message
    assert running(ecs) == arns[2]


def test_no_earlier_revision_means_no_remedy(shop: RemedyWorld, aws: AwsClientFactory) -> None:
    ecs = aws("ecs", REGION)
    ecs.create_cluster(clusterName="shop")
    first = ecs.register_task_definition(
        family="web", containerDefinitions=[{"name": "web", "image": "shop:1", "memory": 128}]
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster="shop", serviceName="web", taskDefinition=first, desiredCount=1)
    bad = failed(shop)

    outcome = execute_remedy(context(shop, aws), shop.request(bad, rollback=ECS))

    assert outcome.kind is OutcomeKind.REFUSED
    assert "task definition family web has no ACTIVE revision before web:1" in outcome.message
    assert running(ecs) == first


def lambda_function(aws: AwsClientFactory, versions: int = 3) -> Any:
    iam = aws("iam", REGION)
    role = iam.create_role(
        RoleName="shop-api",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    lam = aws("lambda", REGION)
    for version in range(1, versions + 1):
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("handler.py", f"def handle(event, context):\n    return {version}\n")
        if version == 1:
            lam.create_function(
                FunctionName="shop-api",
                Runtime="python3.12",
                Role=role,
                Handler="handler.handle",
                Code={"ZipFile": code.getvalue()},
            )
        else:
            lam.update_function_code(FunctionName="shop-api", ZipFile=code.getvalue())
        lam.publish_version(FunctionName="shop-api")
    return lam


def alias(lam: Any) -> dict[str, Any]:
    found: dict[str, Any] = lam.get_alias(FunctionName="shop-api", Name="live")
    return found


def test_the_lambda_alias_goes_back_to_the_previous_version(
    shop: RemedyWorld, aws: AwsClientFactory
) -> None:
    lam = lambda_function(aws)
    lam.create_alias(FunctionName="shop-api", Name="live", FunctionVersion="3")
    bad = failed(shop)

    outcome = execute_remedy(context(shop, aws), shop.request(bad, rollback=LAMBDA))

    assert outcome.kind is OutcomeKind.DONE, outcome.message
    now = alias(lam)
    assert now["FunctionVersion"] == "2"
    assert now["Description"] == (
        f"deploy-guard rolled back from 3 (deployment {bad.id} failed verification)"
    )
    assert outcome.message == "Remedy done: Lambda alias live of shop-api is back on 2 (it ran 3)."


def test_a_weighted_rollout_sends_all_traffic_back(
    shop: RemedyWorld, aws: AwsClientFactory
) -> None:
    lam = lambda_function(aws)
    lam.create_alias(
        FunctionName="shop-api",
        Name="live",
        FunctionVersion="2",
        RoutingConfig={"AdditionalVersionWeights": {"3": 0.1}},
    )
    bad = failed(shop)

    outcome = execute_remedy(context(shop, aws), shop.request(bad, rollback=LAMBDA))

    assert outcome.kind is OutcomeKind.DONE, outcome.message
    now = alias(lam)
    assert now["FunctionVersion"] == "2"
    assert not (now.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
    assert "(it ran 2 with 10% on 3)" in outcome.message


def test_the_alias_description_can_name_the_previous_version(
    shop: RemedyWorld, aws: AwsClientFactory
) -> None:
    lam = lambda_function(aws)
    lam.create_alias(
        FunctionName="shop-api", Name="live", FunctionVersion="3", Description="previous version: 1"
    )
    bad = failed(shop)
    dry = execute_remedy(context(shop, aws), shop.request(bad, rollback=LAMBDA, dry_run=True))
    assert dry.kind is OutcomeKind.DESCRIBED
    assert dry.message == (
        "Dry run: the guard would point Lambda alias live of shop-api back at version 1. "
        "It changed nothing."
    )
    assert alias(lam)["FunctionVersion"] == "3"

    outcome = execute_remedy(context(shop, aws), shop.request(bad, rollback=LAMBDA))

    assert outcome.kind is OutcomeKind.DONE, outcome.message
    assert alias(lam)["FunctionVersion"] == "1"
