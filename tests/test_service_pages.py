"""The run pages and their JSON twins, read from rows a verification leaves behind."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from guard.outcomes import Phase, ProbeResult, ProbeStatus, Severity, VerdictKind
from guard.service.app import close_app, create_app
from guard.service.probe_chart import probe_chart_svg
from guard.service.state import service_state
from guard.store.models import (
    Deployment,
    Incident,
    ProbeResultRow,
    Remedy,
    RemedyState,
    Verification,
    VerificationState,
)
from guard.store.timeline import add_timeline_event
from tests.service_support import RecordingQueue, service_settings, sqlite_url

WHEN = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    application = create_app(service_settings(sqlite_url(tmp_path)), queue=RecordingQueue())
    yield application
    close_app(application)


def result(round_number: int, status: ProbeStatus, latency: float) -> ProbeResult:
    return ProbeResult(
        "health",
        Phase.WATCH,
        status,
        at=1000.0 + round_number,
        round=round_number,
        latency_s=latency,
        summary="HTTP 503 in 30 ms" if status is ProbeStatus.FAIL else "HTTP 200 in 20 ms",
        detail="GET https://shop.example/health answered HTTP 503; expected 200.",
    )


def seed_failed_run(app: Flask) -> int:
    with app.app_context(), service_state().sessions.begin() as session:
        deployment = Deployment(
            github_id=4242,
            repository="octo-org/shop",
            environment="production",
            sha="abc1234def5678",
            ref="v1.4.0",
            created_at=WHEN,
        )
        session.add(deployment)
        session.flush()
        verification = Verification(
            deployment_id=deployment.id,
            environment="production",
            state=VerificationState.FINISHED,
            rounds_done=3,
            rounds_planned=40,
            verdict=VerdictKind.FAIL,
            severity=Severity.P1,
            reasons=[{"message": "health failed 2 rounds in a row (rounds 2-3 of 40)."}],
            decision={"explanation": "Severity P1 meets min_severity P1: roll back."},
            created_at=WHEN,
        )
        session.add(verification)
        session.flush()
        for number, status in ((1, ProbeStatus.PASS), (2, ProbeStatus.FAIL), (3, ProbeStatus.FAIL)):
            session.add(ProbeResultRow.from_result(verification.id, result(number, status, 0.02)))
        add_timeline_event(
            session, "verdict", "The verdict is FAIL (P1).", deployment_id=deployment.id, at=WHEN
        )
        session.add(
            Remedy(
                deployment_id=deployment.id,
                strategy="redeploy",
                state=RemedyState.DONE,
                target_ref="v1.3.2",
                html_url="https://github.example/octo-org/shop/deployments",
            )
        )
        session.add(
            Incident(
                deployment_id=deployment.id,
                repository="octo-org/shop",
                environment="production",
                code="INC-20261122-001",
                severity=Severity.P1,
                issue_number=7,
                issue_url="https://github.example/octo-org/shop/issues/7",
            )
        )
        return verification.id


def test_the_index_lists_runs_newest_first(app: Flask) -> None:
    run_id = seed_failed_run(app)
    client: FlaskClient = app.test_client()
    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'href="/runs/{run_id}"' in html
    assert "octo-org/shop" in html
    assert "fail" in html
    listed = client.get("/api/v1/runs?repository=octo-org/shop").get_json()
    assert [run["id"] for run in listed["runs"]] == [run_id]
    assert client.get("/api/v1/runs?repository=someone/else").get_json() == {"runs": []}


def test_a_run_page_tells_the_whole_story(app: Flask) -> None:
    run_id = seed_failed_run(app)
    html = app.test_client().get(f"/runs/{run_id}").get_data(as_text=True)
    assert 'Verdict: <span class="fail">FAIL</span> (P1)' in html
    assert "health failed 2 rounds in a row" in html
    assert "redeploy: done" in html
    assert "v1.3.2" in html
    assert 'href="https://github.example/octo-org/shop/issues/7"' in html
    assert "<svg" in html
    assert 'fill="#cf222e"' in html
    assert "The verdict is FAIL (P1)." in html


def test_the_run_json_carries_checks_timeline_remedy_and_incident(app: Flask) -> None:
    run_id = seed_failed_run(app)
    document = app.test_client().get(f"/api/v1/runs/{run_id}").get_json()
    assert document["verdict"] == "fail"
    assert document["checks"][0]["failures"] == 2
    assert document["remedy"]["target_ref"] == "v1.3.2"
    assert document["incident"]["code"] == "INC-20261122-001"
    assert document["timeline"][0]["kind"] == "verdict"


def test_unknown_runs_are_404_and_bad_limits_400(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/runs/999").status_code == 404
    assert client.get("/runs/99999999999999999999999").status_code == 404
    assert client.get("/api/v1/runs/99999999999999999999999").status_code == 404
    missing = client.get("/api/v1/runs/999")
    assert missing.status_code == 404
    bad = client.get("/api/v1/runs?limit=abc")
    assert bad.status_code == 400
    assert "limit must be a whole number" in bad.get_data(as_text=True)


def test_an_empty_service_says_how_runs_arrive(app: Flask) -> None:
    html = app.test_client().get("/").get_data(as_text=True)
    assert "No verification yet" in html


def test_the_chart_marks_failures_and_escapes_labels() -> None:
    assert probe_chart_svg([]) == ""
    hostile = ProbeResult(
        "<script>", Phase.WATCH, ProbeStatus.FAIL, at=1.0, round=1, latency_s=0.5, summary="x"
    )
    svg = probe_chart_svg([result(1, ProbeStatus.PASS, 0.1), hostile])
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    assert svg.count("<circle") == 2
