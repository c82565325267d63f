"""The in-process runner: smoke, then each round when due, paced by an injected clock."""

from __future__ import annotations

from guard.outcomes import Phase, ProbeResult, ProbeStatus, VerdictKind
from guard.runner import Progress, run_verification
from guard.verification import VerificationPlan, WatchPlan


class ManualClock:
    """A clock that moves only when the runner sleeps."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class ScriptedProbes:
    """Answers smoke and rounds from a script: the names of the probes that fail in each round."""

    def __init__(self, clock: ManualClock, failing_rounds: set[int]) -> None:
        self.clock = clock
        self.failing_rounds = failing_rounds
        self.rounds_run: list[int] = []
        self.smoke_runs = 0

    def run_smoke(self) -> list[ProbeResult]:
        self.smoke_runs += 1
        return [ProbeResult("home", Phase.SMOKE, ProbeStatus.PASS, self.clock(), latency_s=0.01)]

    def run_round(self, number: int) -> list[ProbeResult]:
        self.rounds_run.append(number)
        status = ProbeStatus.FAIL if number in self.failing_rounds else ProbeStatus.PASS
        return [
            ProbeResult(
                "health",
                Phase.WATCH,
                status,
                self.clock(),
                round=number,
                latency_s=0.02,
                summary="HTTP 503 in 20 ms" if status is ProbeStatus.FAIL else "HTTP 200",
                detail="GET /health answered HTTP 503; expected 200.",
            )
        ]


def plan(rounds: int = 4, consecutive: int = 2) -> VerificationPlan:
    watch = WatchPlan(
        interval_s=15.0,
        duration_s=15.0 * rounds,
        rounds=rounds,
        probe_names=("health",),
        consecutive_failures=consecutive,
        error_rate=None,
        p95_latency_s=None,
        min_samples=1,
        on_no_data="inconclusive",
    )
    return VerificationPlan(smoke_checks=("home",), watch=watch, metric_names=())


def test_runs_every_round_at_its_interval_and_passes() -> None:
    clock = ManualClock()
    probes = ScriptedProbes(clock, failing_rounds=set())
    seen: list[Progress] = []
    verdict, verification = run_verification(
        plan(), probes, clock=clock, sleep=clock.sleep, on_progress=seen.append
    )
    assert verdict.kind is VerdictKind.PASS
    assert probes.smoke_runs == 1
    assert probes.rounds_run == [1, 2, 3, 4]
    # Round 1 is due when smoke ends; the runner waits one interval between later rounds.
    assert clock.sleeps == [15.0, 15.0, 15.0]
    assert verification.rounds_done == 4
    waiting = [p for p in seen if p.next_round_in is not None]
    assert [p.next_round_in for p in waiting] == [15.0, 15.0, 15.0]
    assert seen[-1].rounds_done == 4


def test_stops_as_soon_as_a_threshold_is_crossed() -> None:
    clock = ManualClock()
    probes = ScriptedProbes(clock, failing_rounds={2, 3, 4})
    verdict, _ = run_verification(plan(rounds=10), probes, clock=clock, sleep=clock.sleep)
    assert verdict.kind is VerdictKind.FAIL
    # Two failed rounds in a row (2 and 3) decide it: round 4 never runs.
    assert probes.rounds_run == [1, 2, 3]
    assert verdict.rounds_done == 3
    assert "2 rounds in a row" in verdict.reasons[0].message
