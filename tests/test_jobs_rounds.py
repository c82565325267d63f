"""An ordinary watch round is lean: two transactions, no GitHub call, the engine kept in memory.

Driven by hand with an injected clock, GitHub being the sandbox over HTTP: what is counted
here is what the scale benchmark (bench/scale.py) showed to cost.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from guard.jobs.context import build_context
from guard.jobs.engine_cache import EngineCache, EngineKey
from guard.jobs.options import WorkerOptions
from guard.jobs.progress import PROGRESS_EVERY_S, progress_due
from guard.jobs.queue import JobQueue, make_queue
from guard.jobs.steps import VerificationJobs
from guard.outcomes import VerdictKind
from guard.verification import Verification as Engine
from guard.verification import VerificationPlan, WatchPlan
from tests.jobs_world import FAST, POLICY_PATH, policy_text
from tests.test_jobs_steps import Bench, Clock, Scheduled, bench, started

# A lease far longer than a round's probes: the round needs not renew it.
LONG_LEASE = WorkerOptions(threads=1, github_pacing=False, lease_s=60.0, grace_s=0.5)


def _begins(b: Bench) -> list[int]:
    """A list that grows by one with every transaction the workers' engine begins."""
    begun: list[int] = []
    sa.event.listen(b.jobs.ctx.engine, "begin", lambda _connection: begun.append(1))
    return begun


def test_an_ordinary_round_is_two_transactions_and_no_github_call(tmp_path: Path) -> None:
    with bench(tmp_path, options=LONG_LEASE) as b:
        _, vid = started(b)
        begun, calls = _begins(b), b.calls()
        b.jobs.run_round(vid, 1)

        row = b.row(vid)
        assert row.rounds_done == 1
        # Claim and read; store the results, note them and give the lease back.
        assert len(begun) == 2
        assert b.calls() == calls
        assert (row.lease_owner, row.lease_expires_at) == (None, None)
        assert b.scheduled.rounds[-1] == (vid, 2, 0.1)


# Stored times keep microseconds: a lag read back may differ from the clock's by that.
MICROSECONDS = 1e-5


def _round_lag() -> tuple[float, float]:
    """How many rounds the lag histogram holds, and their summed lag (seconds)."""
    name = "deploy_guard_watch_round_lag_seconds"
    count = REGISTRY.get_sample_value(f"{name}_count") or 0.0
    return count, REGISTRY.get_sample_value(f"{name}_sum") or 0.0


def test_how_late_each_round_started_is_measured(tmp_path: Path) -> None:
    with bench(tmp_path, options=LONG_LEASE) as b:
        _, vid = started(b)
        count, total = _round_lag()
        # Round 1 is due when the smoke is recorded: on time.
        b.jobs.run_round(vid, 1)
        assert _round_lag() == pytest.approx((count + 1, total), abs=MICROSECONDS)

        # Round 2 (due 0.1 s after the smoke) arriving early runs nothing and measures nothing.
        b.jobs.run_round(vid, 2)
        assert _round_lag() == pytest.approx((count + 1, total), abs=MICROSECONDS)
        # The worker comes to it 0.75 s after it was due.
        b.clock.advance(0.85)
        b.jobs.run_round(vid, 2)
        assert b.row(vid).rounds_done == 2
        assert _round_lag() == pytest.approx((count + 2, total + 0.75), abs=MICROSECONDS)


def test_a_pass_is_published_by_a_job_of_its_own_which_the_reconciler_finds_if_lost(
    tmp_path: Path,
) -> None:
    with bench(tmp_path, options=LONG_LEASE) as b:
        _, vid = started(b)
        for number in (1, 2, 3):
            b.jobs.run_round(vid, number)
            b.clock.advance(0.1)
        row = b.row(vid)
        # Stored, the lease given back, nothing published yet: the check run is in progress.
        assert (row.verdict, row.lease_owner) == (VerdictKind.PASS, None)
        assert [run["status"] for run in b.world.check_runs()] == ["in_progress"]
        assert b.scheduled.to_publish == [vid]

        # Its job lost, the reconciler finds the verification (verdict stored, lease free).
        assert b.jobs.overdue() == [vid]
        b.jobs.resume(vid)
        (run,) = b.world.check_runs()
        assert (run["status"], run["conclusion"]) == ("completed", "success")
        assert b.jobs.overdue() == []


def test_a_short_lease_is_renewed_before_the_probes(tmp_path: Path) -> None:
    # FAST's one-second lease is shorter than the round's probe budget (two 2 s timeouts).
    with bench(tmp_path, options=FAST) as b:
        _, vid = started(b)
        begun = _begins(b)
        b.clock.advance(0.1)
        b.jobs.run_round(vid, 1)
        assert b.row(vid).rounds_done == 1
        assert len(begun) == 3


@contextmanager
def second_worker(b: Bench) -> Iterator[VerificationJobs]:
    """Another worker process on the same database and clock, with a cache of its own."""
    context = build_context(b.world.settings(), Scheduled(), LONG_LEASE, clock=b.clock)
    try:
        yield VerificationJobs(context)
    finally:
        context.close()


def test_a_worker_rebuilds_its_engine_after_another_worker_ran_a_round(tmp_path: Path) -> None:
    files = {POLICY_PATH: policy_text(duration="500ms")}
    with bench(tmp_path, files, options=LONG_LEASE) as b, second_worker(b) as other:
        _, vid = started(b)
        b.clock.advance(0.1)
        b.jobs.run_round(vid, 1)
        assert len(b.jobs.engines) == 1

        # Round 2 runs on the other worker, and fails there.
        b.world.service.deploy("v2")
        b.clock.advance(0.1)
        other.run_round(vid, 2)
        b.world.service.deploy("v1")

        # The first worker's engine stands for round 1: it reads the stored results again.
        b.clock.advance(0.1)
        b.jobs.run_round(vid, 3)
        row = b.row(vid)
        assert (row.rounds_done, row.verdict) == (3, None)
        engine = b.jobs.engines.take(EngineKey.of(row))
        assert engine is not None
        assert (engine.rounds_done, engine.failures_so_far) == (3, 1)
        assert [kind for kind, _ in b.world.timeline(_github_id(b, vid))].count("step_failed") == 0


def _github_id(b: Bench, verification_id: int) -> int:
    with b.world.session() as session:
        return int(
            session.execute(
                sa.text(
                    "SELECT d.github_id FROM deployments d JOIN verifications v "
                    "ON v.deployment_id = d.id WHERE v.id = :id"
                ),
                {"id": verification_id},
            ).scalar_one()
        )


def test_progress_is_shown_every_thirty_seconds_of_watch_and_after_a_failure(
    tmp_path: Path,
) -> None:
    files = {POLICY_PATH: policy_text(interval="10s", duration="50s")}
    with bench(tmp_path, files, options=LONG_LEASE) as b:
        _, vid = started(b)
        (created,) = b.world.check_runs()
        titles, calls = [], []
        for number in (1, 2, 3, 4):
            # Round 2 fails: a new failure is shown at once.
            b.world.service.deploy("v2" if number == 2 else "v1")
            before = b.calls()
            b.clock.advance(10.0)
            b.jobs.run_round(vid, number)
            calls.append(b.calls() - before)
            (run,) = b.world.check_runs()
            titles.append(run["output_title"])
        assert calls == [0, 1, 1, 0]
        assert titles[0] == created["output_title"]
        assert titles[1] != titles[0]
        assert "2 of 5" in titles[1]
        assert "3 of 5" in titles[2]
        assert titles[3] == titles[2]

        b.clock.advance(10.0)
        b.jobs.run_round(vid, 5)
        # The pass is stored by the last round and published by a job of its own.
        assert b.row(vid).verdict is VerdictKind.PASS
        assert b.scheduled.to_publish == [vid]
        b.jobs.resume(vid)
        (run,) = b.world.check_runs()
        assert (run["status"], run["conclusion"]) == ("completed", "success")


def _plan(interval_s: float, rounds: int) -> VerificationPlan:
    watch = WatchPlan(
        interval_s=interval_s,
        duration_s=interval_s * rounds,
        rounds=rounds,
        probe_names=("health",),
        consecutive_failures=2,
        error_rate=None,
        p95_latency_s=None,
        min_samples=1,
        on_no_data="inconclusive",
    )
    return VerificationPlan(smoke_checks=("home",), watch=watch, metric_names=())


@pytest.mark.parametrize(
    ("interval_s", "shown"),
    [
        (5.0, [6, 12]),
        (7.0, [5, 9]),
        (0.1, []),
        (30.0, list(range(1, 13))),
        (60.0, list(range(1, 13))),
    ],
)
def test_the_progress_cadence_counts_rounds_of_the_plan(
    interval_s: float, shown: list[int]
) -> None:
    plan = _plan(interval_s, 12)
    rounds = [n for n in range(1, 13) if progress_due(plan, n, failures_before=0, failures_after=0)]
    assert rounds == shown
    assert all(n * interval_s >= PROGRESS_EVERY_S for n in rounds)


def test_smoke_shows_no_progress_unless_it_failed() -> None:
    plan = _plan(5.0, 12)
    assert not progress_due(plan, 0, failures_before=0, failures_after=0)
    assert progress_due(plan, 0, failures_before=0, failures_after=1)
    assert progress_due(plan, 2, failures_before=1, failures_after=2)
    assert not progress_due(plan, 3, failures_before=2, failures_after=2)


def test_the_engine_cache_gives_an_engine_only_for_the_row_it_stands_for() -> None:
    cache = EngineCache(size=2)
    engine = Engine(_plan(5.0, 12), 1000.0)
    key = EngineKey(7, None, None, 1)
    cache.put(key, engine)
    # Another worker ran round 2 since: the kept engine is stale, and is dropped.
    assert cache.take(EngineKey(7, None, None, 2)) is None
    assert cache.take(key) is None
    cache.put(key, engine)
    assert cache.take(key) is engine
    assert len(cache) == 0
    for number in (1, 2, 3):
        cache.put(EngineKey(number, None, None, 0), engine)
    # The oldest goes first when the cache is full.
    assert len(cache) == 2
    assert cache.take(EngineKey(1, None, None, 0)) is None


def test_the_reconciler_does_not_resume_a_verification_whose_round_is_queued(
    tmp_path: Path,
) -> None:
    from tests.jobs_world import jobs_world

    with jobs_world(tmp_path) as world:
        clock = Clock()
        queue = make_queue(world.settings(), options=FAST, clock=clock)
        try:
            deployment = world.deploy()
            queue.jobs.start(deployment)
            row = world.verification(deployment)
            assert row is not None
            # Its round 1 waits in the queue; the database says it is overdue.
            assert queue.waiting_verifications() == {row.id}
            clock.advance(FAST.grace_s + 5.0)
            assert queue.jobs.overdue() == [row.id]
            assert queue.reconcile() == 0

            # The job is lost (a worker died running it): now the reconciler resumes it, once.
            queue.huey.flush()
            assert queue.reconcile() == 1
            assert verification_jobs(queue) == [("resume_verification", (row.id,))]
            assert queue.reconcile() == 0
            assert len(verification_jobs(queue)) == 1
        finally:
            queue.close()


def verification_jobs(queue: JobQueue) -> list[tuple[str, Any]]:
    """The queue's jobs but the catch-up pass the reconciler may queue (guard.jobs.catch_up)."""
    return [(t.name, t.args) for t in queue.huey.pending() if t.name != "catch_up_deliveries"]
