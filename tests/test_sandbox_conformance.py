"""The conformance checker can fail, and the sandbox's answers keep GitHub's shapes and URLs."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
import requests

from guard.sandbox.conformance import ConformanceChecker

if TYPE_CHECKING:
    from guard.sandbox import Sandbox
    from tests.sandbox_fixtures import SandboxWorld


JSON = "application/json"


@pytest.fixture(scope="module")
def checker() -> ConformanceChecker:
    return ConformanceChecker()


@pytest.fixture
def deployment(world: SandboxWorld, owner_http: requests.Session) -> dict[str, Any]:
    answer = owner_http.post(
        f"{world.base_url}/repos/{world.repo}/deployments",
        json={"ref": "main", "required_contexts": []},
    )
    assert answer.status_code == 201
    body = answer.json()
    assert isinstance(body, dict)
    return body


def _check(checker: ConformanceChecker, body: Any, status: int = 201) -> list[str]:
    return checker.check_response(
        "POST",
        "/repos/o/r/deployments",
        status,
        headers={},
        body=json.dumps(body).encode(),
        content_type=JSON,
    )


def test_a_real_answer_conforms(checker: ConformanceChecker, deployment: dict[str, Any]) -> None:
    assert _check(checker, deployment) == []


def test_missing_required_field_is_caught(
    checker: ConformanceChecker, deployment: dict[str, Any]
) -> None:
    broken = {key: value for key, value in deployment.items() if key != "node_id"}
    problems = _check(checker, broken)
    assert len(problems) == 1
    assert "'node_id' is a required property" in problems[0]


def test_wrong_types_and_nested_errors_are_caught(
    checker: ConformanceChecker, deployment: dict[str, Any]
) -> None:
    wrong_id = _check(checker, {**deployment, "id": "seven"})
    assert "id: 'seven' is not of type 'integer'" in wrong_id[0]
    creator = {**deployment["creator"], "site_admin": "no"}
    nested = _check(checker, {**deployment, "creator": creator})
    assert nested
    assert "creator" in nested[0]


def _plain(
    checker: ConformanceChecker, method: str, path: str, status: int, body: bytes
) -> list[str]:
    return checker.check_response(method, path, status, headers={}, body=body, content_type=JSON)


def test_statuses_paths_and_error_shapes(checker: ConformanceChecker) -> None:
    assert _plain(checker, "POST", "/repos/o/r/deployments", 200, b"{}") == [
        "status 200 is not declared for POST /repos/{owner}/{repo}/deployments"
    ]
    assert _plain(checker, "GET", "/repos/o/r/releases", 200, b"[]") == [
        "GET /repos/o/r/releases is not in GitHub's description"
    ]
    # The sandbox answers 404 for paths GitHub's description lacks: the request is at fault.
    assert _plain(checker, "GET", "/repos/o/r/releases", 404, b"{}") == []
    undocumented = checker.check_request(
        "GET", "/repos/o/r/releases", query=[], body=b"", content_type=""
    )
    assert undocumented == ["GET /repos/o/r/releases is not in GitHub's description"]
    error = json.dumps({"message": "Bad credentials", "documentation_url": "x"}).encode()
    assert _plain(checker, "GET", "/repos/o/r", 401, error) == []
    assert _plain(checker, "GET", "/repos/o/r", 401, b"oops") == ["error answer is not JSON"]
    assert _plain(checker, "GET", "/_sandbox/state", 200, b"[]") == []


def test_declared_headers_are_checked(checker: ConformanceChecker) -> None:
    body = json.dumps({"resources": {"core": _rate(), "search": _rate()}, "rate": _rate()}).encode()
    good = {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "4999", "X-RateLimit-Reset": "1"}
    assert (
        checker.check_response(
            "GET", "/rate_limit", 200, headers=good, body=body, content_type=JSON
        )
        == []
    )
    bad = {**good, "X-RateLimit-Remaining": "lots"}
    problems = checker.check_response(
        "GET", "/rate_limit", 200, headers=bad, body=body, content_type=JSON
    )
    assert len(problems) == 1


def _rate() -> dict[str, int]:
    return {"limit": 5000, "remaining": 4999, "reset": 1, "used": 1}


def test_requests_are_checked_too(checker: ConformanceChecker) -> None:
    def check(body: Any) -> list[str]:
        return checker.check_request(
            "POST",
            "/repos/o/r/deployments/7/statuses",
            query=[],
            body=json.dumps(body).encode(),
            content_type=JSON,
        )

    assert check({"state": "success", "log_url": "https://ci.example/1"}) == []
    assert check({"state": "succeeded"})
    assert check({"description": "no state"})


def test_slashed_parameters_find_their_operations(checker: ConformanceChecker) -> None:
    assert checker.operation("GET", "/repos/o/r/git/ref/heads/feature/x") == (
        "/repos/{owner}/{repo}/git/ref/{ref}",
        {"owner": "o", "repo": "r", "ref": "heads/feature/x"},
    )
    found = checker.operation("GET", "/repos/o/r/branches/release/v1/protection")
    assert found is not None
    assert found[0] == "/repos/{owner}/{repo}/branches/{branch}/protection"


def test_strict_sandbox_records_a_broken_answer(world: SandboxWorld) -> None:
    sandbox: Sandbox = world.sandbox
    sandbox.add_fault("drop_field", f"/repos/{world.repo}", field_name="full_name")
    answer = requests.get(f"{world.base_url}/repos/{world.repo}", timeout=10)
    assert answer.status_code == 200
    assert "full_name" not in answer.json()
    violations = sandbox.violations()
    assert [(v.kind, v.method, v.path, v.status) for v in violations] == [
        ("response", "GET", f"/repos/{world.repo}", 200)
    ]
    assert "'full_name' is a required property" in violations[0].message
    listed = requests.get(f"{world.base_url}/_sandbox/violations", timeout=10).json()
    assert listed["strict"] is True
    assert listed["violations"][0]["message"] == violations[0].message
    sandbox.clear_violations()


def _urls(value: Any, key: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in _urls(v, k)]
    if isinstance(value, list):
        return [pair for item in value for pair in _urls(item, key)]
    if isinstance(value, str) and (key.endswith("url") or key in {"href", "self", "html", "git"}):
        return [(key, value)]
    return []


def test_every_url_points_back_at_the_sandbox(
    world: SandboxWorld, owner_http: requests.Session, deployment: dict[str, Any]
) -> None:
    sha = world.sandbox.commit(world.repo, {"app/version.txt": "2\n"}, "Release 2")
    base = world.base_url
    api = f"{base}/repos/{world.repo}"
    owner_http.post(f"{api}/issues", json={"title": "t", "labels": ["x"]})
    owner_http.post(f"{api}/deployments/{deployment['id']}/statuses", json={"state": "success"})
    answers = [
        owner_http.get(api),
        owner_http.get(f"{api}/branches/main"),
        owner_http.get(f"{api}/commits/{sha}"),
        owner_http.get(f"{api}/compare/{sha}~1...{sha}"),
        owner_http.get(f"{api}/contents/app/version.txt"),
        owner_http.get(f"{api}/git/ref/heads/main"),
        owner_http.get(f"{api}/git/commits/{sha}"),
        owner_http.get(f"{api}/issues"),
        owner_http.get(f"{api}/deployments/{deployment['id']}/statuses"),
    ]
    found = [pair for answer in answers for pair in _urls(answer.json())]
    assert len(found) > 150
    foreign = [(k, v) for k, v in found if not v.startswith(base) and "://" in v]
    # git_url is git://host:port/..., the only scheme that is not the caller's own.
    assert {k for k, v in foreign} <= {"git_url"}
    assert all(v.startswith(f"git://{base.split('://')[1]}/") for _, v in foreign)
