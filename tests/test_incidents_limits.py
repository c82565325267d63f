"""The body stays under GitHub's 65,536 characters (evidence goes first) and never holds a secret.

Regenerate the golden files after an intended wording change with:
    GUARD_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_incidents_limits.py
"""

from __future__ import annotations

import string
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import DictLoader, Environment

from guard.incidents import render
from guard.incidents.context import IncidentContext, SuspectCommit, TimelineEntry
from guard.incidents.render import (
    BODY_LIMIT,
    CHART_LEFT_OUT,
    EVIDENCE_LEFT_OUT,
    EVIDENCE_SHORTENED,
    render_issue,
)
from guard.incidents.repository_template import RepositoryTemplate
from guard.outcomes import Phase, Reason
from guard.policy.secrets import secret_values
from tests.test_incidents_render import as_text
from tests.test_incidents_support import (
    CREATED,
    REPO_URL,
    check_golden,
    http,
    watch_rollback_done,
)

SECRET = "tok_live_5f2b9c1e8a7d6"
ENVIRON = {"GUARD_SECRET_SHOP_TOKEN": SECRET, "HOME": "/root", "GUARD_SECRET_SHORT": "abc"}


def log_page(round_number: int) -> str:
    return "\n".join(
        f"{round_number:03d}-{line:04d} ERROR pool exhausted on GET /health (worker {line % 7})"
        for line in range(400)
    )


def huge(rounds: int = 40, commits: int = 160, events: int = 120) -> IncidentContext:
    """Forty failing rounds with a 30 KB answer each, 160 suspects and 120 timeline events."""
    made = watch_rollback_done()
    results = list(made.results)
    for number in range(6, 6 + rounds):
        results.append(
            http(
                "health", Phase.WATCH, number, code=503, ms=1000 + number, evidence=log_page(number)
            )
        )
    timeline = tuple(
        TimelineEntry(
            CREATED + timedelta(seconds=20 + 5 * i), f"Watch round {i}: health answered HTTP 503."
        )
        for i in range(events)
    )
    suspects = tuple(
        SuspectCommit(
            sha=f"{i:040x}",
            subject=f"Refactor module {i} for the new connection pool (#{100 + i})",
            author_login=f"dev{i % 9}",
            author_name=f"Developer {i % 9}",
            pull_number=100 + i,
            pull_url=f"{REPO_URL}/pull/{100 + i}",
            url=f"{REPO_URL}/commit/{i:040x}",
        )
        for i in range(commits)
    )
    return replace(made, results=tuple(results), checks=(), timeline=timeline, suspects=suspects)


def test_a_huge_evidence_set_is_trimmed_under_the_limit_with_a_note() -> None:
    rendered = render_issue(huge())
    assert len(rendered.body) <= BODY_LIMIT
    assert rendered.trimmed == (EVIDENCE_SHORTENED,)
    assert "This issue was trimmed to fit GitHub's 65,536-character limit" in rendered.body
    assert "The run page has everything: https://guard.example.com/runs/77" in rendered.body
    assert "more characters not shown" in rendered.body
    check_golden("huge_evidence.md", as_text(rendered), __file__)


def test_trimming_goes_evidence_then_chart_then_tables() -> None:
    bigger = render_issue(huge(commits=260, events=200))
    assert len(bigger.body) <= BODY_LIMIT
    assert bigger.trimmed[:2] == (EVIDENCE_LEFT_OUT, CHART_LEFT_OUT)
    assert "```mermaid" not in bigger.body
    assert "_The evidence was left out to fit GitHub's limit" in bigger.body
    biggest = render_issue(huge(commits=600, events=600))
    assert len(biggest.body) <= BODY_LIMIT
    assert biggest.trimmed[-1] == "long tables were cut to 25 rows"
    assert "_… and 575 more commits in the comparison._" in biggest.body
    assert "_… and 577 more events on the run page._" in biggest.body


def test_a_body_that_cannot_be_trimmed_enough_is_cut_keeping_the_marker() -> None:
    template = RepositoryTemplate(
        path=".github/ISSUE_TEMPLATE/novel.md", body="x" * 70_000 + "\n{{ marker }}\n"
    )
    rendered = render_issue(watch_rollback_done(), template=template)
    assert len(rendered.body) <= BODY_LIMIT
    assert rendered.trimmed[-1] == "cut"
    assert rendered.body.startswith(watch_rollback_done().marker)
    assert "This issue was cut at GitHub's 65,536-character limit" in rendered.body


def leaky() -> IncidentContext:
    """A context where the secret shows up everywhere a response or a person could put it."""
    made = watch_rollback_done()
    bearer = f"Authorization: Bearer {SECRET}"
    results = tuple(
        replace(
            result,
            evidence=f'{{"echo": "{bearer}", "error": "pool exhausted"}}',
            detail=f"GET https://shop.example.com/health?token={SECRET} answered HTTP 503",
        )
        if result.failed
        else result
        for result in made.results
    )
    reason = made.verdict.reasons[0]
    verdict = replace(
        made.verdict,
        reasons=(
            replace(reason, message=f"{reason.message} (token {SECRET})"),
            *made.verdict.reasons[1:],
        ),
    )
    suspects = (replace(made.suspects[0], subject=f"Hard-code {SECRET} for now"),)
    return replace(
        made,
        verdict=verdict,
        results=results,
        checks=(),
        suspects=suspects + made.suspects[1:],
        timeline=(TimelineEntry(CREATED, f"Probe sent {bearer}"),),
    )


def test_secrets_are_redacted_from_title_and_body() -> None:
    context = replace(leaky(), code=f"INC-{SECRET}")
    rendered = render_issue(context, secrets=secret_values(ENVIRON))
    assert SECRET not in rendered.title
    assert SECRET not in rendered.body
    assert "Bearer ***" in rendered.body
    # Values shorter than four characters are not treated as secrets: "abc" stays.
    assert "abc1234" in rendered.body
    check_golden("secrets_redacted.md", as_text(render_issue(leaky(), secrets=[SECRET])), __file__)


def test_a_secret_on_the_cut_of_an_excerpt_is_not_half_shown() -> None:
    made = watch_rollback_done()
    # The excerpt is cut at 2,000 characters; the secret straddles that point.
    evidence = "a" * 1_990 + SECRET + "b" * 50
    results = tuple(replace(r, evidence=evidence) if r.failed else r for r in made.results)
    rendered = render_issue(replace(made, results=results), secrets=[SECRET])
    for size in range(6, len(SECRET) + 1):
        assert SECRET[:size] not in rendered.body


def test_a_reason_with_pipes_and_html_keeps_the_table_intact() -> None:
    made = watch_rollback_done()
    odd = Reason(
        subject="body | check",
        observed="<script>alert(1)</script>\nsecond line",
        condition="a | b",
        window="smoke",
        samples=1,
        message="odd",
    )
    verdict = replace(made.verdict, reasons=(odd,))
    body = render_issue(replace(made, verdict=verdict)).body
    row = next(line for line in body.splitlines() if line.startswith("| 1 |"))
    assert row == (
        "| 1 | body \\| check | &lt;script>alert(1)&lt;/script> second line | a \\| b | smoke "
        "| 1 | P1 |"
    )


def test_a_bug_in_our_templates_still_files_the_essentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # Our own templates missing stands in for any bug in them: the issue must still be filed.
    monkeypatch.setattr(render, "_environment", lambda: Environment(loader=DictLoader({})))
    context = watch_rollback_done()
    rendered = render.render_issue(context, secrets=[SECRET])
    assert rendered.trimmed == ("minimal",)
    assert rendered.title == (
        "[P1] production: deployment of abc1234 failed verification (INC-20261122-001)"
    )
    assert rendered.body.startswith(context.marker)
    assert "could not lay this issue out (TemplateNotFound)" in rendered.body
    assert context.verdict.reasons[0].message in rendered.body


@settings(max_examples=30, deadline=None)
@given(
    secret=st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=8, max_size=40),
    before=st.text(max_size=3000),
    cut_at=st.integers(min_value=0, max_value=2500),
)
def test_no_secret_survives_wherever_it_lands(secret: str, before: str, cut_at: int) -> None:
    made = watch_rollback_done()
    evidence = before[:cut_at] + secret + before[cut_at:]
    results = tuple(replace(r, evidence=evidence) if r.failed else r for r in made.results)
    subject = f"Rotate {secret}"
    suspects = (replace(made.suspects[0], subject=subject), *made.suspects[1:])
    context = replace(made, results=results, suspects=suspects)
    rendered = render.render_issue(context, secrets=secret_values({"GUARD_SECRET_X": secret}))
    assert secret not in rendered.body
    assert secret not in rendered.title
    assert len(rendered.body) <= BODY_LIMIT
