"""One verification as a pure state machine: what to run next, and the verdict the results support.

No I/O and no clock of its own: the caller runs the probes, passes their results and the time
in, and asks what comes next. Its whole state is plain data, so a verification that a crash
interrupted resumes from its stored results.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

from guard.outcomes import Phase, ProbeResult, ProbeStatus, Verdict
from guard.verification_plan import VerificationPlan, WatchPlan
from guard.verification_rules import assess, sort_results

__all__ = [
    "Finished",
    "RunRound",
    "RunSmoke",
    "Step",
    "Verification",
    "VerificationPlan",
    "VerificationState",
    "WatchPlan",
    "assess",
    "probe_result_from_dict",
    "probe_result_to_dict",
    "sort_results",
]

ROUND_PHASES = (Phase.WATCH, Phase.METRIC)


@dataclass(frozen=True)
class RunSmoke:
    """Run the smoke checks now and record them with `record_smoke`."""


@dataclass(frozen=True)
class RunRound:
    """Run watch round `number` (probes and metric reads) once `due_at` has come."""

    number: int
    due_at: float

    def wait_s(self, now: float) -> float:
        """Seconds left until the round is due; 0 when it is due or late."""
        return max(0.0, self.due_at - now)


@dataclass(frozen=True)
class Finished:
    """The verification has its verdict; nothing more runs."""

    verdict: Verdict


Step = RunSmoke | RunRound | Finished


@dataclass(frozen=True)
class VerificationState:
    """Everything a verification needs to resume: the verdict is rebuilt from it, never stored."""

    plan: VerificationPlan
    started_at: float
    smoke_recorded_at: float | None
    rounds_done: int
    results: tuple[ProbeResult, ...]


_STATE_ADAPTER = TypeAdapter(VerificationState)
_RESULT_ADAPTER = TypeAdapter(ProbeResult)


def probe_result_to_dict(result: ProbeResult) -> dict[str, Any]:
    data: dict[str, Any] = _RESULT_ADAPTER.dump_python(result, mode="json")
    return data


def probe_result_from_dict(data: object) -> ProbeResult:
    return _RESULT_ADAPTER.validate_python(data)


class Verification:
    """Smoke checks, then the watch rounds in order, until the results support a verdict.

    A plan without smoke checks starts its watch at `started_at`. Times are seconds on the
    caller's clock; round k is due at the time the smoke results were recorded plus
    (k - 1) intervals, so a slow round never stretches the window.
    """

    def __init__(self, plan: VerificationPlan, started_at: float) -> None:
        self.plan = plan
        self.started_at = started_at
        self._results: list[ProbeResult] = []
        self._smoke_recorded_at: float | None = None if plan.smoke_checks else started_at
        self._rounds_done = 0
        self._verdict = self._assess()

    @classmethod
    def restore(
        cls,
        plan: VerificationPlan,
        started_at: float,
        results: Iterable[ProbeResult],
        smoke_recorded_at: float | None,
        rounds_done: int,
    ) -> Verification:
        """The verification that recording these results would have built, checked as it goes."""
        verification = cls(plan, started_at)
        stored = sort_results(results)
        smoke = [r for r in stored if r.round == 0]
        if plan.smoke_checks and smoke_recorded_at is not None:
            verification.record_smoke(smoke, smoke_recorded_at)
        elif smoke:
            raise ValueError(f"{len(smoke)} smoke results are stored but no smoke was recorded")
        elif smoke_recorded_at is not None:
            verification._smoke_recorded_at = smoke_recorded_at
        if not 0 <= rounds_done <= plan.rounds_planned:
            raise ValueError(f"rounds_done is {rounds_done}, not 0 to {plan.rounds_planned}")
        for number in range(1, rounds_done + 1):
            in_round = [r for r in stored if r.round == number]
            latest = max([verification._smoke_recorded_at or started_at, *(r.at for r in in_round)])
            verification.record_round(number, in_round, latest)
        beyond = sorted({r.round for r in stored if r.round > rounds_done})
        if beyond:
            raise ValueError(
                f"results are stored for rounds {beyond}, after the {rounds_done} done"
            )
        return verification

    def to_state(self) -> VerificationState:
        return VerificationState(
            self.plan, self.started_at, self._smoke_recorded_at, self._rounds_done, self.results
        )

    @classmethod
    def from_state(cls, state: VerificationState) -> Verification:
        return cls.restore(
            state.plan,
            state.started_at,
            state.results,
            state.smoke_recorded_at,
            state.rounds_done,
        )

    def to_dict(self) -> dict[str, Any]:
        """The whole state as JSON-ready data."""
        data: dict[str, Any] = _STATE_ADAPTER.dump_python(self.to_state(), mode="json")
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verification:
        return cls.from_state(_STATE_ADAPTER.validate_python(data))

    @property
    def verdict(self) -> Verdict | None:
        return self._verdict

    @property
    def results(self) -> tuple[ProbeResult, ...]:
        """Every recorded result, in judging order."""
        return tuple(sort_results(self._results))

    @property
    def rounds_done(self) -> int:
        return self._rounds_done

    @property
    def rounds_planned(self) -> int:
        return self.plan.rounds_planned

    @property
    def failures_so_far(self) -> int:
        """Failed probe results recorded so far (smoke, watch and metrics), for progress lines."""
        return sum(r.status is ProbeStatus.FAIL for r in self._results)

    @property
    def smoke_recorded_at(self) -> float | None:
        return self._smoke_recorded_at

    @property
    def watch_started_at(self) -> float | None:
        """When round 1 is due: the time the smoke results were recorded."""
        return self._smoke_recorded_at

    def next_step(self, now: float) -> Step:
        """What to do next. A RunRound whose `due_at` is after `now` is to be waited for."""
        self._check_clock(now)
        if self._verdict is not None:
            return Finished(self._verdict)
        if self._smoke_recorded_at is None:
            return RunSmoke()
        number = self._rounds_done + 1
        return RunRound(number, self.plan.round_due_at(number, self._smoke_recorded_at))

    def record_smoke(self, results: Sequence[ProbeResult], now: float) -> None:
        self._check_open(now)
        if self._smoke_recorded_at is not None:
            already = "already recorded" if self.plan.smoke_checks else "not planned"
            raise ValueError(f"smoke results cannot be recorded: the smoke checks are {already}")
        for result in results:
            if result.phase is not Phase.SMOKE or result.round != 0:
                raise ValueError(
                    f"{result.name!r} is a {result.phase.value} result of round {result.round}; "
                    "smoke results have phase smoke and round 0"
                )
        self._results.extend(results)
        self._smoke_recorded_at = now
        self._verdict = self._assess()

    def record_round(self, number: int, results: Sequence[ProbeResult], now: float) -> None:
        self._check_open(now)
        if self._smoke_recorded_at is None:
            raise ValueError(f"round {number} cannot be recorded before the smoke results")
        expected = self._rounds_done + 1
        if number != expected:
            raise ValueError(f"round {number} cannot be recorded now: round {expected} is next")
        for result in results:
            if result.phase not in ROUND_PHASES or result.round != number:
                raise ValueError(
                    f"{result.name!r} is a {result.phase.value} result of round {result.round}; "
                    f"round {number} takes watch and metric results of round {number}"
                )
        self._results.extend(results)
        self._rounds_done = number
        self._verdict = self._assess()

    def _assess(self) -> Verdict | None:
        return assess(
            self.plan,
            self._results,
            started_at=self.started_at,
            smoke_recorded_at=self._smoke_recorded_at,
            finished_rounds=self._rounds_done,
        )

    def _check_clock(self, now: float) -> None:
        # A monotonic clock mixed with wall-clock times would schedule rounds decades away.
        if now < self.started_at:
            raise ValueError(
                f"now ({now}) is before the verification started ({self.started_at}): "
                "pass times from the clock it was started with"
            )

    def _check_open(self, now: float) -> None:
        self._check_clock(now)
        if self._verdict is not None:
            raise ValueError(
                f"the verification already has its verdict ({self._verdict.kind.value}); "
                "nothing more can be recorded"
            )
