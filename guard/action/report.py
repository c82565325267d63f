"""What the step found and did, in one value: the source of its outputs, annotations, summary
and exit code, whether the verification ran in the runner or in the guard service."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from guard.action.commands import AnnotationKind, Commands
from guard.action.permissions import MISSING_TITLE, PermissionHelp
from guard.outcomes import ProbeResult, Reason, Verdict, VerdictKind
from guard.report.checks import CheckRow
from guard.severity import Decision

FAILED_CHECK_TITLE = "deploy-guard: {name} failed ({phase}, {failures} of {samples} runs)"
FAILED_TITLE = "deploy-guard: {environment} failed verification"
INCONCLUSIVE_TITLE = "deploy-guard: {environment} could not be judged"
WARNING_TITLE = "deploy-guard: {environment} passed with a warning"
NO_VERDICT_TITLE = "deploy-guard: no verdict for {environment}"


class ExitCode(IntEnum):
    """The step's exit status (documented in actions/verify/README.md)."""

    PASS = 0
    FAIL = 1
    # The step is set up wrongly: inputs, policy, permissions, guard-url credentials.
    USAGE = 2
    # No verdict either way: too little evidence, or the guard service gave none in time.
    INCONCLUSIVE = 3


@dataclass(frozen=True)
class Note:
    """Something the user must know: an annotation, and a paragraph in the summary."""

    kind: AnnotationKind
    title: str
    message: str
    # Markdown for the summary; the message when empty.
    paragraph: str = ""


@dataclass
class ActionReport:
    """Everything the step reports about one verification."""

    environment: str
    verdict: Verdict | None
    decision: Decision | None
    rows: tuple[CheckRow, ...] = ()
    results: tuple[ProbeResult, ...] = ()
    deployment_id: int | None = None
    sha: str | None = None
    # This workflow run, and (remote mode) the guard's own page of the verification.
    actions_run_url: str | None = None
    guard_run_url: str | None = None
    deployments_url: str | None = None
    remedy: str | None = None
    remedy_url: str | None = None
    rollback_ref: str | None = None
    incident_url: str | None = None
    # Why there is no verdict (remote mode), in one sentence.
    problem: str | None = None
    notes: list[Note] = field(default_factory=list)
    permissions: PermissionHelp | None = None
    # The step's setup kept it from doing what the policy asks (no token, guard-url refused).
    setup_problem: str | None = None

    @property
    def run_url(self) -> str | None:
        """The `run-url` output: the guard's page when it ran the checks, else this run."""
        return self.guard_run_url or self.actions_run_url

    @property
    def exit_code(self) -> ExitCode:
        if self.verdict is not None and self.verdict.kind is VerdictKind.FAIL:
            return ExitCode.FAIL
        if self.permissions is not None or self.setup_problem is not None:
            return ExitCode.USAGE
        if self.verdict is None or self.verdict.kind is VerdictKind.INCONCLUSIVE:
            return ExitCode.INCONCLUSIVE
        return ExitCode.PASS

    def outputs(self) -> dict[str, str]:
        """The Action's outputs; an empty string for what does not apply."""
        verdict = self.verdict
        return {
            "verdict": verdict.kind.value if verdict else "",
            "severity": verdict.severity.value if verdict and verdict.severity else "",
            "incident-url": self.incident_url or "",
            "rollback-ref": self.rollback_ref or "",
            "run-url": self.run_url or "",
        }


def annotate(report: ActionReport, commands: Commands) -> None:
    """A failed verdict: one error per failed check (or the verdict, when no check says why).
    Any other verdict: its reasons and warnings as warnings. Then every note."""
    environment = report.environment
    verdict = report.verdict
    if verdict is None:
        title = NO_VERDICT_TITLE.format(environment=environment)
        commands.annotate("error", report.problem or "", title=title)
    elif verdict.kind is VerdictKind.FAIL:
        _failed(report, verdict.reasons, commands)
    elif verdict.kind is VerdictKind.INCONCLUSIVE:
        reasons = " ".join(reason.message for reason in verdict.reasons)
        title = INCONCLUSIVE_TITLE.format(environment=environment)
        commands.annotate("warning", reasons, title=title)
    if verdict is not None:
        # A probe that failed and recovered is a warning here, not an error of its own.
        for warning in verdict.warnings:
            title = WARNING_TITLE.format(environment=environment)
            commands.annotate("warning", warning.message, title=title)
    for note in report.notes:
        commands.annotate(note.kind, note.message, title=note.title)
    if report.permissions is not None:
        help_ = report.permissions
        commands.annotate("error", f"{help_.message} {help_.one_line}", title=MISSING_TITLE)


def _failed(report: ActionReport, reasons: tuple[Reason, ...], commands: Commands) -> None:
    failed_rows = [row for row in report.rows if row.failures]
    for row in failed_rows:
        title = FAILED_CHECK_TITLE.format(
            name=row.name, phase=row.phase.value, failures=row.failures, samples=row.samples
        )
        commands.annotate("error", row.detail or row.last_summary, title=title)
    if not failed_rows:
        # Thresholds and missing data fail a verdict without any one check failing.
        message = " ".join(reason.message for reason in reasons)
        commands.annotate(
            "error", message, title=FAILED_TITLE.format(environment=report.environment)
        )
