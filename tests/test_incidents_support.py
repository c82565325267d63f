"""Builders shared by the incident tests: real verdicts from the engine, fixed times; no tests."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from guard.incidents.context import (
    DeploymentInfo,
    GoodDeployment,
    IncidentContext,
    Links,
    RemedyReport,
    SuspectCommit,
    TimelineEntry,
)
from guard.outcomes import Phase, ProbeResult, ProbeStatus, Verdict
from guard.policy.loader import load_policy
from guard.report.checks import check_rows
from guard.severity import Decision, decide
from guard.verification import Verification, VerificationPlan

GOLDEN = Path(__file__).parent / "golden" / "incidents"
FIXTURES = Path(__file__).parent / "fixtures" / "incidents"
UPDATE_GOLDEN = os.environ.get("GUARD_UPDATE_GOLDEN") == "1"
MISSING_GOLDEN = (
    "{golden} does not exist: write it with  GUARD_UPDATE_GOLDEN=1 .venv/bin/pytest {test}  "
    "and review it"
)

REPO = "acme/shop"
WEB = "https://github.com"
REPO_URL = f"{WEB}/{REPO}"
BAD_SHA = "abc1234def5678901234567890abcdef12345678"
GOOD_SHA = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432"
ROLLBACK_SHA = GOOD_SHA
CREATED = datetime(2026, 11, 22, 14, 0, 0, tzinfo=UTC)
# The verification's clock starts when the deployment is created, plus this.
STARTED_AFTER_S = 20.0
RUN_URL = "https://guard.example.com/runs/77"

POLICY = """\
version: 1
mode: {mode}
environments:
  production:
    smoke:
      - name: home page
        get: /
      - name: api health
        get: /api/health
    watch:
      interval: 15s
      duration: 2m
      probes:
        - name: health
          get: /health
      fail_when:
        consecutive_failures: 3
        error_rate: 50%
      min_samples: 2
    metrics:
      - name: 5xx ratio
        prometheus:
          url: https://prometheus.example.com
          query: sum(rate(http_requests_total{{code=~"5.."}}[2m]))
        fail_when: "> 0.05"
    on_failure:
      action: rollback
      incident:
        labels: [incident]
        assignees: [deployer]
"""


def check_golden(name: str, text: str, test_file: str) -> None:
    """Compare `text` with tests/golden/incidents/<name>, or write it under GUARD_UPDATE_GOLDEN."""
    golden = GOLDEN / name
    if UPDATE_GOLDEN:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    if not golden.exists():
        pytest.fail(MISSING_GOLDEN.format(golden=golden, test=Path(test_file).name))
    assert text == golden.read_text(encoding="utf-8")


def plan(mode: str = "enforce") -> VerificationPlan:
    policy = load_policy(POLICY.format(mode=mode))
    return VerificationPlan.from_environment(policy.environments["production"])


def http(
    name: str,
    phase: Phase,
    number: int,
    *,
    code: int | None = 200,
    ms: int = 40,
    path: str = "/health",
    evidence: str = "",
) -> ProbeResult:
    at = STARTED_AFTER_S + (0.0 if number == 0 else 15.0 * number)
    url = f"https://shop.example.com{path}"
    if code is None:
        return ProbeResult(
            name,
            phase,
            ProbeStatus.FAIL,
            at=at,
            round=number,
            unreachable=True,
            summary="connection refused",
            detail=f"GET {url} could not connect: connection refused",
        )
    ok = code < 400
    return ProbeResult(
        name,
        phase,
        ProbeStatus.PASS if ok else ProbeStatus.FAIL,
        at=at,
        round=number,
        latency_s=ms / 1000,
        summary=f"HTTP {code} in {ms} ms",
        detail=f"GET {url} answered HTTP {code} in {ms} ms" + ("" if ok else "; expected 2xx"),
        status_code=code,
        evidence=evidence,
    )


def metric(number: int, value: float) -> ProbeResult:
    return ProbeResult(
        "5xx ratio",
        Phase.METRIC,
        ProbeStatus.FAIL if value > 0.05 else ProbeStatus.PASS,
        at=STARTED_AFTER_S + 15.0 * number,
        round=number,
        value=value,
        summary=f"{value:g}",
        detail=f"the query returned {value:g}; fails when > 0.05",
    )


def smoke_ok() -> list[ProbeResult]:
    return [
        http("home page", Phase.SMOKE, 0, ms=31, path="/"),
        http("api health", Phase.SMOKE, 0, ms=8, path="/api/health"),
    ]


ERROR_PAGE = (
    '{"error": "InternalServerError", "message": "database connection pool exhausted",\n'
    ' "trace_id": "7f3a9c", "see": "@oncall-db"}\n'
)


def watch_failure_results() -> tuple[list[ProbeResult], list[list[ProbeResult]]]:
    rounds = [
        [http("health", Phase.WATCH, 1, ms=45), metric(1, 0.01)],
        [http("health", Phase.WATCH, 2, ms=52), metric(2, 0.02)],
        [http("health", Phase.WATCH, 3, code=503, ms=1210, evidence=ERROR_PAGE), metric(3, 0.04)],
        [http("health", Phase.WATCH, 4, code=503, ms=1304, evidence=ERROR_PAGE), metric(4, 0.03)],
        [http("health", Phase.WATCH, 5, code=503, ms=998, evidence=ERROR_PAGE), metric(5, 0.04)],
    ]
    return smoke_ok(), rounds


def judged(
    smoke: Sequence[ProbeResult],
    rounds: Sequence[Sequence[ProbeResult]],
    *,
    mode: str = "enforce",
    is_remedy: bool = False,
) -> tuple[Verdict, Decision, tuple[ProbeResult, ...]]:
    """Run the real engine over the results, then decide as the policy says."""
    engine = Verification(plan(mode), started_at=STARTED_AFTER_S - 1)
    engine.record_smoke(list(smoke), STARTED_AFTER_S)
    for number, results in enumerate(rounds, start=1):
        if engine.verdict is not None:
            break
        engine.record_round(number, list(results), STARTED_AFTER_S + 15.0 * number)
    verdict = engine.verdict
    assert verdict is not None, "the results must reach a verdict"
    on_failure = load_policy(POLICY.format(mode=mode)).environments["production"].on_failure
    decision = decide(
        verdict,
        on_failure,
        mode="shadow" if mode == "shadow" else "enforce",
        is_remedy_verification=is_remedy,
    )
    return verdict, decision, engine.results


def suspects() -> tuple[SuspectCommit, ...]:
    return (
        SuspectCommit(
            sha="1111111aaaaaaa2222222bbbbbbb3333333ccccc",
            subject="Pool database connections per worker (#41)",
            author_login="mona",
            author_name="Mona Lisa",
            pull_number=41,
            pull_url=f"{REPO_URL}/pull/41",
            url=f"{REPO_URL}/commit/1111111aaaaaaa2222222bbbbbbb3333333ccccc",
        ),
        SuspectCommit(
            sha=BAD_SHA,
            subject="Merge pull request #42 from acme/faster-health | @hubot ping",
            author_login="dee",
            author_name="Dee Veloper",
            pull_number=42,
            pull_url=f"{REPO_URL}/pull/42",
            url=f"{REPO_URL}/commit/{BAD_SHA}",
        ),
    )


def context(
    verdict: Verdict,
    decision: Decision,
    results: Sequence[ProbeResult],
    remedy: RemedyReport,
    *,
    good: GoodDeployment | None = None,
    deployment: DeploymentInfo | None = None,
    remedy_url: str | None = None,
    code: str = "INC-20261122-001",
    rollback_watched: bool = True,
) -> IncidentContext:
    """A context for `verdict` whose times follow the engine's clock from CREATED."""
    detected = CREATED + timedelta(seconds=verdict.decided_at)
    deployed = deployment or DeploymentInfo(
        id=4242,
        sha=BAD_SHA,
        ref="v1.4.0",
        creator_login="dee",
        created_at=CREATED,
        url=f"{REPO_URL}/deployments/4242",
        environment_url="https://shop.example.com",
    )
    timeline = (
        TimelineEntry(CREATED + timedelta(seconds=STARTED_AFTER_S), "Smoke checks started."),
        TimelineEntry(detected, f"Decision: {decision.explanation}"),
    )
    return IncidentContext(
        repository=REPO,
        environment="production",
        code=code,
        deployment=deployed,
        last_good=good,
        verdict=verdict,
        decision=decision,
        remedy=remedy,
        detected_at=detected,
        results=tuple(results),
        checks=tuple(check_rows(results)),
        timeline=timeline,
        suspects=suspects(),
        changed_paths=("app/db.py", "web/health.py"),
        links=Links(
            deployment=deployed.url,
            check_run=f"{REPO_URL}/runs/9001",
            run_page=RUN_URL,
            remedy=remedy_url,
            compare=f"{REPO_URL}/compare/{GOOD_SHA}...{BAD_SHA}" if good else None,
            repository=REPO_URL,
        ),
        rollback_watched=rollback_watched,
    )


GOOD = GoodDeployment(sha=GOOD_SHA, ref="v1.3.2", deployment_id=4100)


def watch_rollback_done() -> IncidentContext:
    smoke, rounds = watch_failure_results()
    verdict, decision, results = judged(smoke, rounds)
    remedy = RemedyReport.rolled_back("v1.3.2", "redeploy", f"{REPO_URL}/deployments/4243")
    return context(verdict, decision, results, remedy, good=GOOD)


def action_rollback_done() -> IncidentContext:
    """The same story filed by the Action alone: nothing watches the rollback's deployment."""
    smoke, rounds = watch_failure_results()
    verdict, decision, results = judged(smoke, rounds)
    remedy = RemedyReport.rolled_back("v1.3.2", "redeploy", f"{REPO_URL}/deployments/4243")
    return context(verdict, decision, results, remedy, good=GOOD, rollback_watched=False)


def smoke_failure_p0() -> IncidentContext:
    smoke = [
        http("home page", Phase.SMOKE, 0, code=None, path="/"),
        http("api health", Phase.SMOKE, 0, code=None, path="/api/health"),
    ]
    verdict, decision, results = judged(smoke, [])
    remedy = RemedyReport.rolled_back("v1.3.2", "redeploy", f"{REPO_URL}/deployments/4243")
    return context(verdict, decision, results, remedy, good=GOOD)


def shadow_mode() -> IncidentContext:
    smoke, rounds = watch_failure_results()
    verdict, decision, results = judged(smoke, rounds, mode="shadow")
    remedy = RemedyReport.would_roll_back("v1.3.2", "redeploy")
    return context(verdict, decision, results, remedy, good=GOOD)


def no_good_ref() -> IncidentContext:
    smoke, rounds = watch_failure_results()
    verdict, decision, results = judged(smoke, rounds)
    made = context(verdict, decision, results, RemedyReport.no_good_ref("production"))
    return replace(made, suspects=made.suspects[-1:])


def escalated() -> IncidentContext:
    smoke, rounds = watch_failure_results()
    verdict, decision, results = judged(smoke, rounds, is_remedy=True)
    rollback = DeploymentInfo(
        id=4243,
        sha=ROLLBACK_SHA,
        ref="v1.3.2",
        creator_login="deploy-guard[bot]",
        created_at=CREATED,
        url=f"{REPO_URL}/deployments/4243",
        environment_url="https://shop.example.com",
        rollback_of=4242,
    )
    made = context(
        verdict,
        decision,
        results,
        RemedyReport.escalated(),
        deployment=rollback,
        code="INC-20261122-002",
    )
    return replace(made, suspects=(), changed_paths=())
