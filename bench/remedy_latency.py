"""From the failing verdict to the remedy created and the incident filed, with GitHub slowed.

The demo's stage (sandbox GitHub, a real `deploy-guard serve` as the App, paced as in
production), with 50 ms added to every sandbox call (its latency fault). Each run deploys a
bad commit and times, from the verdict (`verdict_at` in serve's database) to the moment the
sandbox answered the guard's POST of the rollback deployment and of the incident issue. The
floor, measured in the same run: as many raw `requests` calls to the sandbox as the guard made
in that span, one after another, with the same latency.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass

import requests

from bench.common import percentile, service_process
from bench.github_calls import (
    RATE_LIMIT,
    START_BUDGET_S,
    GuardRecords,
    deploy_and_ship,
    is_guards,
    route,
    settle,
    wait,
)
from guard.demo.guard_service import deploy_guard_command, inherited_environment
from guard.demo.stage import Stage, StageOptions, open_stage
from guard.demo.world import DEVELOPER, VERSION_PATH, commit_healthy_version
from guard.sandbox import FaultKind
from guard.sandbox.calllog import CallLog, CallRecord

GOAL_S = 2.0
WRITE_METHODS = {"POST", "PATCH", "PUT", "DELETE"}


class CallClock:
    """Notes when the sandbox finished answering each call (the call log's numbers)."""

    def __init__(self, calls: CallLog) -> None:
        self.calls = calls
        self.times: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="call-clock", daemon=True)

    def _run(self) -> None:
        seen = self.calls.last_seq
        while not self._stop.is_set():
            if self.calls.wait_for(seen + 1, timeout=0.2):
                now = time.time()
                latest = self.calls.last_seq
                for seq in range(seen + 1, latest + 1):
                    self.times[seq] = now
                seen = latest

    def __enter__(self) -> CallClock:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Run:
    verdict_at: float
    remedy_at: float
    incident_at: float
    calls: list[tuple[float, CallRecord]]  # the guard's calls in the span, with their times
    floor_s: float = 0.0

    @property
    def remedy_s(self) -> float:
        return self.remedy_at - self.verdict_at

    @property
    def incident_s(self) -> float:
        return self.incident_at - self.verdict_at

    @property
    def both_s(self) -> float:
        return max(self.remedy_s, self.incident_s)


def _first(calls: list[tuple[float, CallRecord]], method: str, suffix: str) -> float | None:
    for at, call in calls:
        if call.method == method and call.path.endswith(suffix) and call.status < 300:
            return at
    return None


def one_run(stage: Stage, clock: CallClock, records: GuardRecords, number: int) -> Run:
    sandbox, repo = stage.sandbox, stage.world.repo
    mark = sandbox.calls.last_seq
    # A new bad commit each run (v2 breaks the shop): each is a new failed deployment.
    files = {VERSION_PATH: "v2\n", "app/shop.py": f'DATABASE_URL = "postgresql://db-{number}"\n'}
    sandbox.commit(repo, files, f"Shop v2, try {number}", author=DEVELOPER)
    bad = deploy_and_ship(stage, f"v2 try {number}")

    def span() -> list[tuple[float, CallRecord]]:
        found = [c for c in sandbox.calls.all(since=mark) if is_guards(c)]
        return [(clock.times[c.seq], c) for c in found if c.seq in clock.times]

    wait(
        "the remedy and the incident",
        lambda: (
            records.final(bad)
            and _first(span(), "POST", "/deployments") is not None
            and _first(span(), "POST", "/issues") is not None
        ),
    )
    verdict = records.verdict_at(bad)
    assert verdict is not None
    calls = span()
    remedy_at = _first(calls, "POST", "/deployments")
    incident_at = _first(calls, "POST", "/issues")
    assert remedy_at is not None
    assert incident_at is not None
    start, end = verdict.timestamp(), max(remedy_at, incident_at)
    run = Run(start, remedy_at, incident_at, [(at, c) for at, c in calls if start < at <= end])
    # The rollback is shipped and verified before the next run, so each starts from health.
    [rollback] = stage.pipeline.poll_once()
    wait("the rollback verified", lambda: records.final(rollback.deployment_id))
    settle(stage)
    return run


def floor_s(stage: Stage, count: int) -> float:
    """`count` raw GETs of the repository, one after another, as the developer."""
    url = f"{stage.sandbox.base_url}/repos/{stage.world.repo}"
    with requests.Session() as session:
        session.headers["Authorization"] = f"token {stage.world.developer_token}"
        started = time.perf_counter()
        for _ in range(count):
            session.get(url, timeout=10).raise_for_status()
        return time.perf_counter() - started


def breakdown(which: str, run: Run, repo: str) -> None:
    """Every guard call of the span: when it was answered, how long the sandbox took."""
    print(f"  breakdown of {which} (seconds after the verdict, sandbox time per call):")
    for at, call in run.calls:
        print(f"    +{at - run.verdict_at:6.2f} s  {call.duration_ms:6.0f} ms  {route(call, repo)}")
    inside = sum(call.duration_ms for _, call in run.calls) / 1000
    writes = sum(call.method in WRITE_METHODS for _, call in run.calls)
    print(
        f"    {len(run.calls)} calls ({writes} writes): {inside:.2f} s answering inside the "
        f"sandbox, {run.both_s - inside:.2f} s in the guard between calls"
    )


def measure(runs: int, latency_ms: int, unpaced_queue: str | None) -> tuple[list[Run], str]:
    """The runs on a fresh stage; with `unpaced_queue` (a Redis URL) the steps run in a
    `deploy-guard worker --no-github-pacing` process instead of serve's paced workers."""
    environment = {"GUARD_QUEUE_URL": unpaced_queue} if unpaced_queue else {}
    options = StageOptions(
        rate_limit=RATE_LIMIT, ship_in_background=False, serve_environment=environment
    )
    measured: list[Run] = []
    with ExitStack() as stack:
        stage = open_stage(stack, time.monotonic() + START_BUDGET_S, options)
        if unpaced_queue:
            stack.enter_context(
                service_process(
                    [*deploy_guard_command(), "worker", "--no-github-pacing"],
                    env={**inherited_environment(), **stage.guard.environment()},
                    log_path=stage.directory / "worker.log",
                )
            )
        records = GuardRecords(stage)
        stack.callback(records.close)
        # The last verified-good deployment the rollbacks go back to, made without latency.
        commit_healthy_version(stage.sandbox, stage.world)
        good = deploy_and_ship(stage, "v1")
        wait("v1 verified", lambda: records.final(good))
        settle(stage)
        stage.sandbox.add_fault(FaultKind.LATENCY, "*", times=None, latency_ms=latency_ms)
        with CallClock(stage.sandbox.calls) as clock:
            for number in range(1, runs + 1):
                measured.append(one_run(stage, clock, records, number))
        for run in measured:
            run.floor_s = floor_s(stage, len(run.calls))
        return measured, stage.world.repo


def report(title: str, runs: list[Run], repo: str) -> None:
    print(title)
    for index, run in enumerate(runs, 1):
        print(
            f"  run {index}: remedy created {run.remedy_s:.2f} s, incident filed "
            f"{run.incident_s:.2f} s, {len(run.calls)} guard calls; floor of as many raw "
            f"requests calls {run.floor_s:.2f} s"
        )
    both = [run.both_s for run in runs]
    floors = [run.floor_s for run in runs]
    print(
        f"  remedy p50 {statistics.median(r.remedy_s for r in runs):.2f} s; incident p50 "
        f"{statistics.median(r.incident_s for r in runs):.2f} s"
    )
    p50, worst = statistics.median(both), percentile(both, 1.0)
    ratio = p50 / statistics.median(floors)
    print(
        f"  both done: p50 {p50:.2f} s, max {worst:.2f} s (goal < {GOAL_S:.0f} s) "
        f"{'ok' if worst < GOAL_S else 'OVER the goal'}; floor p50 "
        f"{statistics.median(floors):.2f} s; ratio {ratio:.1f}x the floor"
    )
    ordered = sorted(runs, key=lambda r: r.both_s)
    breakdown("the median run", ordered[len(runs) // 2], repo)
    if worst >= GOAL_S and ordered[-1] is not ordered[len(runs) // 2]:
        breakdown("the slowest run", ordered[-1], repo)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument(
        "--unpaced-queue",
        metavar="REDIS_URL",
        help="also measure with the steps in `deploy-guard worker --no-github-pacing` on this "
        "Redis queue (the guard's own cost, without the pacing GitHub asks for)",
    )
    args = parser.parse_args()
    runs, repo = measure(args.runs, args.latency_ms, None)
    report(
        f"verdict -> remedy and incident, {args.latency_ms} ms added to every GitHub call, "
        "serve's embedded workers (paced as GitHub asks: a second between writes):",
        runs,
        repo,
    )
    if args.unpaced_queue:
        runs, repo = measure(args.runs, args.latency_ms, args.unpaced_queue)
        report("the same with `deploy-guard worker --no-github-pacing` (Redis queue):", runs, repo)


if __name__ == "__main__":
    main()
