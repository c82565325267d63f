"""An incident's title and body: rendered, secrets redacted, fitted under GitHub's body limit."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import Any, TypeVar

from jinja2 import Environment

from guard.incidents.assignees import People
from guard.incidents.context import IncidentContext
from guard.incidents.placeholders import placeholder_values
from guard.incidents.repository_template import (
    RepositoryTemplate,
    TemplateProblem,
    render_template,
)
from guard.incidents.templating import builtin_environment
from guard.incidents.view import Budget, build_view
from guard.observability.logs import get_logger
from guard.policy.secrets import redact

log = get_logger(__name__)

T = TypeVar("T")

# GitHub refuses longer issue bodies with a 422; titles are cut to 256 characters by us.
BODY_LIMIT = 65_536
TITLE_LIMIT = 256
BUILT_IN = "built-in"

EVIDENCE_SHORTENED = "the evidence excerpts were shortened"
EVIDENCE_LEFT_OUT = "the evidence was left out"
CHART_LEFT_OUT = "the chart was left out"
TABLES_CUT = "long tables were cut to {rows} rows"
TRIMMED = "This issue was trimmed to fit GitHub's {limit:,}-character limit: {what}.{where}"
TRIMMED_WHERE = " The run page has everything: {url}"
CUT = "\n\n> [!WARNING]\n> This issue was cut at GitHub's {limit:,}-character limit.{where}\n"
TABLE_ROWS = 25
MINIMAL_TITLE = "[{severity}] {environment}: deployment of {sha} failed verification ({code})"
MINIMAL_BODY = """{marker}
> [!WARNING]
> deploy-guard could not lay this issue out ({error}); here are the essentials.

{remedy}

{decision}

{reasons}

The run page: {run}
"""

# Tried in order until the body fits; each level trims more than the one before.
BUDGETS: tuple[Budget, ...] = (
    Budget(),
    Budget(evidence_items=5, evidence_chars=500, trimmed=(EVIDENCE_SHORTENED,)),
    Budget(show_evidence=False, trimmed=(EVIDENCE_LEFT_OUT,)),
    Budget(show_evidence=False, show_chart=False, trimmed=(EVIDENCE_LEFT_OUT, CHART_LEFT_OUT)),
    Budget(
        show_evidence=False,
        show_chart=False,
        table_rows=TABLE_ROWS,
        trimmed=(EVIDENCE_LEFT_OUT, CHART_LEFT_OUT, TABLES_CUT.format(rows=TABLE_ROWS)),
    ),
)


@dataclass(frozen=True)
class RenderedIssue:
    """What is sent to GitHub, and how it was made."""

    title: str
    body: str
    # "built-in", or the repository template's path.
    template: str
    trimmed: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


@cache
def _environment() -> Environment:
    return builtin_environment()


def render_issue(
    context: IncidentContext,
    *,
    template: RepositoryTemplate | None = None,
    people: People | None = None,
    notes: Sequence[str] = (),
    secrets: Sequence[str] = (),
) -> RenderedIssue:
    """The issue for `context`: never longer than GitHub allows, never holding a secret.

    A repository template that fails falls back to the built-in one, with a note saying why.
    """
    safe = redacted(context, secrets)
    all_notes = list(notes)
    if template is not None:
        try:
            return _fit(safe, template, people, all_notes, secrets)
        except TemplateProblem as problem:
            all_notes.append(problem.note)
    try:
        return _fit(safe, None, people, all_notes, secrets)
    except Exception as error:
        # A bug in our own templates must not leave a failed deployment without its issue.
        log.exception("incident.render_failed")
        return _minimal(safe, error, secrets)


def _minimal(context: IncidentContext, error: Exception, secrets: Sequence[str]) -> RenderedIssue:
    reasons = "\n".join(f"- {reason.message}" for reason in context.verdict.reasons)
    body = MINIMAL_BODY.format(
        marker=context.marker,
        error=type(error).__name__,
        remedy=context.remedy.description,
        decision=context.decision.explanation,
        reasons=reasons,
        run=context.links.run_page or "",
    )
    title = MINIMAL_TITLE.format(
        severity=context.severity.value,
        environment=context.environment,
        sha=context.deployment.short_sha,
        code=context.code,
    )
    body = redact(body, secrets)[:BODY_LIMIT]
    return RenderedIssue(redact(title, secrets)[:TITLE_LIMIT], body, BUILT_IN, ("minimal",))


def _fit(
    context: IncidentContext,
    template: RepositoryTemplate | None,
    people: People | None,
    notes: list[str],
    secrets: Sequence[str],
) -> RenderedIssue:
    where = TRIMMED_WHERE.format(url=context.links.run_page) if context.links.run_page else ""
    for budget in BUDGETS:
        level_notes = list(notes)
        if budget.trimmed:
            what = ", ".join(budget.trimmed)
            level_notes.append(TRIMMED.format(limit=BODY_LIMIT, what=what, where=where))
        view = build_view(context, budget, people=people, notes=level_notes)
        values = placeholder_values(view, _environment())
        title, body = _render(template, values)
        title = _title(redact(title, secrets), values)
        body = redact(_with_marker_and_notes(body, values), secrets)
        if context.marker not in body:
            # A secret that happens to occur in the marker (the repository's name) was
            # redacted from it; the marker names only public things, and a retry needs it.
            body = f"{context.marker}\n{body}"
        if len(body) <= BODY_LIMIT:
            used = template.path if template else BUILT_IN
            return RenderedIssue(title, body, used, budget.trimmed, tuple(level_notes))
    cut_note = CUT.format(limit=BODY_LIMIT, where=where)
    kept = body[: BODY_LIMIT - len(cut_note) - len(context.marker) - 1]
    if context.marker not in kept:
        kept = f"{context.marker}\n{kept}"
    used = template.path if template else BUILT_IN
    return RenderedIssue(title, kept + cut_note, used, (*budget.trimmed, "cut"), tuple(notes))


def _render(template: RepositoryTemplate | None, values: dict[str, Any]) -> tuple[str, str]:
    built_in_title = _environment().get_template("title.txt.j2").render(values)
    if template is None:
        return built_in_title, _environment().get_template("incident.md.j2").render(values)
    title, body = render_template(template, values)
    return (title if title and title.strip() else built_in_title), body


def _title(title: str, values: dict[str, Any]) -> str:
    text = " ".join(title.split())
    if not text:
        text = " ".join(_environment().get_template("title.txt.j2").render(values).split())
    return text if len(text) <= TITLE_LIMIT else text[: TITLE_LIMIT - 1].rstrip() + "…"


def _with_marker_and_notes(body: str, values: dict[str, Any]) -> str:
    # A repository template may leave out {{ marker }} or {{ notes }}; both must be there:
    # the marker is how a retry finds the issue, and the notes say what the guard changed.
    marker = str(values["marker"])
    notes = str(values["notes"])
    if notes and notes not in body:
        body = f"{notes}\n\n{body}"
    if marker not in body:
        body = f"{marker}\n{body}"
    return body


def redacted(value: T, secrets: Sequence[str]) -> T:
    """`value` with every secret in any of its strings replaced, through nested dataclasses."""
    if not secrets:
        return value
    return _redact(value, tuple(secrets))  # type: ignore[no-any-return]


def _redact(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, Enum):
        return value
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, tuple):
        return tuple(_redact(item, secrets) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: _redact(getattr(value, f.name), secrets)
            for f in dataclasses.fields(value)
            if f.init
        }
        return dataclasses.replace(value, **changes)
    return value
