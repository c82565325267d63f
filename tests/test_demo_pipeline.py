"""The demo's pipeline ships each new deployment once, as a CD system would, over the sandbox."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
import requests

from guard.demo.example_service import ExampleService
from guard.demo.guard_service import free_port
from guard.demo.pipeline import Pipeline, Shipment
from guard.demo.world import (
    DemoWorld,
    commit_broken_version,
    commit_healthy_version,
    seed_world,
)
from guard.sandbox import Sandbox, make_app_jwt

T = TypeVar("T")
# Bounded polling for the background thread: a state to reach, never a time to wait.
POLL_ATTEMPTS = 500
POLL_PAUSE_S = 0.02


def eventually(what: str, check: Callable[[], T | None]) -> T:
    for _ in range(POLL_ATTEMPTS):
        value = check()
        if value:
            return value
        time.sleep(POLL_PAUSE_S)
    raise AssertionError(f"never happened: {what}")


@dataclass
class Setting:
    sandbox: Sandbox
    world: DemoWorld
    shop: ExampleService
    pipeline: Pipeline

    def statuses(self, deployment_id: int) -> list[dict[str, Any]]:
        state = self.sandbox.runtime.state
        found = [s for s in state.deployment_statuses.values() if s.deployment_id == deployment_id]
        return [
            {"state": s.state, "creator": s.creator, "environment_url": s.environment_url}
            for s in sorted(found, key=lambda s: s.id)
        ]

    def as_app(self) -> requests.Session:
        """A session holding an installation token of the guard's App."""
        app = self.world.app
        jwt = make_app_jwt(app.app_id, app.private_key_pem)
        answer = requests.post(
            f"{self.sandbox.base_url}/app/installations/{self.world.installation_id}/access_tokens",
            headers={"Authorization": f"Bearer {jwt}"},
            timeout=10,
        )
        answer.raise_for_status()
        session = requests.Session()
        session.headers["Authorization"] = f"token {answer.json()['token']}"
        return session


@pytest.fixture
def setting(sandbox: Sandbox) -> Iterator[Setting]:
    world = seed_world(sandbox)
    with ExampleService() as shop:
        pipeline = Pipeline(sandbox.base_url, world.developer_token, world.repo, shop)
        try:
            yield Setting(sandbox, world, shop, pipeline)
        finally:
            pipeline.stop()


def test_a_new_deployment_is_shipped_and_reported_successful(setting: Setting) -> None:
    sha = commit_healthy_version(setting.sandbox, setting.world)
    setting.shop.deploy("v0")
    created = setting.pipeline.create_deployment("main")

    shipped = setting.pipeline.poll_once()

    assert [(s.deployment_id, s.sha, s.version, s.state) for s in shipped] == [
        (created["id"], sha, "v1", "success")
    ]
    assert setting.shop.version == "v1"
    assert setting.statuses(created["id"]) == [
        {"state": "in_progress", "creator": "mona", "environment_url": ""},
        {"state": "success", "creator": "mona", "environment_url": setting.shop.url},
    ]


def test_each_deployment_is_shipped_once(setting: Setting) -> None:
    commit_healthy_version(setting.sandbox, setting.world)
    setting.pipeline.create_deployment("main")
    assert len(setting.pipeline.poll_once()) == 1

    assert setting.pipeline.poll_once() == []
    assert len(setting.pipeline.shipments) == 1


def test_deployments_ship_oldest_first_and_the_newest_is_served(setting: Setting) -> None:
    commit_healthy_version(setting.sandbox, setting.world)
    first = setting.pipeline.create_deployment("main")
    commit_broken_version(setting.sandbox, setting.world)
    second = setting.pipeline.create_deployment("main")

    shipped = setting.pipeline.poll_once()

    assert [(s.deployment_id, s.version) for s in shipped] == [
        (first["id"], "v1"),
        (second["id"], "v2"),
    ]
    assert setting.shop.version == "v2"
    assert setting.shop.broken


def test_a_deployment_someone_else_is_shipping_is_left_alone(setting: Setting) -> None:
    commit_broken_version(setting.sandbox, setting.world)
    created = setting.pipeline.create_deployment("main")
    with setting.as_app() as app:
        app.post(
            f"{setting.sandbox.base_url}/repos/{setting.world.repo}/deployments/"
            f"{created['id']}/statuses",
            json={"state": "in_progress"},
            timeout=10,
        ).raise_for_status()

    assert setting.pipeline.poll_once() == []
    assert setting.shop.version == "v1"


def test_the_rollback_the_guard_creates_is_shipped_as_the_guards(setting: Setting) -> None:
    good = commit_healthy_version(setting.sandbox, setting.world)
    commit_broken_version(setting.sandbox, setting.world)
    with setting.as_app() as app:
        answer = app.post(
            f"{setting.sandbox.base_url}/repos/{setting.world.repo}/deployments",
            json={
                "ref": good,
                "environment": "production",
                "auto_merge": False,
                "required_contexts": [],
                "payload": {"deploy_guard": {"remedy_of": 1, "strategy": "redeploy"}},
            },
            timeout=10,
        )
        answer.raise_for_status()
    setting.shop.deploy("v2")

    shipped = setting.pipeline.poll_once()

    assert [(s.sha, s.version, s.by_guard) for s in shipped] == [(good, "v1", True)]
    assert not setting.shop.broken


def test_a_commit_without_a_version_is_not_shipped(setting: Setting) -> None:
    # The seeded repository holds the README and the policy only: there is no app yet.
    created = setting.pipeline.create_deployment("main")
    setting.shop.deploy("v0")

    shipped = setting.pipeline.poll_once()

    assert [(s.state, s.version) for s in shipped] == [("failure", None)]
    assert setting.shop.version == "v0"
    assert [s["state"] for s in setting.statuses(created["id"])] == ["failure"]


def test_deployments_to_other_environments_are_not_this_pipelines(setting: Setting) -> None:
    commit_healthy_version(setting.sandbox, setting.world)
    staging = Pipeline(
        setting.sandbox.base_url,
        setting.world.developer_token,
        setting.world.repo,
        setting.shop,
        environment="staging",
    )
    try:
        staging.create_deployment("main")
    finally:
        staging.stop()

    assert setting.pipeline.poll_once() == []


def test_in_the_background_it_ships_what_appears(setting: Setting) -> None:
    shipped: list[Shipment] = []
    pipeline = Pipeline(
        setting.sandbox.base_url,
        setting.world.developer_token,
        setting.world.repo,
        setting.shop,
        on_shipped=shipped.append,
        poll_interval_s=0.01,
    ).start()
    try:
        commit_broken_version(setting.sandbox, setting.world)
        pipeline.create_deployment("main")
        eventually("the deployment shipped", lambda: shipped)
    finally:
        pipeline.stop()
    assert [s.version for s in shipped] == ["v2"]
    assert setting.shop.version == "v2"


def test_in_the_background_errors_are_reported_and_it_goes_on() -> None:
    errors: list[Exception] = []
    with ExampleService() as shop:
        # Nothing listens there: every look fails, and each failure is reported.
        pipeline = Pipeline(
            f"http://127.0.0.1:{free_port()}",
            "ghp_nothing",
            "octo-org/demo-shop",
            shop,
            on_error=errors.append,
            poll_interval_s=0.01,
        ).start()
        try:
            eventually("two failed looks", lambda: len(errors) >= 2)
        finally:
            pipeline.stop()
    assert all(isinstance(error, requests.ConnectionError) for error in errors)
