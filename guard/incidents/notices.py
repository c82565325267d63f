"""The short texts around an incident: the suspect pull request comment and the chat messages."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from jinja2 import Environment

from guard.github.models import IssueRef
from guard.incidents.context import IncidentContext, SuspectCommit
from guard.incidents.render import RenderedIssue
from guard.incidents.slack import slack_escape
from guard.incidents.templating import builtin_environment
from guard.incidents.updates import HEADINGS, UpdateDetails, UpdateKind
from guard.policy.secrets import redact

SUSPECT_MARKER = "<!-- deploy-guard:suspect repo={repository} deployment={deployment} -->"


@cache
def _environment() -> Environment:
    environment = builtin_environment()
    environment.filters["slack"] = slack_escape
    return environment


class Notices:
    """Renders the notices from templates, with every secret the guard holds redacted."""

    def __init__(self, secrets: Sequence[str]) -> None:
        self.secrets = tuple(secrets)

    def suspect_comment(
        self,
        context: IncidentContext,
        issue: IssueRef,
        commits: Sequence[SuspectCommit],
        repository: str,
    ) -> str:
        """The one comment on a suspect pull request, linking the incident."""
        reasons = context.verdict.reasons or context.verdict.warnings
        text = (
            _environment()
            .get_template("suspect_pull.md.j2")
            .render(
                marker=SUSPECT_MARKER.format(
                    repository=repository, deployment=context.deployment.id
                ),
                c=context,
                issue_link=f"[{context.code}]({issue.html_url})"
                if issue.html_url
                else context.code,
                commits=list(commits),
                reason=reasons[0].message if reasons else "",
            )
        )
        return redact(text.strip("\n") + "\n", self.secrets)

    def opened(self, context: IncidentContext, rendered: RenderedIssue, issue: IssueRef) -> str:
        """The chat message when the incident is filed."""
        reasons = context.verdict.reasons or context.verdict.warnings
        text = (
            _environment()
            .get_template("slack_opened.txt.j2")
            .render(
                title=rendered.title,
                summary=reasons[0].message if reasons else context.decision.explanation,
                remedy=context.remedy.description,
                issue_url=issue.html_url,
                run_url=context.links.run_page,
            )
        )
        return redact(text.strip(), self.secrets)

    def update(self, kind: UpdateKind, text: str, details: UpdateDetails, issue_url: str) -> str:
        """The chat message for one update of the incident."""
        message = (
            _environment()
            .get_template("slack_update.txt.j2")
            .render(
                code=details.code or "incident",
                heading=HEADINGS[kind],
                text=text.strip(),
                issue_url=issue_url,
            )
        )
        return redact(message.strip(), self.secrets)
