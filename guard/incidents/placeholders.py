"""The `{{ placeholders }}` an incident template may use, each documented, and their values."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment

from guard.incidents.markdown import duration, utc
from guard.incidents.view import View

# name -> what it holds. Templates in a repository may use exactly these; the built-in
# template is written with them too, so it doubles as an example.
SCALARS: dict[str, str] = {
    "incident_code": "The incident's code, e.g. INC-20261122-001.",
    "severity": "P0, P1, P2 or P3.",
    "severity_name": "critical, high, medium or low.",
    "response_target": "How soon someone must respond: 15 min, 1 h, 4 h or 24 h.",
    "repository": "owner/name.",
    "environment": "The deployment environment, e.g. production.",
    "environment_url": "Where the deployed service answers (empty when unknown).",
    "deployment_id": "GitHub's id of the failed deployment.",
    "deployment_url": "A link to the failed deployment (empty when unknown).",
    "sha": "The deployed commit's full SHA.",
    "short_sha": "The deployed commit's SHA, 7 characters.",
    "ref": "The deployed ref (branch, tag or SHA).",
    "deployer": "The login of whoever created the deployment (empty when unknown).",
    "deployed_at": "When the deployment was created, in UTC.",
    "detected_at": "When the guard reached its verdict, in UTC.",
    "time_to_detect": "From the deployment to the verdict, e.g. 3 min 12 s.",
    "verdict": "FAIL, PASS or INCONCLUSIVE.",
    "decision": "One sentence: what the verdict called for, and why.",
    "mode": "enforce, or shadow when the guard only says what it would have done.",
    "escalated": "True when a rollback's own verification failed (the incident is P0).",
    "last_good_sha": "The last verified-good deployment's SHA (empty when there is none).",
    "last_good_ref": "The last verified-good deployment's ref (empty when there is none).",
    "remedy": "One sentence: what the guard did, or would have done, about it.",
    "remedy_url": "The rollback's deployment, commit or pull request (empty when none).",
    "run_url": "The guard's page of this run (empty without GUARD_PUBLIC_URL).",
    "check_run_url": "The check run on the deployed commit (empty when none).",
    "compare_url": "The comparison of the last good and the bad SHA (empty when none).",
    "assignees": "The assigned people as @mentions, comma separated.",
    "teams": "Code-owner teams (which cannot be assignees) as @mentions.",
    "marker": "The hidden line that lets the guard find this issue again.",
}
SECTIONS: dict[str, str] = {
    "notes": "The guard's notes on this issue (trimmed, template fallback, refused assignees).",
    "summary": "What happened, in two sentences, and the main reason.",
    "severity_section": "The severity, what it means, its response target, any escalation.",
    "environment_table": "Repository, environment, deployment, commit, deployer, last good.",
    "reasons_table": "Every reason: observed value, condition, window, samples, severity.",
    "warnings_table": "Warnings that did not decide the verdict (empty when none).",
    "checks_table": "Every check: runs, failures, p95 latency and what it saw last.",
    "impact": "What users may have seen, for how long, and where things stand now.",
    "timeline_table": "What happened when, in UTC.",
    "remedy_section": "What the guard did, with links.",
    "next_steps": "A checklist for whoever picks the incident up.",
    "suspects_table": "Commits and pull requests between the last good and the bad SHA.",
    "people": "Who is assigned, which teams own the code, and why someone is missing.",
    "links": "Deployment, run, check run, rollback and comparison links.",
    "chart": "A Mermaid chart of the probes (empty when nothing was timed).",
    "evidence": "Excerpts of the failing responses.",
    "post_incident_checklist": "Verify, communicate, post-mortem and follow-ups.",
}
PLACEHOLDERS: dict[str, str] = {**SCALARS, **SECTIONS}


def scalar_values(view: View) -> dict[str, Any]:
    """Every scalar placeholder's value for `view`."""
    context = view.context
    deployment = context.deployment
    good = context.last_good
    links = context.links
    return {
        "incident_code": context.code,
        "severity": view.severity.value,
        "severity_name": view.severity.label,
        "response_target": view.severity.response_target,
        "repository": context.repository,
        "environment": context.environment,
        "environment_url": deployment.environment_url or "",
        "deployment_id": str(deployment.id),
        "deployment_url": links.deployment or deployment.url or "",
        "sha": deployment.sha,
        "short_sha": deployment.short_sha,
        "ref": deployment.ref,
        "deployer": deployment.creator_login or "",
        "deployed_at": utc(deployment.created_at),
        "detected_at": utc(context.detected_at),
        "time_to_detect": duration(context.detect_seconds),
        "verdict": context.verdict.kind.value.upper(),
        "decision": context.decision.explanation,
        "mode": "shadow" if context.decision.shadow else "enforce",
        "escalated": context.decision.escalated,
        "last_good_sha": good.sha if good else "",
        "last_good_ref": good.ref if good else "",
        "remedy": context.remedy.description,
        "remedy_url": links.remedy or context.remedy.url or "",
        "run_url": links.run_page or "",
        "check_run_url": links.check_run or "",
        "compare_url": links.compare or "",
        "assignees": ", ".join(f"@{login}" for login in view.people.assignees),
        "teams": ", ".join(view.people.teams),
        "marker": context.marker,
    }


def section_values(view: View, environment: Environment) -> dict[str, str]:
    """Every section placeholder rendered from its template, without trailing blank lines."""
    values = {}
    for name in SECTIONS:
        template = environment.get_template(f"sections/{name}.md.j2")
        values[name] = template.render(v=view, c=view.context).strip("\n")
    return values


def placeholder_values(view: View, environment: Environment) -> dict[str, Any]:
    """Every placeholder's value: what a template (built-in or the repository's) renders with."""
    return {**scalar_values(view), **section_values(view, environment)}


def reference(environment: Environment) -> str:
    """PLACEHOLDERS.md: the placeholders as a page for the people who write templates."""
    template = environment.get_template("placeholders_reference.md.j2")
    return template.render(scalars=SCALARS, sections=SECTIONS)
