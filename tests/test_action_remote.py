"""Remote mode: the job's OIDC token from a local token endpoint, the guard's real API (the
service's Flask app with its API blueprint, served over HTTP), followed to the verdict."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from guard.demo.example_service import QuietRequestHandler
from guard.outcomes import Phase, ProbeStatus, Severity, VerdictKind
from guard.policy.models import Rollback
from guard.remedies import FailedDeployment, RemedyContext, RemedyRequest, execute_remedy
from guard.store import Deployment, Incident, ProbeResultRow, Verification, VerificationState
from tests.action_world import Clock, Runner
from tests.api_world import ApiWorld, api_world
from tests.gate_world import PUBLIC_URL, REPO
from tests.oidc_issuer import AUDIENCE

REQUEST_TOKEN = "runtime-request-token-123"
ISSUE_URL = "https://github.com/octo-org/shop/issues/12"
REASON = {
    "subject": "home page",
    "observed": "HTTP 500 in 9 ms",
    "condition": "every expectation of the check holds",
    "window": "smoke",
    "samples": 1,
    "message": "Smoke check home page failed: GET / answered HTTP 500; expected 200.",
    "severity": "P1",
    "kind": "reason",
}


@dataclass
class TokenEndpoint:
    """The runner's OIDC token endpoint: mints the issuer's tokens for the asked audience."""

    world: ApiWorld
    url: str = ""
    audiences: list[str] = field(default_factory=list)
    minted: list[str] = field(default_factory=list)


def _token_handler(endpoint: TokenEndpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.headers.get("Authorization") != f"bearer {REQUEST_TOKEN}":
                self.send_error(401)
                return
            audience = parse_qs(urlsplit(self.path).query)["audience"][0]
            token = endpoint.world.token(aud=audience)
            endpoint.audiences.append(audience)
            endpoint.minted.append(token)
            data = json.dumps({"count": 1, "value": token}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@dataclass
class Remote:
    """The guard served over HTTP, the token endpoint, and the runner's files."""

    world: ApiWorld
    guard_url: str
    tokens: TokenEndpoint
    runner: Runner
    deployment_id: int
    clock: Clock
    stop_guard: Callable[[], None] | None = None

    def environ(self, **inputs: str) -> dict[str, str]:
        values = {
            "environment": "production",
            "guard_url": self.guard_url,
            "guard_audience": AUDIENCE,
            "deployment_id": str(self.deployment_id),
            "ACTIONS_ID_TOKEN_REQUEST_URL": f"{self.tokens.url}/token?api-version=2.0",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": REQUEST_TOKEN,
        }
        values.update(inputs)
        return self.runner.environ(**values)

    def run(self, environ: dict[str, str], on_sleep: Callable[[], None] | None = None) -> Any:
        clock = self.clock
        original = clock.sleep

        def sleep(seconds: float) -> None:
            if on_sleep is not None:
                on_sleep()
            original(seconds)

        clock.sleep = sleep  # type: ignore[method-assign]
        try:
            return self.runner.run(environ, clock, poll_interval_s=10.0, poll_timeout_s=60.0)
        finally:
            clock.sleep = original  # type: ignore[method-assign]

    def finish_as_the_worker_would(self) -> None:
        """What the guard's worker writes when the deployment fails: verdict, probes, incident."""
        now = datetime.fromtimestamp(self.world.clock(), UTC)
        with self.world.gate.session() as session:
            row = session.query(Verification).one()
            row.state = VerificationState.FINISHED
            row.verdict = VerdictKind.FAIL
            row.severity = Severity.P1
            row.reasons = [REASON]
            row.finished_at = now
            session.add(
                ProbeResultRow(
                    verification_id=row.id,
                    name="home page",
                    phase=Phase.SMOKE,
                    round=0,
                    status=ProbeStatus.FAIL,
                    at=0.0,
                    latency_s=0.009,
                    summary="HTTP 500 in 9 ms",
                    status_code=500,
                )
            )
            deployment = session.get_one(Deployment, row.deployment_id)
            session.add(
                Incident(
                    deployment_id=deployment.id,
                    repository=REPO,
                    environment="production",
                    code="INC-20261127-001",
                    severity=Severity.P1,
                    issue_number=12,
                    issue_url=ISSUE_URL,
                    opened_at=now,
                )
            )


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Remote]:
    with api_world(tmp_path) as world:
        server = make_server(
            "127.0.0.1", 0, world.app, threaded=True, request_handler=QuietRequestHandler
        )
        guard = threading.Thread(target=server.serve_forever, daemon=True)
        guard.start()
        tokens = TokenEndpoint(world)
        token_server = ThreadingHTTPServer(("127.0.0.1", 0), _token_handler(tokens))
        tokens.url = f"http://127.0.0.1:{token_server.server_address[1]}"
        minting = threading.Thread(target=token_server.serve_forever, daemon=True)
        minting.start()

        def stop() -> None:
            server.shutdown()
            server.server_close()

        try:
            runner = Runner(tmp_path / "runner", REPO, world.gate.sandbox.base_url, world.gate.head)
            yield Remote(
                world,
                f"http://127.0.0.1:{server.server_port}",
                tokens,
                runner,
                world.github_deployment(),
                Clock(1_800_000_000.0),
                stop_guard=stop,
            )
        finally:
            server.shutdown()
            token_server.shutdown()
            guard.join(timeout=5)
            minting.join(timeout=5)
            server.server_close()
            token_server.server_close()


def test_the_guard_verifies_and_the_step_reports_its_verdict(remote: Remote) -> None:
    run = remote.run(remote.environ(), on_sleep=remote.finish_as_the_worker_would)

    assert run.code == 1, run.log
    with remote.world.gate.session() as session:
        verification_id = session.query(Verification).one().id
    assert run.outputs == {
        "verdict": "fail",
        "severity": "P1",
        "incident-url": ISSUE_URL,
        "rollback-ref": "",
        "run-url": f"{PUBLIC_URL}/runs/{verification_id}",
    }
    assert remote.tokens.audiences == [AUDIENCE]
    assert f"::add-mask::{remote.tokens.minted[0]}" in run.log.splitlines()
    assert remote.tokens.minted[0] not in run.summary
    assert remote.world.gate.queue.verifications == [remote.deployment_id]
    assert "| home page | smoke | **FAIL** | 1 | 1 | 9 ms | HTTP 500 in 9 ms |" in run.summary
    assert REASON["message"] in run.summary
    assert f"[The verification on the guard's page]({PUBLIC_URL}/runs/" in run.summary
    assert any("home page failed (smoke" in line for line in run.annotations("error"))
    assert remote.clock.slept == [10.0]


def test_a_token_for_another_audience_is_refused_with_the_guard_s_reason(remote: Remote) -> None:
    run = remote.run(remote.environ(guard_audience="https://somewhere-else.example"))

    assert run.code == 2
    errors = run.annotations("error")
    assert len(errors) == 1
    assert f"The guard at {remote.guard_url} refused the request (401 wrong_audience)" in errors[0]
    assert remote.world.gate.queue.verifications == []
    assert run.outputs["verdict"] == ""


def test_polling_stops_at_its_limit_without_a_verdict(remote: Remote) -> None:
    run = remote.run(remote.environ())

    assert run.code == 3
    assert remote.clock.slept == [10.0] * 6
    assert any("was still queued after 1 min" in line for line in run.annotations("error"))
    assert "no verdict" in run.summary


def test_without_id_token_permission_the_step_shows_the_block(remote: Remote) -> None:
    environ = remote.environ()
    del environ["ACTIONS_ID_TOKEN_REQUEST_URL"]
    del environ["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]

    run = remote.run(environ)

    assert run.code == 2
    assert any(
        line.endswith("permissions: {contents: read, id-token: write}")
        for line in run.annotations("error")
    )
    assert "```yaml\npermissions:\n  contents: read\n  id-token: write\n```" in run.summary


def test_a_guard_that_goes_away_is_asked_again_until_the_limit(remote: Remote) -> None:
    def stop_the_guard() -> None:
        if remote.stop_guard is not None:
            remote.stop_guard()

    run = remote.run(remote.environ(), on_sleep=stop_the_guard)

    assert run.code == 3
    assert remote.clock.slept == [10.0] * 6
    retries = [line for line in run.log.splitlines() if line.endswith("Asking again.")]
    assert len(retries) == 6
    assert f"The guard at {remote.guard_url} could not be reached: ConnectionError" in retries[0]
    assert any("was still queued after 1 min" in line for line in run.annotations("error"))


def _roll_back_as_the_worker_would(remote: Remote, good_sha: str) -> None:
    """The worker's side of a failed verification: the verdict, then the real remedy through
    the sandbox (one redeploy of the last verified-good commit), then the incident."""
    world = remote.world.gate
    with world.session() as session:
        row = session.scalars(sa.select(Verification).where(Verification.verdict.is_(None))).one()
        deployment = session.get_one(Deployment, row.deployment_id)
        failed = FailedDeployment.from_row(deployment)
        verification_id = row.id
    github = world.client(world.installation_id)
    try:
        outcome = execute_remedy(
            RemedyContext(github=github, sessions=world.sessions),
            RemedyRequest(
                repo=REPO,
                failed=failed,
                rollback=Rollback(),
                reasons=(str(REASON["message"]),),
                run_url=f"{PUBLIC_URL}/runs/{verification_id}",
            ),
        )
    finally:
        github.close()
    assert outcome.target is not None
    assert outcome.target.sha == good_sha
    now = datetime.fromtimestamp(remote.world.clock(), UTC)
    with world.session() as session:
        row = session.get_one(Verification, verification_id)
        row.state = VerificationState.FINISHED
        row.verdict = VerdictKind.FAIL
        row.severity = Severity.P1
        row.reasons = [REASON]
        row.finished_at = now
        session.add(
            Incident(
                deployment_id=row.deployment_id,
                repository=REPO,
                environment="production",
                code="INC-20261127-001",
                severity=Severity.P1,
                issue_number=12,
                issue_url=ISSUE_URL,
                opened_at=now,
            )
        )


def test_the_guard_s_rollback_fills_rollback_ref_and_the_summary(remote: Remote) -> None:
    gate = remote.world.gate
    good_sha = gate.head
    # The last verified-good deployment, then a bad commit deployed by the pipeline.
    good = remote.world.github_deployment(sha=good_sha)
    gate.finished_verification(gate.record_deployment(good, sha=good_sha), VerdictKind.PASS)
    bad_sha = gate.sandbox.commit(REPO, {"app/version.txt": "2\n"}, "Break the shop")
    bad = remote.world.github_deployment(sha=bad_sha)
    environ = remote.environ(deployment_id=str(bad))
    environ["GITHUB_SHA"] = bad_sha

    run = remote.run(environ, on_sleep=lambda: _roll_back_as_the_worker_would(remote, good_sha))

    assert run.code == 1, run.log
    rollback = gate.sandbox.snapshot()["deployments"][-1]
    assert (rollback["sha"], rollback["environment"]) == (good_sha, "production")
    assert run.outputs["verdict"] == "fail"
    assert run.outputs["rollback-ref"] == "main"
    assert run.outputs["incident-url"] == ISSUE_URL
    deployments_page = f"{gate.sandbox.base_url}/{REPO}/deployments/production"
    assert (
        f"The guard service rolled production back to `main` (redeploy). "
        f"([the rollback]({deployments_page}))"
    ) in run.summary
    assert f"The incident: {ISSUE_URL}" in run.summary
