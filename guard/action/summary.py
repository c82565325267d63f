"""The job summary: the check run's own Markdown (verdict, reasons, decision, table of checks),
then a chart of the probes, what the guard did, what to configure, and the links."""

from __future__ import annotations

from guard.action.report import ActionReport
from guard.incidents.chart import probe_chart
from guard.outcomes import VerdictKind
from guard.report import check_run as render

HEADING = "## deploy-guard · {environment}: {title}"
ICONS = {VerdictKind.PASS: "✅", VerdictKind.FAIL: "❌", VerdictKind.INCONCLUSIVE: "⚠️"}
NO_VERDICT = "no verdict"
NO_DEPLOYMENT_LINE = "Verification of **{environment}**{sha} from the pipeline."
CHART_HEADING = "### The probes"
DONE_HEADING = "### What the guard did"
PERMISSIONS_HEADING = "### Permissions to add"
LINKS_HEADING = "### Links"
RUN_LINK = "- [This workflow run]({url})"
GUARD_RUN_LINK = "- [The verification on the guard's page]({url})"
DEPLOYMENTS_LINK = "- [Deployments of {environment}]({url})"
INCIDENT_LINK = "- [The incident]({url})"
REMEDY_LINK = "- [The rollback]({url})"
INCIDENT_LINE = "The incident: {url}"


def _subject_part(report: ActionReport) -> str:
    sha = f" at `{report.sha[:7]}`" if report.sha else ""
    return NO_DEPLOYMENT_LINE.format(environment=report.environment, sha=sha)


def _verdict_part(report: ActionReport) -> tuple[str, str]:
    """The heading's title and the check run's Markdown, with this step's own first line."""
    verdict, decision = report.verdict, report.decision
    if verdict is None or decision is None:
        return NO_VERDICT, "\n\n".join([_subject_part(report), report.problem or ""])
    subject = render.Subject(report.environment, report.deployment_id or 0, report.sha or "")
    output = render.finished(subject, verdict, decision, report.rows, run_url=None)
    body = output.summary
    if report.deployment_id is None:
        # The check run opens with "Deployment N of …": without a deployment, say what was.
        body = _subject_part(report) + body.removeprefix(subject.line)
    parts = [body, output.text] if output.text else [body]
    return f"{ICONS[verdict.kind]} {output.title}", "\n\n".join(parts)


def _chart(report: ActionReport) -> str:
    chart = probe_chart(report.results)
    if chart is None:
        return ""
    return f"{CHART_HEADING}\n\n```mermaid\n{chart.source}\n```\n\n{chart.caption}"


def _done(report: ActionReport) -> str:
    lines = []
    if report.remedy:
        link = f" ([the rollback]({report.remedy_url}))" if report.remedy_url else ""
        lines.append(f"{report.remedy}{link}")
    if report.incident_url:
        lines.append(INCIDENT_LINE.format(url=report.incident_url))
    paragraphs = ["\n\n".join(lines)] if lines else []
    paragraphs += [note.paragraph or note.message for note in report.notes]
    if not paragraphs:
        return ""
    return "\n\n".join([DONE_HEADING, *paragraphs])


def _permissions(report: ActionReport) -> str:
    help_ = report.permissions
    if help_ is None:
        return ""
    return f"{PERMISSIONS_HEADING}\n\n{help_.message}\n\n```yaml\n{help_.block}\n```"


def _links(report: ActionReport) -> str:
    lines = []
    if report.actions_run_url:
        lines.append(RUN_LINK.format(url=report.actions_run_url))
    if report.guard_run_url:
        lines.append(GUARD_RUN_LINK.format(url=report.guard_run_url))
    if report.deployments_url:
        lines.append(
            DEPLOYMENTS_LINK.format(environment=report.environment, url=report.deployments_url)
        )
    if report.incident_url:
        lines.append(INCIDENT_LINK.format(url=report.incident_url))
    if report.remedy_url:
        lines.append(REMEDY_LINK.format(url=report.remedy_url))
    return "\n".join([LINKS_HEADING, "", *lines]) if lines else ""


def render_summary(report: ActionReport) -> str:
    """The whole summary as Markdown (the caller redacts it and fits it into 1 MiB)."""
    title, verdict = _verdict_part(report)
    parts = [
        HEADING.format(environment=report.environment, title=title),
        verdict,
        _chart(report),
        _done(report),
        _permissions(report),
        _links(report),
    ]
    return "\n\n".join(part for part in parts if part) + "\n"
