"""Deployments against the sandbox: our own order, the last good one, safe creation and statuses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from guard.github.errors import RefusedError
from tests.github_world import REPO, World, sandbox_world

ENV = "staging"


@pytest.fixture
def world() -> Iterator[World]:
    with sandbox_world() as made:
        yield made


def head(world: World, branch: str = "main") -> str:
    sha = world.sandbox.branch_sha(REPO, branch)
    assert sha is not None
    return sha


def test_listing_order_is_ours_not_the_servers(world: World) -> None:
    client = world.client()
    first, second, third = (client.create_deployment(REPO, head(world), ENV) for _ in range(3))
    client.create_deployment(REPO, head(world), "production")
    # The sandbox lists by id, newest first; give creation times that disagree with that order.
    stored = world.sandbox.runtime.state.deployments
    stored[first.id].created_at = "2030-01-01T00:00:10Z"
    stored[second.id].created_at = "2030-01-01T00:00:10Z"
    stored[third.id].created_at = "2030-01-01T00:00:05Z"
    listed = client.list_deployments(REPO, ENV)
    # Newest creation first; the tie between first and second goes to the higher id.
    assert [d.id for d in listed] == [second.id, first.id, third.id]
    assert {d.environment for d in listed} == {ENV}


def test_statuses_are_sorted_by_us_too(world: World) -> None:
    client = world.client()
    deployment = client.create_deployment(REPO, head(world), ENV)
    queued = client.create_deployment_status(REPO, deployment.id, "queued")
    running = client.create_deployment_status(REPO, deployment.id, "in_progress")
    done = client.create_deployment_status(REPO, deployment.id, "success")
    stored = world.sandbox.runtime.state.deployment_statuses
    stored[queued.id].created_at = "2030-01-01T00:00:09Z"
    stored[running.id].created_at = "2030-01-01T00:00:01Z"
    stored[done.id].created_at = "2030-01-01T00:00:05Z"
    listed = client.list_deployment_statuses(REPO, deployment.id)
    assert [s.state for s in listed] == ["queued", "success", "in_progress"]


def test_a_success_later_marked_inactive_still_counts_as_good(world: World) -> None:
    client = world.client()
    older = client.create_deployment(REPO, head(world), ENV)
    client.create_deployment_status(REPO, older.id, "success")
    newer = client.create_deployment(REPO, head(world), ENV)
    client.create_deployment_status(REPO, newer.id, "success")
    broken = client.create_deployment(REPO, head(world), ENV)
    client.create_deployment_status(REPO, broken.id, "failure")
    never = client.create_deployment(REPO, head(world), ENV)
    client.create_deployment_status(REPO, never.id, "in_progress")

    # auto_inactive put `inactive` on top of the older success: the premise of the test.
    assert client.list_deployment_statuses(REPO, older.id)[0].state == "inactive"
    assert client.last_successful_deployment(REPO, ENV) == newer
    assert client.last_successful_deployment(REPO, ENV, exclude_ids=[newer.id]) == older
    assert client.last_successful_deployment(REPO, ENV, [newer.id, older.id]) is None
    assert client.last_successful_deployment(REPO, "production") is None


def test_a_rollback_deploys_the_old_sha_itself(world: World) -> None:
    client = world.client()
    old = head(world)
    world.sandbox.commit(REPO, {"app/server.py": "print('v2')\n"}, branch="release", start_from=old)
    release = head(world, "release")
    world.sandbox.commit(REPO, {"README.md": "# shop v2\n"})
    failing = client.create_check_run(
        REPO,
        release,
        "tests",
        status="completed",
        conclusion="failure",
        title="Red",
        summary="1 failed",
    )
    assert failing.id > 0

    made = client.create_deployment(
        REPO,
        "release",
        ENV,
        payload={"rollback_of": 41},
        description="roll back",
        idempotency_key="rollback-41",
    )
    # Not auto-merged with main, not held back by the failing check.
    assert (made.sha, made.ref, made.description) == (release, "release", "roll back")
    assert head(world, "release") == release
    assert made.payload == {"rollback_of": 41, "deploy_guard": {"idempotency_key": "rollback-41"}}
    assert made.idempotency_key == "rollback-41"
    assert world.sandbox.runtime.state.deployments[made.id].production_environment is False

    with pytest.raises(RefusedError, match="Auto-merged main into release") as merged:
        client.create_deployment(REPO, "release", ENV, auto_merge=True)
    assert merged.value.status == 202


def test_production_deployments_say_so(world: World) -> None:
    made = world.client().create_deployment(
        REPO, head(world), "prod-eu", production_environment=True
    )
    assert world.sandbox.runtime.state.deployments[made.id].production_environment is True


def test_status_descriptions_are_cut_to_githubs_limit(world: World) -> None:
    client = world.client()
    deployment = client.create_deployment(REPO, head(world), ENV)
    status = client.create_deployment_status(
        REPO,
        deployment.id,
        "failure",
        description="HTTP 503 from /healthz " * 20,
        log_url="https://guard.example/runs/9",
        environment_url="https://staging.example",
    )
    stored = world.sandbox.runtime.state.deployment_statuses[status.id]
    assert len(stored.description) == 140
    assert stored.description.endswith("…")
    assert (stored.log_url, stored.target_url) == ("https://guard.example/runs/9",) * 2
    assert status.environment_url == "https://staging.example"
    assert status.log_url == "https://guard.example/runs/9"
