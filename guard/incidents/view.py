"""The incident prepared for its templates at a size budget: capped tables, chart, evidence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from guard.incidents.assignees import People
from guard.incidents.chart import Chart, probe_chart
from guard.incidents.context import IncidentContext, SuspectCommit, TimelineEntry, as_utc
from guard.incidents.evidence import EvidenceSet, gather
from guard.outcomes import Phase, ProbeStatus, Reason, Severity
from guard.report.checks import CheckRow

T = TypeVar("T")

TIMELINE_DEPLOYED = "Deployment {id} of `{sha}` ({ref}) created{by}."
TIMELINE_BY = " by {login}"
TIMELINE_VERDICT = "Verdict {verdict} ({severity}) after {rounds} of {planned} watch rounds."
# Days until the post-mortem is due, by severity (the runbooks: within a week, sooner if worse).
POSTMORTEM_DAYS = {Severity.P0: 3, Severity.P1: 5, Severity.P2: 10, Severity.P3: 10}


@dataclass(frozen=True)
class Budget:
    """How much of each bulky part an issue body may show; smaller budgets trim more."""

    evidence_items: int = 10
    evidence_chars: int = 2000
    show_evidence: bool = True
    show_chart: bool = True
    # None: every row of every table.
    table_rows: int | None = None
    # What this budget left out, in words for the note at the top.
    trimmed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Capped(Generic[T]):
    """A table's rows, and how many were left out."""

    rows: tuple[T, ...]
    more: int = 0


def cap(items: Sequence[T], limit: int | None) -> Capped[T]:
    if limit is None or len(items) <= limit:
        return Capped(tuple(items))
    return Capped(tuple(items[:limit]), len(items) - limit)


@dataclass(frozen=True)
class Exposure:
    """How much of the verification failed: the numbers behind the impact section."""

    failed: int
    judged: int
    unreachable: int
    failed_checks: tuple[str, ...]
    failed_rounds: int
    rounds: int

    @property
    def percent(self) -> int:
        return round(100 * self.failed / self.judged) if self.judged else 0


@dataclass(frozen=True)
class View:
    """What the section templates read, already cut to the budget."""

    context: IncidentContext
    severity: Severity
    people: People
    notes: tuple[str, ...]
    reasons: Capped[Reason]
    warnings: Capped[Reason]
    checks: Capped[CheckRow]
    timeline: Capped[TimelineEntry]
    suspects: Capped[SuspectCommit]
    chart: Chart | None
    evidence: EvidenceSet | None
    exposure: Exposure
    budget: Budget
    postmortem_days: int
    pulls: tuple[SuspectCommit, ...] = field(default=())

    @property
    def chart_trimmed(self) -> bool:
        return not self.budget.show_chart

    @property
    def evidence_trimmed(self) -> bool:
        return not self.budget.show_evidence


def build_view(
    context: IncidentContext,
    budget: Budget,
    *,
    people: People | None = None,
    notes: Sequence[str] = (),
) -> View:
    """The view of `context` at `budget`, with the guard's notes for the top of the issue."""
    rows = budget.table_rows
    verdict = context.verdict
    pulls = tuple({c.pull_number: c for c in context.suspects if c.pull_number}.values())
    return View(
        context=context,
        severity=context.severity,
        people=people or People(),
        notes=tuple(notes),
        reasons=cap(verdict.reasons, rows),
        warnings=cap(verdict.warnings, rows),
        checks=cap(context.rows, rows),
        timeline=cap(timeline(context), rows),
        suspects=cap(context.suspects, rows),
        chart=probe_chart(context.results) if budget.show_chart else None,
        evidence=(
            gather(context.results, items=budget.evidence_items, chars=budget.evidence_chars)
            if budget.show_evidence
            else None
        ),
        exposure=exposure(context),
        budget=budget,
        postmortem_days=POSTMORTEM_DAYS[context.severity],
        pulls=pulls,
    )


def timeline(context: IncidentContext) -> list[TimelineEntry]:
    """The given entries between the deployment's creation and the verdict, oldest first."""
    deployment = context.deployment
    verdict = context.verdict
    by = TIMELINE_BY.format(login=deployment.creator_login) if deployment.creator_login else ""
    created = TimelineEntry(
        as_utc(deployment.created_at),
        TIMELINE_DEPLOYED.format(
            id=deployment.id, sha=deployment.short_sha, ref=deployment.ref, by=by
        ),
    )
    decided = TimelineEntry(
        as_utc(context.detected_at),
        TIMELINE_VERDICT.format(
            verdict=verdict.kind.value.upper(),
            severity=context.severity.value,
            rounds=verdict.rounds_done,
            planned=verdict.rounds_planned,
        ),
    )
    given = [TimelineEntry(as_utc(entry.at), entry.what) for entry in context.timeline]
    unique = dict.fromkeys([created, *given, decided])
    # sorted() is stable: entries at the same moment keep the order they were given in.
    return sorted(unique, key=lambda entry: entry.at)


def exposure(context: IncidentContext) -> Exposure:
    """Failed and judged probe results, unreachable ones, failing checks and failed rounds."""
    judged = [r for r in context.results if r.status is not ProbeStatus.NO_DATA]
    failed = [r for r in judged if r.failed]
    rounds = {r.round for r in context.results if r.round > 0}
    failed_rounds = {r.round for r in failed if r.round > 0}
    names = tuple(dict.fromkeys(r.name for r in failed if r.phase is not Phase.METRIC))
    return Exposure(
        failed=len(failed),
        judged=len(judged),
        unreachable=sum(r.unreachable for r in failed),
        failed_checks=names,
        failed_rounds=len(failed_rounds),
        rounds=len(rounds),
    )
