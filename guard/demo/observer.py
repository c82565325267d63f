"""What changed on GitHub since the last look, as the demo's lines: deployments, webhooks, the
guard's check runs, statuses, issues and comments."""

from __future__ import annotations

from dataclasses import dataclass, field

from guard.demo.facts import Tables, by_guard
from guard.sandbox.webhooks import Delivery

DEPLOYMENT = "GitHub: deployment {id} of {sha} ({ref}) to {environment} created by {creator}"
ROLLBACK_DEPLOYMENT = (
    "deploy-guard rolled back: deployment {id} of {sha} to {environment} (the last verified-good "
    "commit), created by {creator}"
)
WEBHOOK = "webhook {event}.{action} signed and delivered to serve: {status} {meaning}"
WEBHOOK_FAILED = "webhook {event}.{action} could not be delivered to serve: {error}"
MEANINGS = {202: "(accepted: work queued)"}
GUARD_STATUS = "deploy-guard set deployment {id} to {state}: {description}"
CHECK_RUN = "deploy-guard check run on {sha}: {title}"
CHECK_RUN_DONE = "deploy-guard check run on {sha} completed, {conclusion}: {title}"
ISSUE = "deploy-guard filed incident #{number}: {title}"
ISSUE_PEOPLE = "  labels: {labels}; assigned to: {assignees}"
NOBODY = "nobody"
COMMENT = "deploy-guard commented on #{number}: {first_line}"


def _first_line(body: str) -> str:
    """The first line a reader would see: after the hidden markers, without bold marks."""
    for line in body.splitlines():
        text = line.strip()
        if text and not text.startswith("<!--"):
            return text.replace("**", "")
    return ""


@dataclass
class Observer:
    """Remembers what it has told; `changes` returns lines for what is new since."""

    app_login: str
    _deployments: set[int] = field(default_factory=set)
    _statuses: set[int] = field(default_factory=set)
    _checks: dict[int, tuple[str, str | None, str | None]] = field(default_factory=dict)
    _issues: set[int] = field(default_factory=set)
    _comments: set[int] = field(default_factory=set)
    _deliveries: int = 0

    def changes(self, tables: Tables, deliveries: list[Delivery]) -> list[str]:
        lines: list[str] = []
        lines += self._new_deployments(tables)
        lines += self._new_deliveries(deliveries)
        lines += self._new_statuses(tables)
        lines += self._new_checks(tables)
        lines += self._new_issues(tables)
        lines += self._new_comments(tables)
        return lines

    def _new_deployments(self, tables: Tables) -> list[str]:
        lines = []
        for deployment in tables.deployments:
            if deployment.id in self._deployments:
                continue
            self._deployments.add(deployment.id)
            template = ROLLBACK_DEPLOYMENT if by_guard(deployment) else DEPLOYMENT
            lines.append(
                template.format(
                    id=deployment.id,
                    sha=deployment.sha[:7],
                    ref=deployment.ref if len(deployment.ref) < 40 else deployment.ref[:7],
                    environment=deployment.environment,
                    creator=deployment.creator,
                )
            )
        return lines

    def _new_deliveries(self, deliveries: list[Delivery]) -> list[str]:
        lines = []
        for delivery in deliveries[self._deliveries :]:
            if delivery.status is None:
                lines.append(
                    WEBHOOK_FAILED.format(
                        event=delivery.event, action=delivery.action, error=delivery.error
                    )
                )
            elif delivery.status != 200:
                # 200s are deliveries serve records or ignores (a deployment, a status on
                # the way): only what starts work, or goes wrong, is worth a line.
                lines.append(
                    WEBHOOK.format(
                        event=delivery.event,
                        action=delivery.action,
                        status=delivery.status,
                        meaning=MEANINGS.get(delivery.status, ""),
                    ).rstrip()
                )
        self._deliveries = len(deliveries)
        return lines

    def _new_statuses(self, tables: Tables) -> list[str]:
        lines = []
        for status in tables.statuses:
            if status.id in self._statuses:
                continue
            self._statuses.add(status.id)
            # The pipeline tells of its own statuses; these are the guard's.
            if status.creator == self.app_login:
                lines.append(
                    GUARD_STATUS.format(
                        id=status.deployment_id,
                        state=status.state,
                        description=status.description or "-",
                    )
                )
        return lines

    def _new_checks(self, tables: Tables) -> list[str]:
        lines = []
        for run in tables.check_runs:
            seen = (run.status, run.conclusion, run.output_title)
            if self._checks.get(run.id) == seen:
                continue
            self._checks[run.id] = seen
            title = run.output_title or ""
            if run.status == "completed":
                lines.append(
                    CHECK_RUN_DONE.format(
                        sha=run.head_sha[:7], conclusion=run.conclusion, title=title
                    )
                )
            else:
                lines.append(CHECK_RUN.format(sha=run.head_sha[:7], title=title))
        return lines

    def _new_issues(self, tables: Tables) -> list[str]:
        lines = []
        for issue in tables.issues:
            if issue.id in self._issues:
                continue
            self._issues.add(issue.id)
            lines.append(ISSUE.format(number=issue.number, title=issue.title))
            assignees = ", ".join(f"@{login}" for login in issue.assignees) or NOBODY
            lines.append(ISSUE_PEOPLE.format(labels=", ".join(issue.labels), assignees=assignees))
        return lines

    def _new_comments(self, tables: Tables) -> list[str]:
        lines = []
        for comment in tables.comments:
            if comment.id in self._comments:
                continue
            self._comments.add(comment.id)
            lines.append(
                COMMENT.format(number=comment.issue_number, first_line=_first_line(comment.body))
            )
        return lines
