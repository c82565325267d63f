"""Deployments and statuses in the sandbox follow GitHub's semantics (PyGithub and requests)."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pytest
import requests
from github import Github, GithubException

if TYPE_CHECKING:
    from tests.sandbox_fixtures import SandboxWorld


def _links(header: str) -> dict[str, str]:
    return {rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', header)}


def test_deployments_list_newest_first_with_pagination_links(
    world: SandboxWorld, app_github: Github, owner_http: requests.Session
) -> None:
    repo = app_github.get_repo(world.repo)
    created = [
        repo.create_deployment(
            ref="main", environment="staging", required_contexts=[], description=f"d{n}"
        ).id
        for n in range(5)
    ]
    assert created == sorted(created)
    url = f"{world.base_url}/repos/{world.repo}/deployments"
    first = owner_http.get(url, params={"environment": "staging", "per_page": "2"})
    assert [d["id"] for d in first.json()] == created[::-1][:2]
    relations = _links(first.headers["Link"])
    assert set(relations) == {"next", "last"}
    assert relations["next"].startswith(f"{world.base_url}/repos/")
    assert "page=3" in relations["last"]
    last = owner_http.get(relations["last"])
    assert [d["id"] for d in last.json()] == [created[0]]
    assert set(_links(last.headers["Link"])) == {"first", "prev"}
    everything = owner_http.get(url, params={"environment": "staging"})
    assert "Link" not in everything.headers
    assert len(everything.json()) == 5


def test_pygithub_follows_pagination(world: SandboxWorld, owner_http: requests.Session) -> None:
    for n in range(5):
        owner_http.post(
            f"{world.base_url}/repos/{world.repo}/deployments",
            json={"ref": "main", "environment": f"env{n % 2}", "required_contexts": []},
        ).raise_for_status()
    github = Github(base_url=world.base_url, per_page=2, seconds_between_requests=None)
    try:
        listed = list(github.get_repo(world.repo).get_deployments(environment="env0"))
    finally:
        github.close()
    assert [d.environment for d in listed] == ["env0"] * 3
    assert listed[0].id > listed[-1].id
    pages = world.sandbox.calls.matching("GET", f"/repos/{world.repo}/deployments")
    assert len(pages) == 2


def test_statuses_record_creator_app_and_urls(world: SandboxWorld, app_github: Github) -> None:
    deployment = app_github.get_repo(world.repo).create_deployment(
        ref="main", environment="production", required_contexts=[]
    )
    assert deployment.creator.login == "deploy-guard[bot]"
    assert deployment.production_environment is True
    deployment.create_status("in_progress", description="verifying")
    done = deployment.create_status(
        "success",
        target_url="https://guard.example/runs/1",
        environment_url="https://shop.example",
    )
    assert done.target_url == "https://guard.example/runs/1"
    assert done.environment_url == "https://shop.example"
    statuses = list(deployment.get_statuses())
    assert [s.state for s in statuses] == ["success", "in_progress"]
    assert statuses[0].url.startswith(f"{world.base_url}/repos/{world.repo}/deployments/")


def test_log_url_sets_target_url(world: SandboxWorld, owner_http: requests.Session) -> None:
    url = f"{world.base_url}/repos/{world.repo}/deployments"
    deployment = owner_http.post(url, json={"ref": "main", "required_contexts": []}).json()
    status = owner_http.post(
        f"{url}/{deployment['id']}/statuses",
        json={"state": "failure", "log_url": "https://guard.example/runs/7"},
    )
    assert status.status_code == 201
    assert status.headers["Location"] == status.json()["url"]
    assert status.json()["target_url"] == "https://guard.example/runs/7"
    assert status.json()["log_url"] == "https://guard.example/runs/7"


def test_description_longer_than_140_characters_is_refused(
    world: SandboxWorld, owner_http: requests.Session
) -> None:
    url = f"{world.base_url}/repos/{world.repo}/deployments"
    deployment = owner_http.post(url, json={"ref": "main", "required_contexts": []}).json()
    statuses = f"{url}/{deployment['id']}/statuses"
    assert owner_http.post(statuses, json={"state": "error", "description": "x" * 140}).ok
    refused = owner_http.post(statuses, json={"state": "error", "description": "x" * 141})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "description"
    assert "too long" in refused.json()["errors"][0]["message"]


def test_auto_inactive_marks_earlier_live_deployments_of_the_environment(
    world: SandboxWorld, app_github: Github
) -> None:
    repo = app_github.get_repo(world.repo)

    def deploy(environment: str, *, transient: bool = False) -> int:
        deployment = repo.create_deployment(
            ref="main",
            environment=environment,
            required_contexts=[],
            transient_environment=transient,
        )
        deployment.create_status("success")
        return deployment.id

    def newest_state(deployment_id: int) -> str:
        return str(repo.get_deployment(deployment_id).get_statuses()[0].state)

    old_staging = deploy("staging")
    other_env = deploy("review")
    transient = deploy("staging", transient=True)
    old_production = deploy("production")
    deploy("staging")
    deploy("production")
    assert newest_state(old_staging) == "inactive"
    assert newest_state(other_env) == "success"
    assert newest_state(transient) == "success"
    # Production deployments are left alone by auto_inactive, as GitHub documents.
    assert newest_state(old_production) == "success"
    statuses = list(repo.get_deployment(old_staging).get_statuses())
    assert [s.state for s in statuses] == ["inactive", "success"]


def test_auto_inactive_false_and_failures_leave_earlier_deployments_live(
    world: SandboxWorld, owner_http: requests.Session
) -> None:
    url = f"{world.base_url}/repos/{world.repo}/deployments"
    ids = [
        owner_http.post(
            url, json={"ref": "main", "environment": "qa", "required_contexts": []}
        ).json()["id"]
        for _ in range(3)
    ]
    owner_http.post(f"{url}/{ids[0]}/statuses", json={"state": "success"})
    owner_http.post(f"{url}/{ids[1]}/statuses", json={"state": "failure"})
    owner_http.post(f"{url}/{ids[2]}/statuses", json={"state": "success", "auto_inactive": False})
    first = owner_http.get(f"{url}/{ids[0]}/statuses").json()
    assert [s["state"] for s in first] == ["success"]


def test_required_contexts_and_unknown_refs(
    world: SandboxWorld, owner_http: requests.Session
) -> None:
    sha = world.sandbox.branch_sha(world.repo)
    owner_http.post(
        f"{world.base_url}/repos/{world.repo}/statuses/{sha}",
        json={"state": "failure", "context": "ci/tests"},
    )
    url = f"{world.base_url}/repos/{world.repo}/deployments"
    blocked = owner_http.post(url, json={"ref": "main"})
    assert blocked.status_code == 409
    assert blocked.json()["errors"][0]["contexts"] == [{"context": "ci/tests", "state": "failure"}]
    assert owner_http.post(url, json={"ref": "main", "required_contexts": []}).status_code == 201
    missing = owner_http.post(url, json={"ref": "main", "required_contexts": ["deploy/smoke"]})
    assert missing.status_code == 409
    unknown = owner_http.post(url, json={"ref": "no-such-branch"})
    assert unknown.status_code == 422
    assert unknown.json()["message"] == "No ref found for: no-such-branch"


def test_rollback_deployment_of_an_old_sha_with_payload(
    world: SandboxWorld, owner_http: requests.Session
) -> None:
    old = world.sandbox.branch_sha(world.repo)
    world.sandbox.commit(world.repo, {"app/version.txt": "2\n"}, "Release 2")
    url = f"{world.base_url}/repos/{world.repo}/deployments"
    answer = owner_http.post(
        url,
        json={
            "ref": old,
            "auto_merge": False,
            "required_contexts": [],
            "payload": '{"rollback_of": 3}',
        },
    )
    assert answer.status_code == 201
    assert answer.json()["sha"] == old
    assert answer.json()["ref"] == old
    assert answer.json()["payload"] == {"rollback_of": 3}
    assert owner_http.get(url, params={"sha": old}).json()[0]["id"] == answer.json()["id"]


def test_auto_merge_merges_the_default_branch_into_a_stale_branch(
    world: SandboxWorld, owner_http: requests.Session
) -> None:
    sandbox = world.sandbox
    sandbox.commit(world.repo, {"feature.txt": "f\n"}, "Feature", branch="topic")
    main_head = sandbox.commit(world.repo, {"app/version.txt": "2\n"}, "Release 2")
    url = f"{world.base_url}/repos/{world.repo}/deployments"
    merged = owner_http.post(url, json={"ref": "topic", "required_contexts": []})
    assert merged.status_code == 202
    assert merged.json() == {"message": "Auto-merged main into topic on deployment."}
    topic_head = sandbox.branch_sha(world.repo, "topic")
    git_dir = sandbox.git_dir(world.repo)
    assert sandbox.runtime.git(world.repo).is_ancestor(main_head, str(topic_head))
    assert git_dir.is_dir()
    deployed = owner_http.post(url, json={"ref": "topic", "required_contexts": []})
    assert deployed.status_code == 201
    assert deployed.json()["sha"] == topic_head


def test_environments_appear_when_first_deployed_to(
    world: SandboxWorld, app_github: Github
) -> None:
    repo = app_github.get_repo(world.repo)
    with pytest.raises(GithubException) as missing:
        repo.get_environment("canary")
    assert missing.value.status == 404
    repo.create_deployment(ref="main", environment="canary", required_contexts=[])
    environment = repo.get_environment("canary")
    assert environment.name == "canary"
    assert environment.url == f"{world.base_url}/repos/{world.repo}/environments/canary"


def test_concurrent_clients_get_distinct_increasing_ids(world: SandboxWorld) -> None:
    url = f"{world.base_url}/repos/{world.repo}/deployments"
    headers = {"Authorization": f"token {world.owner_token}"}

    def create_five(_: int) -> list[int]:
        with requests.Session() as http:
            return [
                http.post(
                    url, headers=headers, json={"ref": "main", "required_contexts": []}
                ).json()["id"]
                for _ in range(5)
            ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        per_client = list(pool.map(create_five, range(8)))
    every_id = sorted(i for ids in per_client for i in ids)
    assert every_id == list(range(1, 41))
    assert all(ids == sorted(ids) for ids in per_client)
