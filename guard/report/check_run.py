"""A verification as the check run on the deployed commit: its name, title, summary and table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from guard.outcomes import Phase, ProbeStatus, Reason, Verdict, VerdictKind, format_latency
from guard.policy.errors import PolicyError
from guard.report.checks import CheckRow
from guard.severity import Decision

CheckRunConclusion = Literal["success", "failure", "neutral"]

NAME = "deploy-guard / {environment}"
# GitHub refuses a check run output whose summary or text is longer than this.
OUTPUT_LIMIT = 65_535
# A deployment status description longer than this is refused with a 422.
STATUS_DESCRIPTION_LIMIT = 140
CUT_NOTE = "\n\n… (cut to fit GitHub's limit; the run page has everything)"

DEPLOYMENT_LINE = "Deployment {deployment} of `{sha}` to **{environment}**."
STARTED_TITLE = "Verifying {environment}"
STARTED_SUMMARY = "Running the smoke checks; the watch follows."
STARTED_NO_SMOKE = "No smoke checks: the watch starts now."
PROGRESS_TITLE = "Watching {environment}: round {done} of {planned}"
SMOKE_DONE_TITLE = "Verifying {environment}: smoke checks done"
PROGRESS_LINE = "Round {done} of {planned} done · {failures} so far"
SMOKE_DONE_LINE = (
    "Smoke checks done: {passed} passed, {failed} failed · {planned} watch rounds next"
)
# What a threshold's reason is about, in words for a title.
THRESHOLD_WORDS = {
    "consecutive_failures": "failed rounds in a row",
    "error_rate": "error rate",
    "p95_latency": "p95 latency",
    "min_samples": "too few samples",
    "policy": "nothing to check",
}
TITLES = {
    VerdictKind.PASS: "Passed: {environment} is healthy",
    VerdictKind.FAIL: "Failed ({severity}): {subject}",
    VerdictKind.INCONCLUSIVE: "Inconclusive: {environment} could not be judged",
}
PASS_WITH_WARNINGS = "Passed with a {severity} warning: {environment} is degraded"  # noqa: S105
VERDICT_LINE = "**Verdict: {verdict}**{severity}{rounds}"
WARNINGS_HEADING = "**Warnings**"
DECISION_LINE = "**Decision:** {explanation}"
RUN_LINK = "[The run: timeline, probes and evidence]({url})"
TABLE_HEADER = (
    "| Check | Phase | Result | Runs | Failed | p95 | Last |",
    "|---|---|---|--:|--:|--:|---|",
)
DETAILS_HEADING = "### What the checks saw"
RESULT_WORDS = {
    ProbeStatus.PASS: "pass",
    ProbeStatus.FAIL: "**FAIL**",
    ProbeStatus.NO_DATA: "no data",
}
VERDICT_WORDS = {
    VerdictKind.PASS: "PASS",
    VerdictKind.FAIL: "FAIL",
    VerdictKind.INCONCLUSIVE: "INCONCLUSIVE",
}
POLICY_INVALID_TITLE = "The policy is invalid: {count}"
POLICY_INVALID_SUMMARY = (
    "deploy-guard did not verify this deployment: `{path}` at `{sha}` cannot be used. "
    "Fix it (check it locally with `deploy-guard validate {path}`) and deploy again."
)
SUPERSEDED_TITLE = "Superseded by deployment {newer}"
SUPERSEDED_SUMMARY = (
    "This verification stopped after {done} of {planned} watch rounds: it was superseded by "
    "deployment {newer} to {environment}, which replaces this one, so it is neither judged "
    "nor rolled back."
)
ERROR_TITLE = "deploy-guard could not finish verifying {environment}"
ERROR_SUMMARY = (
    "The verification stopped after {failures} failed attempts; the last one: {error}. "
    "Nothing was judged and nothing was rolled back."
)
CONCLUSIONS: dict[VerdictKind, CheckRunConclusion] = {
    VerdictKind.PASS: "success",
    VerdictKind.FAIL: "failure",
    VerdictKind.INCONCLUSIVE: "neutral",
}
STATUS_FAILED = "deploy-guard: {verdict} ({severity}): {reason}"


@dataclass(frozen=True)
class Subject:
    """What a check run is about: a deployment of a commit to an environment."""

    environment: str
    deployment_id: int
    sha: str

    @property
    def line(self) -> str:
        return DEPLOYMENT_LINE.format(
            deployment=self.deployment_id, sha=self.sha[:7], environment=self.environment
        )


@dataclass(frozen=True)
class CheckRunOutput:
    """A check run's output; `conclusion` is set once the run is complete."""

    title: str
    summary: str
    text: str = ""
    conclusion: CheckRunConclusion | None = None


def check_run_name(environment: str) -> str:
    return NAME.format(environment=environment)


def conclusion_for(kind: VerdictKind) -> CheckRunConclusion:
    """success for PASS, failure for FAIL, neutral for a verdict a person must make."""
    return CONCLUSIONS[kind]


def fit(text: str, limit: int = OUTPUT_LIMIT) -> str:
    """`text` cut to `limit` characters, saying so at the end when something was cut."""
    if len(text) <= limit:
        return text
    return text[: limit - len(CUT_NOTE)].rstrip() + CUT_NOTE


def _cell(text: str) -> str:
    """Table cell text: a pipe or a line break would end the cell or the row."""
    return " ".join(text.replace("|", "\\|").split()) or "-"


def _latency(row: CheckRow) -> str:
    return format_latency(row.p95_latency_s) if row.p95_latency_s is not None else "-"


def checks_markdown(rows: Sequence[CheckRow]) -> str:
    """The Markdown table of checks: one row per check, what it saw last in the last column."""
    lines = list(TABLE_HEADER)
    for row in rows:
        cells = (
            _cell(row.name),
            row.phase.value,
            RESULT_WORDS[row.status],
            str(row.samples),
            str(row.failures),
            _latency(row),
            _cell(row.last_summary),
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _details(rows: Sequence[CheckRow]) -> str:
    """The sentence of every check that failed or had no data: what to look at first."""
    troubled = [row for row in rows if row.failures or row.no_data]
    if not troubled:
        return ""
    lines = [DETAILS_HEADING, ""]
    lines += [f"- **{_cell(row.name)}** ({row.phase.value}): {row.detail}" for row in troubled]
    return "\n".join(lines)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def started(subject: Subject, *, has_smoke: bool, run_url: str | None) -> CheckRunOutput:
    """The check run as it is created, before any result."""
    parts = [subject.line, STARTED_SUMMARY if has_smoke else STARTED_NO_SMOKE]
    if run_url:
        parts.append(RUN_LINK.format(url=run_url))
    return CheckRunOutput(STARTED_TITLE.format(environment=subject.environment), "\n\n".join(parts))


def progress(
    subject: Subject,
    *,
    rounds_done: int,
    rounds_planned: int,
    failures: int,
    rows: Sequence[CheckRow],
    run_url: str | None,
) -> CheckRunOutput:
    """Where the verification stands after its smoke checks or a watch round."""
    if rounds_done == 0:
        title = SMOKE_DONE_TITLE.format(environment=subject.environment)
    else:
        title = PROGRESS_TITLE.format(
            environment=subject.environment, done=rounds_done, planned=rounds_planned
        )
    if rounds_done == 0:
        smoke = [row for row in rows if row.phase is Phase.SMOKE]
        failed = sum(row.status is ProbeStatus.FAIL for row in smoke)
        line = SMOKE_DONE_LINE.format(
            passed=len(smoke) - failed, failed=failed, planned=rounds_planned
        )
    else:
        line = PROGRESS_LINE.format(
            done=rounds_done, planned=rounds_planned, failures=_plural(failures, "failure")
        )
    parts = [subject.line, line, checks_markdown(rows)]
    if run_url:
        parts.append(RUN_LINK.format(url=run_url))
    return CheckRunOutput(title, fit("\n\n".join(parts)), fit(_details(rows)))


def _title(subject: Subject, verdict: Verdict) -> str:
    if verdict.kind is VerdictKind.PASS and verdict.severity is not None:
        return PASS_WITH_WARNINGS.format(
            severity=verdict.severity.value, environment=subject.environment
        )
    severity = verdict.severity
    return TITLES[verdict.kind].format(
        environment=subject.environment,
        severity=f"{severity.value} {severity.label}" if severity else "",
        subject=", ".join(
            dict.fromkeys(THRESHOLD_WORDS.get(r.subject, r.subject) for r in verdict.reasons)
        ),
    )


def _verdict_line(verdict: Verdict) -> str:
    severity = (
        f" · severity **{verdict.severity.value}** ({verdict.severity.label})"
        if verdict.severity
        else ""
    )
    rounds = (
        f" · after {verdict.rounds_done} of {verdict.rounds_planned} watch rounds"
        if verdict.rounds_planned
        else ""
    )
    return VERDICT_LINE.format(
        verdict=VERDICT_WORDS[verdict.kind], severity=severity, rounds=rounds
    )


def _sentences(reasons: Sequence[Reason]) -> str:
    return "\n".join(f"- {reason.message}" for reason in reasons)


def finished(
    subject: Subject,
    verdict: Verdict,
    decision: Decision,
    rows: Sequence[CheckRow],
    *,
    run_url: str | None,
) -> CheckRunOutput:
    """The completed check run: verdict, every reason as a sentence, the decision, the table."""
    parts = [subject.line, _verdict_line(verdict), _sentences(verdict.reasons)]
    if verdict.warnings:
        parts += [WARNINGS_HEADING, _sentences(verdict.warnings)]
    parts.append(DECISION_LINE.format(explanation=decision.explanation))
    if rows:
        parts.append(checks_markdown(rows))
    if run_url:
        parts.append(RUN_LINK.format(url=run_url))
    return CheckRunOutput(
        _title(subject, verdict),
        fit("\n\n".join(parts)),
        fit(_details(rows)),
        conclusion_for(verdict.kind),
    )


def policy_invalid(subject: Subject, error: PolicyError, *, path: str, sha: str) -> CheckRunOutput:
    """A failed check run listing every problem of the policy, each with its line."""
    problems = "\n".join(issue.render() for issue in error.issues)
    summary = "\n\n".join(
        [
            subject.line,
            POLICY_INVALID_SUMMARY.format(path=path, sha=sha[:7]),
            f"```\n{problems}\n```",
        ]
    )
    title = POLICY_INVALID_TITLE.format(count=_plural(len(error.issues), "error"))
    return CheckRunOutput(title, fit(summary), conclusion="failure")


def superseded(
    subject: Subject, *, newer_deployment_id: int, rounds_done: int, rounds_planned: int
) -> CheckRunOutput:
    """A neutral check run: a newer deployment replaced this one before its verdict."""
    summary = SUPERSEDED_SUMMARY.format(
        done=rounds_done,
        planned=rounds_planned,
        newer=newer_deployment_id,
        environment=subject.environment,
    )
    return CheckRunOutput(
        SUPERSEDED_TITLE.format(newer=newer_deployment_id),
        f"{subject.line}\n\n{summary}",
        conclusion="neutral",
    )


def gave_up(subject: Subject, *, failures: int, error: str) -> CheckRunOutput:
    """A neutral check run: the guard itself kept failing, so it says so rather than judge."""
    summary = ERROR_SUMMARY.format(failures=failures, error=error.rstrip("."))
    return CheckRunOutput(
        ERROR_TITLE.format(environment=subject.environment),
        fit(f"{subject.line}\n\n{summary}"),
        conclusion="neutral",
    )


def status_description(verdict: Verdict) -> str:
    """The failed deployment status's description: the verdict and its first reason, ≤140."""
    severity = verdict.severity.value if verdict.severity else "-"
    reason = verdict.reasons[0].message if verdict.reasons else ""
    text = STATUS_FAILED.format(
        verdict=VERDICT_WORDS[verdict.kind], severity=severity, reason=reason
    )
    if len(text) <= STATUS_DESCRIPTION_LIMIT:
        return text
    return text[: STATUS_DESCRIPTION_LIMIT - 1].rstrip() + "…"
