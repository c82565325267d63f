"""`/api/v1/verifications` with real OIDC tokens and the GitHub sandbox: 202, 200, 401, 403, 404."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_spec_validator import validate
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from guard.outcomes import Phase, ProbeStatus, Severity, VerdictKind
from guard.service import api
from guard.service.app import create_app
from guard.store import (
    Deployment,
    Incident,
    ProbeResultRow,
    Remedy,
    RemedyState,
    Verification,
    VerificationState,
)
from tests.api_world import ApiWorld, api_world
from tests.gate_world import REPO, GateWorld
from tests.oidc_issuer import AUDIENCE, new_key, unsigned_token

VERIFICATIONS = "/api/v1/verifications"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ApiWorld]:
    with api_world(tmp_path) as running:
        yield running


def post(world: ApiWorld, body: Any, token: str | None = None) -> tuple[int, Any]:
    response = world.client.post(VERIFICATIONS, json=body, headers=world.headers(token))
    return response.status_code, response.get_json()


def rows(gate: GateWorld) -> list[tuple[int, str, str | None]]:
    return [(d.github_id, d.environment, d.environment_url) for d in gate.deployments()]


def test_a_pipeline_starts_the_verification_of_its_deployment(world: ApiWorld) -> None:
    deployment = world.github_deployment()

    status, body = post(
        world,
        {"environment": "production", "deployment_id": deployment, "url": "https://shop.test"},
    )

    assert status == 202
    assert body["deployment_id"] == deployment
    assert body["state"] == "queued"
    assert body["links"]["run"] == f"https://guard.example.test/runs/{body['id']}"
    assert rows(world.gate) == [(deployment, "production", "https://shop.test")]
    assert world.gate.queue.verifications == [deployment]
    assert world.gate.timeline()[-1][0] == "verification_requested"
    with world.gate.session() as session:
        row = session.get_one(Verification, body["id"])
        assert (row.state, row.attempt) == (VerificationState.QUEUED, 1)


def test_asking_twice_answers_the_same_verification(world: ApiWorld) -> None:
    deployment = world.github_deployment()
    request = {"environment": "production", "deployment_id": deployment}

    first = post(world, request)[1]["id"]
    second = post(world, request)[1]["id"]

    assert first == second
    assert world.gate.queue.verifications == [deployment, deployment]


def test_without_an_id_the_environment_s_deployment_of_the_commit_is_used(
    world: ApiWorld,
) -> None:
    made_by_actions = world.github_deployment()

    status, body = post(world, {"environment": "production"})

    assert (status, body["deployment_id"]) == (202, made_by_actions)
    assert len(world.gate.sandbox.snapshot()["deployments"]) == 1


def test_without_any_deployment_of_the_commit_the_guard_creates_one_once(world: ApiWorld) -> None:
    status, body = post(world, {"environment": "staging"})
    again = post(world, {"environment": "staging"})[1]

    assert status == 202
    [created] = world.gate.sandbox.snapshot()["deployments"]
    assert created["id"] == body["deployment_id"] == again["deployment_id"]
    assert (created["environment"], created["sha"]) == ("staging", world.gate.head)
    assert created["payload"] == {"deploy_guard_api": {"run": "7001/1"}}
    [row] = world.gate.deployments()
    assert (row.is_remedy, row.ref) == (False, "refs/heads/main")


def test_another_repository_s_deployment_is_not_found(world: ApiWorld) -> None:
    world.gate.sandbox.create_repo("octo-org/other", {"README.md": "x\n"})
    theirs = world.github_deployment(
        repo="octo-org/other", sha=world.gate.sandbox.branch_sha("octo-org/other")
    )

    status, body = post(world, {"environment": "production", "deployment_id": theirs})

    assert (status, body["error"]) == (404, "deployment_not_found")
    assert world.gate.deployments() == []
    assert world.gate.queue.verifications == []


def test_a_deployment_recorded_for_another_environment_is_refused(world: ApiWorld) -> None:
    deployment = world.github_deployment("staging")
    world.gate.record_deployment(deployment, environment="staging")

    status, body = post(world, {"environment": "production", "deployment_id": deployment})

    assert (status, body["error"]) == (409, "other_environment")
    assert body["reason"] == f"deployment {deployment} is to staging, not production"


def finished_verification(world: ApiWorld, repository: str = REPO) -> int:
    with world.gate.session() as session:
        deployment = Deployment(
            github_id=4711,
            repository=repository,
            environment="production",
            sha=world.gate.head,
            ref="main",
            created_at=world.gate.now(),
        )
        session.add(deployment)
        session.flush()
        row = Verification(
            deployment_id=deployment.id,
            environment="production",
            state=VerificationState.FINISHED,
            verdict=VerdictKind.FAIL,
            severity=Severity.P1,
            reasons=[{"kind": "reason", "text": "home page answered 503"}],
            created_at=world.gate.now(),
            finished_at=world.gate.now(),
        )
        session.add(row)
        session.flush()
        session.add(
            ProbeResultRow(
                verification_id=row.id,
                name="home page",
                phase=Phase.SMOKE,
                status=ProbeStatus.FAIL,
                at=0.1,
                summary="HTTP 503 in 12 ms",
                status_code=503,
                latency_s=0.012,
            )
        )
        return row.id


def test_a_pipeline_reads_its_verification(world: ApiWorld) -> None:
    verification = finished_verification(world)

    response = world.client.get(f"{VERIFICATIONS}/{verification}", headers=world.headers())

    assert response.status_code == 200
    body = response.get_json()
    assert (body["state"], body["verdict"], body["severity"]) == ("finished", "fail", "P1")
    assert body["reasons"] == [{"kind": "reason", "text": "home page answered 503"}]
    assert body["checks"] == [
        {
            "name": "home page",
            "phase": "smoke",
            "round": 0,
            "status": "fail",
            "summary": "HTTP 503 in 12 ms",
            "latency_s": 0.012,
            "status_code": 503,
        }
    ]
    assert body["deployment"]["id"] == 4711
    assert body["links"] == {
        "self": f"http://localhost{VERIFICATIONS}/{verification}",
        "run": f"https://guard.example.test/runs/{verification}",
        "incident": None,
        "remedy": None,
    }


def test_another_repository_s_verification_looks_exactly_like_a_missing_one(
    world: ApiWorld,
) -> None:
    theirs = finished_verification(world, repository="octo-org/other")

    other = world.client.get(f"{VERIFICATIONS}/{theirs}", headers=world.headers())
    missing = world.client.get(f"{VERIFICATIONS}/{theirs + 1}", headers=world.headers())

    assert other.status_code == missing.status_code == 404
    assert other.get_json() == {
        "status": "not_found",
        "error": "not_found",
        "reason": f"no verification {theirs} of {REPO}",
    }
    assert missing.get_json()["reason"] == f"no verification {theirs + 1} of {REPO}"


@pytest.mark.parametrize("path", ["abc", "0", "-1", "99999999999999999999999"])
def test_ids_that_name_nothing_are_not_found(world: ApiWorld, path: str) -> None:
    response = world.client.get(f"{VERIFICATIONS}/{path}", headers=world.headers())

    assert (response.status_code, response.get_json()["error"]) == (404, "not_found")


def test_no_token_is_401_with_a_challenge(world: ApiWorld) -> None:
    response = world.client.post(VERIFICATIONS, json={"environment": "production"})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="deploy-guard"'
    assert response.get_json()["error"] == "missing_token"


@pytest.mark.parametrize(
    ("claims", "error"),
    [
        ({"exp": 1_700_000_000, "iat": 1_699_999_000, "nbf": 1_699_999_000}, "expired"),
        ({"aud": "https://github.com/octo-org"}, "wrong_audience"),
        ({"iss": "https://token.actions.githubusercontent.com"}, "wrong_issuer"),
    ],
)
def test_bad_tokens_are_401_with_the_reason(
    world: ApiWorld, claims: dict[str, Any], error: str
) -> None:
    status, body = post(world, {"environment": "production"}, world.token(**claims))

    assert (status, body["status"], body["error"]) == (401, "unauthorized", error)
    assert body["reason"]


def test_an_unknown_key_and_a_wrong_algorithm_are_401(world: ApiWorld) -> None:
    stranger = world.issuer.token(new_key("stranger"), repository_id=str(world.repository_id))
    unsigned = unsigned_token(world.issuer.claims(), "key-1")

    assert post(world, {"environment": "production"}, stranger)[1]["error"] == "unknown_key"
    response = world.client.get(f"{VERIFICATIONS}/1", headers=world.headers(unsigned))
    assert response.status_code == 401
    assert response.get_json()["error"] == "wrong_algorithm"
    assert response.headers["WWW-Authenticate"].endswith('error="invalid_token"')


def test_a_good_token_from_an_owner_not_served_is_403(world: ApiWorld) -> None:
    token = world.token(repository="evil-corp/shop", repository_owner="evil-corp")

    status, body = post(world, {"environment": "production"}, token)

    assert (status, body["status"], body["error"]) == (403, "forbidden", "owner_not_allowed")


def test_a_token_whose_repository_id_is_not_the_repository_s_is_403(world: ApiWorld) -> None:
    token = world.token(repository_id=str(world.repository_id + 1000))

    status, body = post(world, {"environment": "production"}, token)

    assert (status, body["error"]) == (403, "repository_mismatch")
    assert world.gate.sandbox.snapshot()["deployments"] == []


def test_bodies_are_checked_strictly(world: ApiWorld) -> None:
    cases: list[Any] = [
        {},
        {"environment": ""},
        {"environment": "production", "deployment_id": "12"},
        {"environment": "production", "deployment_id": 0},
        {"environment": "production", "url": "ftp://x"},
        {"environment": "production", "sha": "main"},
        {"environment": "production", "extra": 1},
    ]
    for body in cases:
        status, answer = post(world, body)
        assert (status, answer["error"]) == (400, "invalid_body"), body
    response = world.client.post(
        VERIFICATIONS, data="environment=production", headers=world.headers()
    )
    assert response.status_code == 415


def test_without_an_audience_the_api_is_off(world: ApiWorld) -> None:
    settings = world.gate.settings.model_copy(update={"oidc_audience": None})
    app = create_app(settings, queue=world.gate.queue)
    if "api" not in app.blueprints:
        app.register_blueprint(api.blueprint)

    response = app.test_client().get(f"{VERIFICATIONS}/1", headers=world.headers())

    assert response.status_code == 503
    assert "GUARD_OIDC_AUDIENCE" in response.get_json()["reason"]


def test_the_openapi_document_is_valid_and_names_the_routes(world: ApiWorld) -> None:
    response = world.client.get("/api/openapi.json")

    document = response.get_json()
    validate(document)
    assert set(document["paths"]) == {
        "/api/v1/verifications",
        "/api/v1/verifications/{verification_id}",
        "/api/v1/runs",
        "/api/v1/runs/{run_id}",
        "/api/openapi.json",
    }
    assert AUDIENCE not in response.get_data(as_text=True)


def test_the_repository_id_is_asked_of_github_once_then_cached(world: ApiWorld) -> None:
    for _ in range(3):
        world.client.get(f"{VERIFICATIONS}/1", headers=world.headers())

    assert len(world.gate.sandbox.calls.matching("GET", f"/repos/{REPO}")) == 1


def test_the_remedy_and_the_incident_are_reported_as_the_document_says(world: ApiWorld) -> None:
    verification = finished_verification(world)
    with world.gate.session() as session:
        failed = session.get_one(Verification, verification).deployment_id
        session.add(
            Remedy(
                deployment_id=failed,
                strategy="redeploy",
                state=RemedyState.DONE,
                target_ref="main",
                target_sha="a" * 40,
                created_deployment_id=4712,
            )
        )
        session.add(
            Incident(
                deployment_id=failed,
                repository=REPO,
                environment="production",
                code="INC-20261127-001",
                severity=Severity.P1,
                issue_number=12,
                issue_url=f"https://github.com/{REPO}/issues/12",
            )
        )

    response = world.client.get(f"{VERIFICATIONS}/{verification}", headers=world.headers())

    body = response.get_json()
    deployments = f"{world.gate.sandbox.base_url}/{REPO}/deployments/production"
    assert body["remedy"] == {
        "strategy": "redeploy",
        "state": "done",
        "dry_run": False,
        "target_ref": "main",
        "target_sha": "a" * 40,
        "rollback_ref": "main",
        "url": deployments,
    }
    assert body["incident"] == {
        "code": "INC-20261127-001",
        "state": "open",
        "severity": "P1",
        "issue_number": 12,
        "url": f"https://github.com/{REPO}/issues/12",
    }
    assert body["links"]["remedy"] == deployments
    assert body["links"]["incident"] == f"https://github.com/{REPO}/issues/12"
    document = OpenAPI.from_dict(world.client.get("/api/openapi.json").get_json())
    request = WerkzeugOpenAPIRequest(
        Request(
            EnvironBuilder(
                f"{VERIFICATIONS}/{verification}", headers=list(world.headers().items())
            ).get_environ()
        )
    )
    document.validate_response(request, WerkzeugOpenAPIResponse(response))


@pytest.mark.parametrize(
    ("state", "dry_run"),
    [(RemedyState.RUNNING, False), (RemedyState.FAILED, False), (RemedyState.SKIPPED, True)],
)
def test_a_rollback_that_is_not_done_names_no_rollback_ref(
    world: ApiWorld, state: RemedyState, dry_run: bool
) -> None:
    verification = finished_verification(world)
    with world.gate.session() as session:
        failed = session.get_one(Verification, verification).deployment_id
        session.add(
            Remedy(
                deployment_id=failed,
                strategy="revert_pr",
                state=state,
                dry_run=dry_run,
                target_ref="v1.4.2",
                html_url=f"https://github.com/{REPO}/pull/9",
            )
        )

    body = world.client.get(f"{VERIFICATIONS}/{verification}", headers=world.headers()).get_json()

    assert body["remedy"]["state"] == state.value
    assert body["remedy"]["rollback_ref"] is None
    assert body["remedy"]["url"] == f"https://github.com/{REPO}/pull/9"
    assert body["incident"] is None
