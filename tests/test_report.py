"""Check rows, the terminal table and progress lines."""

from __future__ import annotations

from guard.outcomes import Phase, ProbeResult, ProbeStatus
from guard.report.checks import check_rows, nearest_rank_p95
from guard.report.terminal import checks_table, progress_line
from guard.runner import Progress


def result(
    name: str, phase: Phase, status: ProbeStatus, round_number: int, latency: float | None
) -> ProbeResult:
    return ProbeResult(
        name,
        phase,
        status,
        at=float(round_number),
        round=round_number,
        latency_s=latency,
        summary=f"{status.value} in round {round_number}",
        detail=f"{name} {status.value} detail {round_number}",
    )


def test_rows_aggregate_runs_failures_and_the_last_failure() -> None:
    rows = check_rows(
        [
            result("5xx", Phase.METRIC, ProbeStatus.NO_DATA, 1, None),
            result("health", Phase.WATCH, ProbeStatus.FAIL, 1, 0.3),
            result("health", Phase.WATCH, ProbeStatus.PASS, 2, 0.1),
            result("home", Phase.SMOKE, ProbeStatus.PASS, 0, 0.2),
        ]
    )
    assert [(r.name, r.phase) for r in rows] == [
        ("home", Phase.SMOKE),
        ("health", Phase.WATCH),
        ("5xx", Phase.METRIC),
    ]
    health = rows[1]
    assert (health.status, health.samples, health.failures) == (ProbeStatus.FAIL, 2, 1)
    assert health.detail == "health fail detail 1"
    assert health.last_summary == "pass in round 2"
    assert rows[2].status is ProbeStatus.NO_DATA


def test_p95_is_an_observed_value_by_nearest_rank() -> None:
    assert nearest_rank_p95([]) is None
    assert nearest_rank_p95([0.5]) == 0.5
    values = [float(v) for v in range(1, 101)]
    assert nearest_rank_p95(values) == 95.0
    assert nearest_rank_p95([1.0, 2.0, 3.0]) == 3.0


def test_table_columns_line_up() -> None:
    rows = check_rows(
        [
            result("home page", Phase.SMOKE, ProbeStatus.PASS, 0, 0.012),
            result("h", Phase.WATCH, ProbeStatus.FAIL, 1, None),
        ]
    )
    lines = checks_table(rows).splitlines()
    assert lines[0].index("PHASE") == lines[1].index("smoke") == lines[2].index("watch")
    assert "12 ms" in lines[1]
    assert "FAIL" in lines[2]


def test_progress_lines_say_round_failures_and_wait() -> None:
    waiting = Progress("watch", rounds_done=3, rounds_planned=40, failures=1, next_round_in=14.6)
    assert progress_line(waiting) == "watch: round 3 of 40 · 1 failure so far · next round in 15s"
    failed = result("health", Phase.WATCH, ProbeStatus.FAIL, 4, 0.1)
    observed = Progress("watch", 4, 40, 2, None, latest=(failed,))
    assert progress_line(observed) == (
        "watch: round 4 of 40 · 2 failures so far · this round: health: fail in round 4"
    )
    assert progress_line(Progress("smoke", 0, 40, 0, None)) == "smoke checks: running"
