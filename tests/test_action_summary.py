"""The job summary and the annotations, golden-tested: what a person reads on the run's page.

Regenerate the golden files after an intended wording change with:
    GUARD_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_action_summary.py
and review the diff like any other change.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from guard.action.commands import Commands
from guard.action.permissions import RefusedCall, missing_permissions
from guard.action.remedy_words import UNSHIPPED_TITLE
from guard.action.report import ActionReport, Note, annotate
from guard.action.summary import render_summary
from guard.outcomes import Phase, ProbeResult, ProbeStatus
from guard.policy.loader import load_policy
from guard.report.checks import check_rows
from guard.severity import decide
from guard.verification import Verification, VerificationPlan

GOLDEN = Path(__file__).parent / "golden" / "action"
UPDATE_GOLDEN = os.environ.get("GUARD_UPDATE_GOLDEN") == "1"
SHA = "0123456789abcdef0123456789abcdef01234567"
RUN = "https://github.com/octo-org/shop/actions/runs/7001"
DEPLOYMENTS = "https://github.com/octo-org/shop/deployments/production"
ISSUE = "https://github.com/octo-org/shop/issues/12"
POLICY = load_policy(
    """\
version: 1
environments:
  production:
    smoke:
      - name: home page
        get: /
    watch:
      interval: 15s
      duration: 45s
      probes:
        - name: health
          get: /health
      fail_when: {consecutive_failures: 2}
    on_failure:
      action: rollback
"""
)
ENVIRONMENT = POLICY.environments["production"]


def probe(name: str, phase: Phase, number: int, code: int = 200, ms: int = 12) -> ProbeResult:
    ok = code < 400
    return ProbeResult(
        name,
        phase,
        ProbeStatus.PASS if ok else ProbeStatus.FAIL,
        at=100.0 + 15 * number,
        round=number,
        latency_s=ms / 1000,
        summary=f"HTTP {code} in {ms} ms",
        detail=f"GET https://shop.example.com/ answered HTTP {code}"
        + ("" if ok else "; expected 2xx"),
        status_code=code,
    )


def report(*codes: int, home: int = 200, **fields: object) -> ActionReport:
    """A verification of the smoke check and one watch round per code in `codes`."""
    engine = Verification(VerificationPlan.from_environment(ENVIRONMENT), started_at=99.0)
    engine.record_smoke([probe("home page", Phase.SMOKE, 0, home, 31)], 100.0)
    for number, code in enumerate(codes, start=1):
        if engine.verdict is None:
            engine.record_round(
                number, [probe("health", Phase.WATCH, number, code)], 100.0 + 15 * number
            )
    verdict = engine.verdict
    assert verdict is not None
    made = ActionReport(
        environment="production",
        verdict=verdict,
        decision=decide(verdict, ENVIRONMENT.on_failure, mode="enforce"),
        rows=tuple(check_rows(engine.results)),
        results=engine.results,
        deployment_id=4242,
        sha=SHA,
        actions_run_url=RUN,
        deployments_url=DEPLOYMENTS,
    )
    for name, value in fields.items():
        setattr(made, name, value)
    return made


def passed_cleanly() -> ActionReport:
    return report(200, 200, 200)


def passed_with_a_warning() -> ActionReport:
    return report(200, 503, 200)


def failed_and_rolled_back() -> ActionReport:
    unshipped = Note("warning", UNSHIPPED_TITLE, "No workflow starts.", "No workflow starts.")
    return report(
        503,
        503,
        remedy="Remedy done: created deployment 4243 of v1.3.2 (abc1234) to production.",
        remedy_url=DEPLOYMENTS,
        rollback_ref="v1.3.2",
        incident_url=ISSUE,
        notes=[unshipped],
    )


def missing_a_permission() -> ActionReport:
    refused = [RefusedCall("POST", "/repos/{owner}/{repo}/deployments")]
    return report(
        home=500,
        remedy="Remedy failed: HTTP 403.",
        permissions=missing_permissions(refused, "redeploy", rolls_back=True),
    )


def no_verdict_from_the_guard() -> ActionReport:
    return ActionReport(
        environment="production",
        verdict=None,
        decision=None,
        sha=SHA,
        actions_run_url=RUN,
        problem="The guard's verification 9 was still watching after 45 min.",
    )


CASES: dict[str, Callable[[], ActionReport]] = {
    "passed_cleanly": passed_cleanly,
    "passed_with_a_warning": passed_with_a_warning,
    "failed_and_rolled_back": failed_and_rolled_back,
    "missing_a_permission": missing_a_permission,
    "no_verdict_from_the_guard": no_verdict_from_the_guard,
}


def annotations_of(made: ActionReport) -> str:
    stream = io.StringIO()
    annotate(made, Commands(stream))
    return stream.getvalue()


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_summary_and_annotations_match_their_golden_file(case: str) -> None:
    made = CASES[case]()
    text = f"{render_summary(made)}\n<!-- annotations -->\n{annotations_of(made)}"
    golden = GOLDEN / f"{case}.md"
    if UPDATE_GOLDEN:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    if not golden.exists():
        pytest.fail(f"{golden} is missing: GUARD_UPDATE_GOLDEN=1 .venv/bin/pytest {__file__}")
    assert text == golden.read_text(encoding="utf-8")


def test_every_golden_file_belongs_to_a_case() -> None:
    assert sorted(path.stem for path in GOLDEN.glob("*.md")) == sorted(CASES)


def test_a_recovered_probe_warns_and_fails_nothing() -> None:
    made = passed_with_a_warning()

    lines = annotations_of(made).splitlines()

    assert made.exit_code == 0
    assert [line.split(" ", 1)[0] for line in lines] == ["::warning"]


def test_the_exit_code_follows_the_verdict_then_the_setup() -> None:
    assert failed_and_rolled_back().exit_code == 1
    assert missing_a_permission().exit_code == 1
    assert report(200, 200, 200, setup_problem="no token").exit_code == 2
    assert no_verdict_from_the_guard().exit_code == 3
