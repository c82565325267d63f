"""Drives one verification in this process: the engine decides, probes observe, a clock paces."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from guard.outcomes import ProbeResult, Verdict
from guard.verification import Finished, RunRound, RunSmoke, Verification, VerificationPlan


class ProbeRunner(Protocol):
    """What the runner needs from a probe suite (guard.probes.suite.ProbeSuite provides it)."""

    def run_smoke(self) -> list[ProbeResult]: ...

    def run_round(self, number: int) -> list[ProbeResult]: ...


@dataclass(frozen=True)
class Progress:
    """Where a running verification stands, for a progress line."""

    phase: str
    rounds_done: int
    rounds_planned: int
    failures: int
    # Seconds until the next round, when waiting for one.
    next_round_in: float | None
    latest: Sequence[ProbeResult] = ()


def run_verification(
    plan: VerificationPlan,
    probes: ProbeRunner,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    on_progress: Callable[[Progress], None] = lambda _progress: None,
) -> tuple[Verdict, Verification]:
    """Run smoke, then each watch round when it is due, until the engine reaches its verdict."""
    verification = Verification(plan, started_at=clock())
    while True:
        step = verification.next_step(clock())
        if isinstance(step, Finished):
            return step.verdict, verification
        if isinstance(step, RunSmoke):
            on_progress(_progress(verification, "smoke", None))
            results = probes.run_smoke()
            verification.record_smoke(results, clock())
            on_progress(_progress(verification, "smoke", None, results))
            continue
        assert isinstance(step, RunRound)
        wait = step.due_at - clock()
        if wait > 0:
            on_progress(_progress(verification, "watch", wait))
            sleep(wait)
            continue
        results = probes.run_round(step.number)
        verification.record_round(step.number, results, clock())
        on_progress(_progress(verification, "watch", None, results))


def _progress(
    verification: Verification,
    phase: str,
    next_round_in: float | None,
    latest: Sequence[ProbeResult] = (),
) -> Progress:
    return Progress(
        phase=phase,
        rounds_done=verification.rounds_done,
        rounds_planned=verification.rounds_planned,
        failures=verification.failures_so_far,
        next_round_in=next_round_in,
        latest=tuple(latest),
    )
