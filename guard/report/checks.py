"""One row per check: how often it ran, how often it failed, and what it saw last."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from guard.outcomes import Phase, ProbeResult, ProbeStatus, Verdict


@dataclass(frozen=True)
class CheckRow:
    """The story of one check across a verification."""

    name: str
    phase: Phase
    status: ProbeStatus
    samples: int
    failures: int
    no_data: int
    p95_latency_s: float | None
    last_summary: str
    # The last failure's sentence, or the last result's when it never failed.
    detail: str

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "phase": self.phase.value,
            "status": self.status.value,
            "samples": self.samples,
            "failures": self.failures,
            "no_data": self.no_data,
            "p95_latency_s": self.p95_latency_s,
            "last": self.last_summary,
            "detail": self.detail,
        }


def nearest_rank_p95(values: list[float]) -> float | None:
    """The 95th percentile by nearest rank: a value that was actually observed."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-95 * len(ordered) // 100))
    return ordered[rank - 1]


def check_rows(results: Iterable[ProbeResult]) -> list[CheckRow]:
    """Rows in the order the checks first ran: smoke, then watch probes, then metrics."""
    grouped: dict[tuple[Phase, str], list[ProbeResult]] = {}
    for result in sorted(results, key=lambda r: (r.round, r.at)):
        grouped.setdefault((result.phase, result.name), []).append(result)
    order = {Phase.SMOKE: 0, Phase.WATCH: 1, Phase.METRIC: 2}
    rows = [_row(phase, name, runs) for (phase, name), runs in grouped.items()]
    return sorted(rows, key=lambda row: order[row.phase])


def _row(phase: Phase, name: str, runs: list[ProbeResult]) -> CheckRow:
    failures = [r for r in runs if r.status is ProbeStatus.FAIL]
    no_data = sum(r.status is ProbeStatus.NO_DATA for r in runs)
    if failures:
        status = ProbeStatus.FAIL
    elif no_data == len(runs):
        status = ProbeStatus.NO_DATA
    else:
        status = ProbeStatus.PASS
    latencies = [r.latency_s for r in runs if r.latency_s is not None]
    last = runs[-1]
    return CheckRow(
        name=name,
        phase=phase,
        status=status,
        samples=len(runs),
        failures=len(failures),
        no_data=no_data,
        p95_latency_s=nearest_rank_p95(latencies),
        last_summary=last.summary,
        detail=(failures[-1] if failures else last).detail,
    )


def verdict_dict(verdict: Verdict) -> dict[str, object]:
    """The verdict as plain data: what `--json`, the API and stored runs share."""
    return {
        "verdict": verdict.kind.value,
        "severity": verdict.severity.value if verdict.severity else None,
        "reasons": [reason.as_dict() for reason in verdict.reasons],
        "warnings": [reason.as_dict() for reason in verdict.warnings],
        "rounds_done": verdict.rounds_done,
        "rounds_planned": verdict.rounds_planned,
    }
