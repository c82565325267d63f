"""Incident issues as people read them, golden-tested: one file per story of a failed deployment.

Regenerate the golden files after an intended wording change with:
    GUARD_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_incidents_render.py
and review the diff like any other change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from guard.incidents.assignees import People
from guard.incidents.context import IncidentContext, RemedyReport
from guard.incidents.render import BODY_LIMIT, BUILT_IN, RenderedIssue, render_issue
from guard.incidents.repository_template import parse_template
from guard.outcomes import Reason, Severity, Verdict, VerdictKind
from guard.policy.models import OnFailure
from guard.severity import decide
from tests.test_incidents_support import (
    FIXTURES,
    GOLDEN,
    action_rollback_done,
    check_golden,
    escalated,
    no_good_ref,
    shadow_mode,
    smoke_failure_p0,
    watch_rollback_done,
)

PEOPLE = People(assignees=("dee",), teams=("@acme/web",))


def as_text(rendered: RenderedIssue) -> str:
    return (
        f"title: {rendered.title}\n"
        f"template: {rendered.template}\n"
        f"trimmed: {', '.join(rendered.trimmed) or 'nothing'}\n"
        f"----- body ({len(rendered.body):,} characters) -----\n"
        f"{rendered.body}"
    )


def repository_template(name: str) -> RenderedIssue:
    path = FIXTURES / "templates" / f"{name}.md"
    template = parse_template(path.read_text(encoding="utf-8"), f".github/ISSUE_TEMPLATE/{name}.md")
    return render_issue(watch_rollback_done(), template=template, people=PEOPLE)


CASES: dict[str, Callable[[], RenderedIssue]] = {
    "watch_rollback_done": lambda: render_issue(watch_rollback_done(), people=PEOPLE),
    "action_rollback_done": lambda: render_issue(action_rollback_done(), people=PEOPLE),
    "smoke_failure_p0": lambda: render_issue(smoke_failure_p0(), people=PEOPLE),
    "shadow_mode": lambda: render_issue(shadow_mode(), people=PEOPLE),
    "no_good_ref": lambda: render_issue(no_good_ref(), people=PEOPLE),
    "escalated_after_failed_rollback": lambda: render_issue(escalated(), people=People()),
    "repository_template": lambda: repository_template("deploy-incident"),
    "unknown_placeholder": lambda: repository_template("unknown-placeholder"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_incident_bodies_match_their_golden_files(name: str) -> None:
    rendered = CASES[name]()
    check_golden(f"{name}.md", as_text(rendered), __file__)


def test_every_golden_file_has_its_case() -> None:
    known = {f"{name}.md" for name in CASES} | {"huge_evidence.md", "secrets_redacted.md"}
    known |= {path.name for path in GOLDEN.glob("update_*.md")}
    known |= {path.name for path in GOLDEN.glob("notice_*.*")}
    orphans = sorted(path.name for path in GOLDEN.iterdir() if path.name not in known)
    assert orphans == []


def test_bodies_carry_the_marker_first_and_stay_under_the_limit() -> None:
    for name, case in CASES.items():
        rendered = case()
        assert rendered.body.startswith("<!-- deploy-guard:incident repo=acme/shop deployment="), (
            name
        )
        assert len(rendered.body) <= BODY_LIMIT
        assert len(rendered.title) <= 256


def test_rendering_is_deterministic() -> None:
    first = render_issue(watch_rollback_done(), people=PEOPLE)
    again = render_issue(watch_rollback_done(), people=PEOPLE)
    assert first == again


def test_titles_say_what_happened() -> None:
    assert render_issue(watch_rollback_done()).title == (
        "[P1] production: deployment of abc1234 failed verification (INC-20261122-001)"
    )
    assert render_issue(smoke_failure_p0()).title.startswith("[P0] production: deployment")
    assert "in shadow mode" in render_issue(shadow_mode()).title
    assert render_issue(escalated()).title == (
        "[P0] production: rollback deployment of 9f8e7d6 failed verification (INC-20261122-002)"
    )


def test_a_degraded_deployment_is_titled_and_summarised_as_degraded() -> None:
    warning = Reason(
        subject="error_rate",
        observed="30% (3 of 10 failed)",
        condition="error rate > 50%",
        window="rounds 1-10 of 10, every 15s",
        samples=10,
        message="The watch probes' error rate was 30%: under the threshold but above half of it.",
        severity=Severity.P2,
    )
    verdict = Verdict(VerdictKind.PASS, (), Severity.P2, 170.0, 10, 10, (warning,))
    made = watch_rollback_done()
    decision = decide(verdict, OnFailure(action="rollback"), mode="enforce")
    context = replace(
        made,
        verdict=verdict,
        decision=decision,
        remedy=RemedyReport.fix_forward("the deployment is degraded, not broken."),
    )
    rendered = render_issue(context)
    assert rendered.title == "[P2] production: deployment of abc1234 is degraded (INC-20261122-001)"
    summary = rendered.body.split("## Severity")[0]
    assert "passed verification at 2026-11-22 14:01:35 UTC" in summary
    assert "after it was created, but is degraded on 1 count: error rate." in summary
    assert "Nothing failed outright" in rendered.body
    assert warning.message in rendered.body


def test_every_reason_is_in_the_table_with_its_numbers() -> None:
    context = watch_rollback_done()
    body = render_issue(context).body
    assert len(context.verdict.reasons) >= 2
    for number, reason in enumerate(context.verdict.reasons, start=1):
        assert f"| {number} |" in body
        assert reason.observed in body
        assert reason.window in body
        assert reason.message in body


def test_response_targets_follow_the_severity() -> None:
    assert "Respond within **15 min**" in render_issue(smoke_failure_p0()).body
    assert "Respond within **1 h**" in render_issue(watch_rollback_done()).body


def test_mentions_in_quoted_text_do_not_ping_but_teams_and_assignees_do() -> None:
    body = render_issue(watch_rollback_done(), people=PEOPLE).body
    assert "@hubot" not in body
    assert "@&#8203;hubot" in body
    assert "**Assigned:** @dee" in body
    assert "@acme/web" in body


def test_the_remedy_sentence_reaches_the_summary() -> None:
    context: IncidentContext = no_good_ref()
    body = render_issue(context).body
    summary = body.split("## Severity")[0]
    assert "No remedy: there is no verified-good deployment of production" in summary
    assert render_issue(context).template == BUILT_IN
