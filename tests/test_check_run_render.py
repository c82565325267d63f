"""The check run's words and table, golden-tested: what a person reads on the deployed commit.

Regenerate the golden files after an intended wording change with:
    GUARD_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_check_run_render.py
and review the diff like any other change.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from guard.outcomes import Phase, ProbeResult, ProbeStatus, Verdict, VerdictKind
from guard.policy.errors import PolicyError
from guard.policy.loader import load_policy
from guard.report import check_run as render
from guard.report.checks import check_rows
from guard.severity import decide
from guard.verification import Verification, VerificationPlan

GOLDEN = Path(__file__).parent / "golden" / "check_run"
UPDATE_GOLDEN = os.environ.get("GUARD_UPDATE_GOLDEN") == "1"
RUN_URL = "https://guard.example.com/runs/7"
SUBJECT = render.Subject("production", 4242, "0123456789abcdef0123456789abcdef01234567")

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
      duration: {duration}
      probes:
        - name: health
          get: /health
      fail_when:
        consecutive_failures: 2
        error_rate: 50%
      min_samples: 2
    metrics:
      - name: 5xx rate
        prometheus:
          url: https://prometheus.example.com
          query: sum(rate(http_requests_total{{code=~"5.."}}[5m]))
        fail_when: "> 0.05"
    on_failure:
      action: rollback
"""
INVALID_POLICY = """\
version: 1
environments:
  production:
    smoke:
      - name: home page
        get: /
        expect:
          status: 700
    watch:
      interval: fast
"""


def policy_for(mode: str = "enforce", duration: str = "45s") -> tuple[VerificationPlan, str]:
    policy = load_policy(POLICY.format(mode=mode, duration=duration))
    return VerificationPlan.from_environment(policy.environments["production"]), mode


def http(
    name: str,
    phase: Phase,
    number: int,
    *,
    code: int = 200,
    ms: int = 12,
    at: float | None = None,
) -> ProbeResult:
    ok = code < 400
    return ProbeResult(
        name,
        phase,
        ProbeStatus.PASS if ok else ProbeStatus.FAIL,
        at=at if at is not None else 100.0 + 15 * number,
        round=number,
        latency_s=ms / 1000,
        summary=f"HTTP {code} in {ms} ms",
        detail=(
            f"GET https://shop.example.com{'/' if name == 'home page' else '/health'} answered "
            f"HTTP {code} in {ms} ms" + ("" if ok else "; expected 2xx")
        ),
        status_code=code,
    )


def metric(number: int, value: float | None) -> ProbeResult:
    if value is None:
        return ProbeResult(
            "5xx rate",
            Phase.METRIC,
            ProbeStatus.NO_DATA,
            at=100.0 + 15 * number,
            round=number,
            summary="no data",
            detail="the query returned no series",
        )
    return ProbeResult(
        "5xx rate",
        Phase.METRIC,
        ProbeStatus.FAIL if value > 0.05 else ProbeStatus.PASS,
        at=100.0 + 15 * number,
        round=number,
        value=value,
        summary=f"{value:g}",
        detail=f"the query returned {value:g}; fails when > 0.05",
    )


def smoke(home: int = 200) -> list[ProbeResult]:
    return [
        http("home page", Phase.SMOKE, 0, code=home, ms=31, at=100.0),
        http("api health", Phase.SMOKE, 0, ms=8, at=100.0),
    ]


def run(
    plan: VerificationPlan,
    rounds: Sequence[Sequence[ProbeResult]],
    smoke_results: Sequence[ProbeResult] | None = None,
) -> Verification:
    engine = Verification(plan, started_at=99.0)
    engine.record_smoke(list(smoke() if smoke_results is None else smoke_results), 100.0)
    for number, results in enumerate(rounds, start=1):
        engine.record_round(number, list(results), 100.0 + 15 * number)
    return engine


def finished(engine: Verification, mode: str = "enforce") -> render.CheckRunOutput:
    verdict = engine.verdict
    assert verdict is not None
    on_failure = load_policy(POLICY.format(mode=mode, duration="45s")).environments["production"]
    decision = decide(
        verdict, on_failure.on_failure, mode="shadow" if mode == "shadow" else "enforce"
    )
    return render.finished(SUBJECT, verdict, decision, check_rows(engine.results), run_url=RUN_URL)


def passed_cleanly() -> render.CheckRunOutput:
    plan, _ = policy_for()
    rounds = [[http("health", Phase.WATCH, n, ms=10 + n), metric(n, 0.01)] for n in (1, 2, 3)]
    return finished(run(plan, rounds))


def passed_with_a_warning() -> render.CheckRunOutput:
    plan, _ = policy_for()
    rounds = [
        [http("health", Phase.WATCH, 1, code=503, ms=40), metric(1, 0.01)],
        [http("health", Phase.WATCH, 2), metric(2, 0.01)],
        [http("health", Phase.WATCH, 3), metric(3, None)],
    ]
    return finished(run(plan, rounds))


def failed_smoke() -> render.CheckRunOutput:
    plan, _ = policy_for()
    return finished(run(plan, [], smoke(home=500)))


def failed_watch_in_shadow_mode() -> render.CheckRunOutput:
    plan, _ = policy_for(mode="shadow", duration="2m")
    rounds = [
        [http("health", Phase.WATCH, 1), metric(1, 0.01)],
        [http("health", Phase.WATCH, 2, code=502, ms=3), metric(2, 0.02)],
        [http("health", Phase.WATCH, 3, code=502, ms=4), metric(3, 0.03)],
    ]
    return finished(run(plan, rounds), mode="shadow")


def inconclusive() -> render.CheckRunOutput:
    plan, _ = policy_for()
    rounds = [[http("health", Phase.WATCH, n), metric(n, None)] for n in (1, 2, 3)]
    return finished(run(plan, rounds))


def in_progress() -> render.CheckRunOutput:
    plan, _ = policy_for(duration="75s")
    engine = run(
        plan,
        [
            [http("health", Phase.WATCH, 1, code=503, ms=40), metric(1, 0.01)],
            [http("health", Phase.WATCH, 2), metric(2, 0.01)],
        ],
    )
    return render.progress(
        SUBJECT,
        rounds_done=engine.rounds_done,
        rounds_planned=engine.rounds_planned,
        failures=engine.failures_so_far,
        rows=check_rows(engine.results),
        run_url=RUN_URL,
    )


def smoke_done() -> render.CheckRunOutput:
    plan, _ = policy_for()
    engine = run(plan, [])
    return render.progress(
        SUBJECT,
        rounds_done=0,
        rounds_planned=engine.rounds_planned,
        failures=0,
        rows=check_rows(engine.results),
        run_url=None,
    )


def started() -> render.CheckRunOutput:
    return render.started(SUBJECT, has_smoke=True, run_url=RUN_URL)


def policy_invalid() -> render.CheckRunOutput:
    with pytest.raises(PolicyError) as caught:
        load_policy(INVALID_POLICY, ".github/deploy-guard.yml")
    return render.policy_invalid(
        SUBJECT, caught.value, path=".github/deploy-guard.yml", sha=SUBJECT.sha
    )


def superseded() -> render.CheckRunOutput:
    return render.superseded(SUBJECT, newer_deployment_id=4243, rounds_done=7, rounds_planned=40)


def gave_up() -> render.CheckRunOutput:
    return render.gave_up(
        SUBJECT, failures=10, error="GitHubUnavailableError: GitHub kept answering 502."
    )


CASES: dict[str, Callable[[], render.CheckRunOutput]] = {
    "passed_cleanly": passed_cleanly,
    "passed_with_a_warning": passed_with_a_warning,
    "failed_smoke": failed_smoke,
    "failed_watch_in_shadow_mode": failed_watch_in_shadow_mode,
    "inconclusive": inconclusive,
    "in_progress": in_progress,
    "smoke_done": smoke_done,
    "started": started,
    "policy_invalid": policy_invalid,
    "superseded": superseded,
    "gave_up": gave_up,
}


def as_text(output: render.CheckRunOutput) -> str:
    return (
        f"title: {output.title}\n"
        f"conclusion: {output.conclusion or '(in progress)'}\n"
        f"----- summary -----\n{output.summary}\n"
        f"----- text -----\n{output.text}\n"
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_check_run_output_matches_its_golden_file(case: str) -> None:
    text = as_text(CASES[case]())
    golden = GOLDEN / f"{case}.md"
    if UPDATE_GOLDEN:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    if not golden.exists():
        pytest.fail(f"{golden} is missing: GUARD_UPDATE_GOLDEN=1 .venv/bin/pytest {__file__}")
    assert text == golden.read_text(encoding="utf-8")


def test_every_golden_file_belongs_to_a_case() -> None:
    assert sorted(path.stem for path in GOLDEN.glob("*.md")) == sorted(CASES)


def test_the_conclusion_follows_the_verdict() -> None:
    assert passed_cleanly().conclusion == "success"
    assert failed_smoke().conclusion == "failure"
    # Shadow mode changes what the guard does, not what it found.
    assert failed_watch_in_shadow_mode().conclusion == "failure"
    assert inconclusive().conclusion == "neutral"
    assert superseded().conclusion == "neutral"
    assert in_progress().conclusion is None


def test_every_reason_and_warning_is_a_sentence_in_the_summary() -> None:
    plan, _ = policy_for()
    engine = run(
        plan,
        [
            [http("health", Phase.WATCH, 1, code=503, ms=40), metric(1, 0.01)],
            [http("health", Phase.WATCH, 2), metric(2, 0.01)],
            [http("health", Phase.WATCH, 3), metric(3, None)],
        ],
    )
    verdict = engine.verdict
    assert verdict is not None
    assert verdict.warnings
    summary = finished(engine).summary
    for reason in (*verdict.reasons, *verdict.warnings):
        assert f"- {reason.message}" in summary


def test_the_policy_errors_keep_their_lines() -> None:
    summary = policy_invalid().summary
    assert ".github/deploy-guard.yml:8: environments.production.smoke[0].expect.status" in summary
    assert ".github/deploy-guard.yml:10: environments.production.watch.interval" in summary


def test_table_cells_cannot_break_the_table() -> None:
    result = ProbeResult(
        "a | b",
        Phase.SMOKE,
        ProbeStatus.FAIL,
        at=1.0,
        summary="HTTP 500\nwith | pipes",
        detail="d",
    )
    table = render.checks_markdown(check_rows([result]))
    row = table.splitlines()[-1]
    assert row == "| a \\| b | smoke | **FAIL** | 1 | 1 | - | HTTP 500 with \\| pipes |"


def test_an_output_too_long_for_github_is_cut_and_says_so() -> None:
    text = "x" * (render.OUTPUT_LIMIT + 10)
    cut = render.fit(text)
    assert len(cut) == render.OUTPUT_LIMIT
    assert cut.endswith(render.CUT_NOTE)
    assert render.fit("short") == "short"


def test_the_failure_status_description_fits_in_140_characters() -> None:
    plan, _ = policy_for()
    long_detail = "GET https://shop.example.com/ answered HTTP 500: " + "database unavailable " * 20
    bad = ProbeResult(
        "home page", Phase.SMOKE, ProbeStatus.FAIL, at=100.0, summary="HTTP 500", detail=long_detail
    )
    engine = run(plan, [], [bad, http("api health", Phase.SMOKE, 0, at=100.0)])
    verdict = engine.verdict
    assert isinstance(verdict, Verdict)
    assert verdict.kind is VerdictKind.FAIL
    description = render.status_description(verdict)
    assert len(description) <= render.STATUS_DESCRIPTION_LIMIT
    assert description.startswith("deploy-guard: FAIL (P1): Smoke check home page failed")
    assert description.endswith("…")
    short = render.status_description(failed_smoke_verdict())
    assert short == (
        "deploy-guard: FAIL (P1): Smoke check home page failed: GET https://shop.example.com/ "
        "answered HTTP 500 in 31 ms; expected 2xx."
    )


def failed_smoke_verdict() -> Verdict:
    plan, _ = policy_for()
    verdict = run(plan, [], smoke(home=500)).verdict
    assert verdict is not None
    return verdict


def test_the_check_run_is_named_after_the_environment() -> None:
    assert render.check_run_name("staging-eu") == "deploy-guard / staging-eu"
