"""A verification as terminal text: progress lines, the checks table, the verdict."""

from __future__ import annotations

from collections.abc import Sequence

from guard.outcomes import ProbeStatus, Verdict, VerdictKind
from guard.report.checks import CheckRow
from guard.runner import Progress

STATUS_WORDS = {ProbeStatus.PASS: "pass", ProbeStatus.FAIL: "FAIL", ProbeStatus.NO_DATA: "no data"}
VERDICT_WORDS = {
    VerdictKind.PASS: "PASS",
    VerdictKind.FAIL: "FAIL",
    VerdictKind.INCONCLUSIVE: "INCONCLUSIVE",
}


def progress_line(progress: Progress) -> str:
    """One line saying where the verification stands: round n of m, failures, next round in."""
    if progress.phase == "smoke":
        if not progress.latest:
            return "smoke checks: running"
        failed_count = sum(r.failed for r in progress.latest)
        return f"smoke checks: {len(progress.latest) - failed_count} passed, {failed_count} failed"
    parts = [f"watch: round {progress.rounds_done} of {progress.rounds_planned}"]
    parts.append(f"{progress.failures} failure{'s' if progress.failures != 1 else ''} so far")
    if progress.next_round_in is not None:
        parts.append(f"next round in {progress.next_round_in:.0f}s")
    elif progress.latest:
        failed = [r for r in progress.latest if r.failed]
        parts.append(
            "this round: " + ("; ".join(f"{r.name}: {r.summary}" for r in failed) or "all passed")
        )
    return " · ".join(parts)


def _latency(row: CheckRow) -> str:
    if row.p95_latency_s is None:
        return "-"
    return f"{row.p95_latency_s * 1000:.0f} ms"


def checks_table(rows: Sequence[CheckRow]) -> str:
    """A fixed-width table of checks; the last column says what the check saw last."""
    header = ("CHECK", "PHASE", "RESULT", "RUNS", "FAILED", "P95", "LAST")
    lines = [
        (
            row.name,
            row.phase.value,
            STATUS_WORDS[row.status],
            str(row.samples),
            str(row.failures),
            _latency(row),
            row.last_summary,
        )
        for row in rows
    ]
    widths = [max(len(cells[i]) for cells in [header, *lines]) for i in range(len(header) - 1)]

    def fmt(cells: tuple[str, ...]) -> str:
        fixed = "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=False))
        return f"{fixed}  {cells[-1]}".rstrip()

    return "\n".join(fmt(cells) for cells in [header, *lines])


def verdict_block(verdict: Verdict, decision_sentence: str | None = None) -> str:
    """The verdict, its severity and every reason as a sentence."""
    severity = f" ({verdict.severity.value} {verdict.severity.label})" if verdict.severity else ""
    rounds = (
        f" after {verdict.rounds_done} of {verdict.rounds_planned} watch rounds"
        if verdict.rounds_planned
        else ""
    )
    lines = [f"Verdict: {VERDICT_WORDS[verdict.kind]}{severity}{rounds}"]
    lines += [f"  - {reason.message}" for reason in verdict.reasons]
    if verdict.warnings:
        lines.append("Warnings:")
        lines += [f"  - {reason.message}" for reason in verdict.warnings]
    if decision_sentence:
        lines.append(f"What the guard would do: {decision_sentence}")
    return "\n".join(lines)
