"""`deploy-guard action` end to end in a simulated runner: the example shop as the target, the
GitHub sandbox over HTTP as GitHub, the outputs, summary and annotations read back from the
files and the log the runner would read."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from guard.demo.example_service import ExampleService
from guard.github.auth import AppAuth
from guard.sandbox import Sandbox
from tests.action_world import RUN_ID, SERVER_URL, Clock, Runner, deployment_status_event
from tests.sandbox_fixtures import DEVELOPER, SandboxWorld

SECRET = "s3cr3t-shop-t0ken"
POLICY = """\
version: 1
environments:
  production:
    smoke:
      - name: home page
        get: /
        expect: {status: 200, body_contains: Add to cart}
      - name: api health
        get: /api/health?key=${GUARD_SECRET_SHOP_TOKEN}
        expect:
          json: {$.db.connected: true}
    watch:
      interval: 1s
      duration: 2s
      probes:
        - name: health
          get: /health
      fail_when: {consecutive_failures: 2}
    on_failure:
      action: rollback
      rollback: {strategy: redeploy}
      incident:
        labels: [incident]
"""


@dataclass
class Shop:
    """The sandbox with a good deployment (v1.0.0) and the deployment under test."""

    world: SandboxWorld
    service: ExampleService
    http: requests.Session
    runner: Runner
    good_sha: str
    deployment_id: int
    clock: Clock

    @property
    def sandbox(self) -> Sandbox:
        return self.world.sandbox

    def environ(self, runner: Runner | None = None, **inputs: str) -> dict[str, str]:
        values = {
            "environment": "production",
            "github_token": self.world.owner_token,
            "GUARD_SECRET_SHOP_TOKEN": SECRET,
        }
        values.update(inputs)
        return (runner or self.runner).environ(**values)

    def state(self) -> dict[str, Any]:
        return self.sandbox.snapshot()

    def issue_url(self, number: int) -> str:
        api = f"{self.world.base_url}/repos/{self.world.repo}/issues/{number}"
        url: str = self.http.get(api).json()["html_url"]
        return url


def deploy(http: requests.Session, world: SandboxWorld, ref: str, url: str | None) -> Any:
    base = f"{world.base_url}/repos/{world.repo}/deployments"
    body = {"ref": ref, "environment": "production", "auto_merge": False, "required_contexts": []}
    deployment = http.post(base, json=body).json()
    status: dict[str, Any] = {"state": "success"}
    if url:
        status["environment_url"] = url
    answer = http.post(f"{base}/{deployment['id']}/statuses", json=status).json()
    return deployment, answer


@pytest.fixture
def shop(world: SandboxWorld, owner_http: requests.Session, tmp_path: Path) -> Iterator[Shop]:
    sandbox = world.sandbox
    good = sandbox.branch_sha(world.repo)
    assert good is not None
    sandbox.create_tag(world.repo, "v1.0.0", good)
    deploy(owner_http, world, "v1.0.0", None)
    bad = sandbox.commit(world.repo, {"app/version.txt": "2\n"}, "Ship v2", author=DEVELOPER)
    with ExampleService() as service:
        deployment, status = deploy(owner_http, world, bad, service.url)
        runner = Runner(tmp_path, world.repo, world.base_url, bad)
        runner.write_policy(POLICY)
        event = deployment_status_event(
            owner_http, world.base_url, world.repo, deployment["id"], status
        )
        runner.write_event("deployment_status", event)
        yield Shop(world, service, owner_http, runner, good, deployment["id"], Clock(time.time()))


def test_a_healthy_deployment_passes_with_outputs_and_a_table(shop: Shop) -> None:
    writes_before = len([c for c in shop.sandbox.calls.all() if c.method != "GET"])

    run = shop.runner.run(shop.environ(), shop.clock)

    assert run.code == 0, run.log
    assert run.outputs == {
        "verdict": "pass",
        "severity": "",
        "incident-url": "",
        "rollback-ref": "",
        "run-url": f"{SERVER_URL}/{shop.world.repo}/actions/runs/{RUN_ID}",
    }
    assert run.summary.startswith("## deploy-guard · production: ✅ Passed: production is healthy")
    assert "| Check | Phase | Result | Runs | Failed | p95 | Last |" in run.summary
    assert "| health | watch | pass | 2 | 0 |" in run.summary
    assert "```mermaid\nxychart-beta" in run.summary
    assert run.annotations("error") == []
    # The base URL came from the event's environment_url; the watch ran without waiting.
    assert shop.clock.slept == [1.0]
    writes_after = len([c for c in shop.sandbox.calls.all() if c.method != "GET"])
    assert writes_after == writes_before, "a clean pass changes nothing on GitHub"


def test_a_broken_deployment_is_rolled_back_with_an_incident(shop: Shop) -> None:
    shop.service.deploy("v2")

    run = shop.runner.run(shop.environ(GUARD_TOKEN_IS_JOB_TOKEN="true"), shop.clock)

    assert run.code == 1, run.log
    state = shop.state()
    rollback = [d for d in state["deployments"] if d["payload"].get("deploy_guard")]
    assert len(rollback) == 1
    assert rollback[0]["payload"]["deploy_guard"]["remedy_of"] == shop.deployment_id
    assert rollback[0]["ref"] == "v1.0.0"
    issues = [i for i in state["issues"] if not i.get("is_pull")]
    assert len(issues) == 1
    issue = issues[0]
    assert run.outputs["verdict"] == "fail"
    assert run.outputs["severity"] == "P0"
    assert run.outputs["rollback-ref"] == "v1.0.0"
    assert run.outputs["incident-url"] == shop.issue_url(issue["number"])
    assert f"D{shop.deployment_id}" in issue["title"]
    errors = run.annotations("error")
    assert any(
        line.startswith("::error title=deploy-guard%3A home page failed (smoke") for line in errors
    )
    assert any("api health failed" in line for line in errors)
    warnings = run.annotations("warning")
    assert any("no workflow will ship the rollback" in line for line in warnings)
    assert "### What the guard did" in run.summary
    assert f"The incident: {shop.issue_url(issue['number'])}" in run.summary
    assert "strategy: workflow" in run.summary
    statuses = [s for s in state["deployment_statuses"] if s["deployment_id"] == shop.deployment_id]
    assert {s["state"] for s in statuses} >= {"failure", "inactive"}


def test_running_the_step_again_makes_nothing_twice(shop: Shop) -> None:
    shop.service.deploy("v2")
    first = shop.runner.run(shop.environ(), shop.clock)
    # A re-run of the job: a new RUNNER_TEMP, so only GitHub remembers what was done.
    again = Runner(
        shop.runner.root / "rerun", shop.world.repo, shop.world.base_url, shop.runner.sha
    )
    again.variables = dict(shop.runner.variables)
    again.write_policy(POLICY)

    second = again.run(shop.environ(again), shop.clock)

    assert (first.code, second.code) == (1, 1)
    state = shop.state()
    assert len([d for d in state["deployments"] if d["payload"].get("deploy_guard")]) == 1
    assert len([i for i in state["issues"] if not i.get("is_pull")]) == 1
    assert second.outputs["incident-url"] == first.outputs["incident-url"]


def test_secrets_are_masked_first_and_shown_nowhere(shop: Shop) -> None:
    shop.service.deploy("v2")

    run = shop.runner.run(shop.environ(), shop.clock)

    lines = run.log.splitlines()
    masks = [line for line in lines if line.startswith("::add-mask::")]
    assert masks[:2] == [f"::add-mask::{SECRET}", f"::add-mask::{shop.world.owner_token}"]
    assert lines[: len(masks)] == masks, "masks come before anything else"
    unmasked = "\n".join(line for line in lines if not line.startswith("::add-mask::"))
    assert SECRET not in unmasked
    assert shop.world.owner_token not in unmasked
    assert SECRET not in run.summary
    assert SECRET not in "".join(run.outputs.values())
    bodies = [i["body"] for i in shop.state()["issues"]]
    assert bodies
    assert all(SECRET not in body for body in bodies)


def test_a_token_without_write_access_gets_the_permissions_block(shop: Shop) -> None:
    shop.service.deploy("v2")
    sandbox = shop.sandbox
    app = sandbox.register_app("read-only")
    read_only = {"contents": "read", "deployments": "read", "issues": "read", "metadata": "read"}
    installation = sandbox.install_app(app.app_id, "octo-org", [shop.world.repo], read_only)
    token = AppAuth(app.app_id, app.private_key_pem, api_url=sandbox.base_url).token_for(
        installation
    )

    run = shop.runner.run(shop.environ(github_token=token), shop.clock)

    assert run.code == 1
    refused = [line for line in run.annotations("error") if "missing permissions" in line]
    assert len(refused) == 1
    assert "POST /repos/{owner}/{repo}/deployments (deployments: write)" in refused[0]
    assert refused[0].endswith("permissions: {contents: read, deployments: write, issues: write}")
    block = "```yaml\npermissions:\n  contents: read\n  deployments: write\n  issues: write\n```"
    assert "### Permissions to add" in run.summary
    assert block in run.summary
    assert shop.state()["issues"] == []


def test_without_the_environment_input_the_step_stops_with_exit_2(shop: Shop) -> None:
    run = shop.runner.run(shop.environ(environment=""), shop.clock)

    assert run.code == 2
    assert run.annotations("error") == [
        "::error title=deploy-guard%3A the step is not set up right::the input environment is "
        "required: the name of the environment just deployed, as in the policy "
        "(e.g. environment: production)"
    ]
    assert "the input environment is required" in run.summary


def test_a_broken_policy_is_annotated_at_its_line(shop: Shop) -> None:
    shop.runner.write_policy(POLICY.replace("interval: 1s", "interval: fast"))

    run = shop.runner.run(shop.environ(), shop.clock)

    assert run.code == 2
    errors = run.annotations("error")
    assert len(errors) == 1
    assert errors[0].startswith(
        "::error file=.github/deploy-guard.yml,line=13,title=deploy-guard%3A the policy cannot "
        "be used::environments.production.watch.interval: "
    )
    assert run.outputs == {}


def test_shadow_mode_describes_the_rollback_and_changes_no_deployment(shop: Shop) -> None:
    shop.service.deploy("v2")

    run = shop.runner.run(shop.environ(mode="shadow"), shop.clock)

    assert run.code == 1
    state = shop.state()
    assert [d for d in state["deployments"] if d["payload"].get("deploy_guard")] == []
    assert run.outputs["rollback-ref"] == ""
    assert "would have rolled back" in run.summary


def writes(shop: Shop) -> int:
    return len([call for call in shop.sandbox.calls.all() if call.method != "GET"])


def test_a_failure_with_no_deployment_to_act_on_says_so_and_changes_nothing(shop: Shop) -> None:
    shop.service.deploy("v2")
    undeployed = shop.sandbox.commit(shop.world.repo, {"README.md": "# shop v3\n"}, "Docs")
    runner = Runner(shop.runner.root / "push", shop.world.repo, shop.world.base_url, undeployed)
    runner.write_policy(POLICY)
    before = writes(shop)

    run = runner.run(shop.environ(runner, url=shop.service.url), shop.clock)

    assert run.code == 1
    assert writes(shop) == before
    warnings = [line for line in run.annotations("warning") if "no deployment" in line]
    assert len(warnings) == 1
    assert f"No GitHub deployment of {undeployed[:7]} to production was found" in warnings[0]
    assert run.outputs["incident-url"] == ""
    assert f"Verification of **production** at `{undeployed[:7]}` from the pipeline." in run.summary
    assert "Deployment 0" not in run.summary


def test_a_failed_rollback_is_escalated_and_never_rolled_back(shop: Shop) -> None:
    shop.service.deploy("v2")
    base = f"{shop.world.base_url}/repos/{shop.world.repo}/deployments"
    rollback = shop.http.post(
        base,
        json={
            "ref": shop.good_sha,
            "environment": "production",
            "required_contexts": [],
            "payload": {"deploy_guard": {"remedy_of": shop.deployment_id}},
        },
    ).json()
    status = shop.http.post(
        f"{base}/{rollback['id']}/statuses",
        json={"state": "success", "environment_url": shop.service.url},
    ).json()
    event = deployment_status_event(
        shop.http, shop.world.base_url, shop.world.repo, rollback["id"], status
    )
    shop.runner.write_event("deployment_status", event)

    run = shop.runner.run(shop.environ(), shop.clock)

    assert run.code == 1
    state = shop.state()
    assert len(state["deployments"]) == 3, "no rollback of the rollback"
    assert run.outputs["severity"] == "P0"
    assert run.outputs["rollback-ref"] == ""
    issues = [i for i in state["issues"] if not i.get("is_pull")]
    assert len(issues) == 1
    assert "a person must act" in issues[0]["body"]
    assert "a person must act" in run.summary


def test_a_forged_rollback_claim_by_another_account_is_rolled_back_like_any_failure(
    shop: Shop,
) -> None:
    """The payload alone proves nothing: anyone who may deploy can write it. A deployment is
    the step's rollback only when GitHub says the step's own identity created it."""
    shop.service.deploy("v2")
    shop.sandbox.set_permission(shop.world.repo, "mallory", "write")
    forger = shop.sandbox.register_token("mallory")
    base = f"{shop.world.base_url}/repos/{shop.world.repo}/deployments"
    headers = {"Authorization": f"token {forger}"}
    claim = {"deploy_guard": {"remedy_of": shop.deployment_id, "strategy": "redeploy"}}
    body = {"ref": "main", "environment": "production", "required_contexts": []}
    forged = shop.http.post(base, json=body | {"payload": claim}, headers=headers).json()
    assert forged["creator"]["login"] == "mallory"
    status = shop.http.post(
        f"{base}/{forged['id']}/statuses",
        json={"state": "success", "environment_url": shop.service.url},
        headers=headers,
    ).json()
    event = deployment_status_event(
        shop.http, shop.world.base_url, shop.world.repo, forged["id"], status
    )
    shop.runner.write_event("deployment_status", event)

    run = shop.runner.run(shop.environ(), shop.clock)

    assert run.code == 1, run.log
    assert run.outputs["rollback-ref"] == "v1.0.0"
    made = [
        d
        for d in shop.state()["deployments"]
        if d["payload"].get("deploy_guard", {}).get("remedy_of") == forged["id"]
    ]
    assert [d["ref"] for d in made] == ["v1.0.0"]
    issues = [i for i in shop.state()["issues"] if not i.get("is_pull")]
    assert len(issues) == 1
    assert "a person must act" not in issues[0]["body"]
    # Asked once, because the payload claimed the deployment: who the step's token is.
    assert len(shop.sandbox.calls.matching("POST", "/graphql")) == 1


def test_a_redeploy_with_another_token_than_the_job_s_needs_no_warning(shop: Shop) -> None:
    shop.service.deploy("v2")

    # A GitHub App's token (or a PAT): the deployment it creates does start workflows.
    run = shop.runner.run(shop.environ(GUARD_TOKEN_IS_JOB_TOKEN="false"), shop.clock)

    assert run.code == 1, run.log
    assert run.outputs["rollback-ref"] == "v1.0.0"
    assert not any("no workflow will ship" in line for line in run.annotations("warning"))
    assert "strategy: workflow" not in run.summary


def test_shadow_mode_with_the_job_s_token_says_what_enforce_would_need(shop: Shop) -> None:
    shop.service.deploy("v2")

    run = shop.runner.run(shop.environ(mode="shadow", GUARD_TOKEN_IS_JOB_TOKEN="true"), shop.clock)

    assert run.code == 1, run.log
    [warning] = [w for w in run.annotations("warning") if "no workflow will ship" in w]
    assert "In enforce mode the rollback deployment would be created with the job" in warning
    assert "use `strategy: workflow`" in warning
    assert "pass a GitHub App token as github-token" in warning
    assert "strategy: workflow\n    workflow: {file: rollback.yml" in run.summary
