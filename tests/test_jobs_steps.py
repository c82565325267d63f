"""Each job step on its own, driven by hand with an injected clock: every guard of "once".

GitHub is the sandbox over HTTP; only the scheduler is ours to watch (it records the rounds
a step asks for instead of putting them on huey), and time moves when the test moves it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from guard.jobs.context import build_context
from guard.jobs.job import claim
from guard.jobs.options import WorkerOptions
from guard.jobs.records import moment
from guard.jobs.steps import VerificationJobs
from guard.outcomes import VerdictKind
from guard.store import Deployment, Verification, VerificationState, claim_lease
from tests.jobs_world import FAST, POLICY_PATH, REPO, JobsWorld, jobs_world, policy_text


@dataclass
class Clock:
    """Wall-clock seconds that move only when the test says so."""

    now: float = field(default_factory=time.time)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Scheduled:
    """The rounds steps asked to run, in order, instead of huey's schedule."""

    rounds: list[tuple[int, int, float]] = field(default_factory=list)
    # Verifications whose passed verdict waits for a `resume` of its own.
    to_publish: list[int] = field(default_factory=list)

    def schedule_round(self, verification_id: int, number: int, delay_s: float) -> None:
        self.rounds.append((verification_id, number, round(delay_s, 3)))

    def publish_later(self, verification_id: int) -> None:
        self.to_publish.append(verification_id)


@dataclass
class Bench:
    world: JobsWorld
    jobs: VerificationJobs
    clock: Clock
    scheduled: Scheduled

    def row(self, verification_id: int) -> Verification:
        with self.world.session() as session:
            return session.get_one(Verification, verification_id)

    def calls(self) -> int:
        return len(self.world.sandbox.calls.all())


@contextmanager
def bench(
    tmp_path: Path,
    files: dict[str, str] | None = None,
    options: WorkerOptions = FAST,
) -> Iterator[Bench]:
    with jobs_world(tmp_path, files) as world:
        clock, scheduled = Clock(), Scheduled()
        context = build_context(world.settings(), scheduled, options, clock=clock)
        try:
            yield Bench(world, VerificationJobs(context), clock, scheduled)
        finally:
            context.close()


def started(b: Bench) -> tuple[int, int]:
    """Deploy and start the verification (its smoke checks run): deployment and row ids."""
    deployment_id = b.world.deploy()
    b.jobs.start(deployment_id)
    row = b.world.verification(deployment_id)
    assert row is not None
    return deployment_id, row.id


def test_each_round_runs_once_however_often_its_job_arrives(tmp_path: Path) -> None:
    with bench(tmp_path) as b:
        _, vid = started(b)
        assert b.scheduled.rounds == [(vid, 1, 0.0)]
        b.jobs.run_round(vid, 1)
        assert b.scheduled.rounds[-1] == (vid, 2, 0.1)
        assert b.row(vid).rounds_done == 1

        before, results = b.calls(), b.world.results(vid)
        b.jobs.run_round(vid, 1)  # delivered twice
        b.jobs.run_round(vid, 3)  # out of order
        assert (b.calls(), b.world.results(vid)) == (before, results)
        assert len(b.scheduled.rounds) == 2

        # Round 2 arriving before its time runs nothing and waits for the rest.
        b.jobs.run_round(vid, 2)
        assert b.world.results(vid) == results
        assert b.scheduled.rounds[-1] == (vid, 2, 0.1)

        for number in (2, 3):
            b.clock.advance(0.1)
            b.jobs.run_round(vid, number)
        # The last round stored the pass and gave the lease back; a `resume` publishes it.
        row = b.row(vid)
        assert (row.verdict, row.lease_owner) == (VerdictKind.PASS, None)
        assert row.state is not VerificationState.FINISHED
        assert b.scheduled.to_publish == [vid]
        b.jobs.resume(vid)
        row = b.row(vid)
        assert (row.state, row.verdict) == (VerificationState.FINISHED, VerdictKind.PASS)

        finished_calls = b.calls()
        b.jobs.run_round(vid, 3)
        b.jobs.resume(vid)
        assert b.calls() == finished_calls
        assert b.world.results(vid) == [
            (0, "api health"),
            (0, "home page"),
            (1, "health"),
            (2, "health"),
            (3, "health"),
        ]
        assert len(b.world.check_runs()) == 1


def test_a_step_finding_the_lease_taken_does_nothing(tmp_path: Path) -> None:
    with bench(tmp_path) as b:
        _, vid = started(b)
        with b.world.session() as session, session.begin():
            assert claim_lease(
                session, vid, "another-worker", ttl=timedelta(seconds=5), now=moment(b.clock())
            )
        before = b.calls()
        b.jobs.run_round(vid, 1)
        assert b.row(vid).rounds_done == 0
        assert b.calls() == before

        # A worker that died leaves a lease that expires; then the round runs.
        b.clock.advance(5.1)
        b.jobs.run_round(vid, 1)
        assert b.row(vid).rounds_done == 1


def test_the_reconciler_finds_what_lost_jobs_left_behind(tmp_path: Path) -> None:
    with bench(tmp_path) as b:
        _, vid = started(b)
        # Round 1's job is lost (it is only in b.scheduled). Within the grace, nothing is late.
        assert b.jobs.overdue() == []
        b.clock.advance(FAST.grace_s + 0.01)
        assert b.jobs.overdue() == [vid]

        # Not while a worker holds the verification.
        assert claim(b.jobs.ctx, vid, "busy", 10)
        assert b.jobs.overdue() == []
        b.clock.advance(10.01)
        assert b.jobs.overdue() == [vid]
        b.jobs.resume(vid)
        assert b.row(vid).rounds_done == 1

        # A verification whose start job died before its first step is found as well.
        other = b.world.deploy()
        with b.world.session() as session, session.begin():
            deployment = session.scalars(
                sa.select(Deployment).where(Deployment.github_id == other)
            ).one()
            session.add(Verification(deployment_id=deployment.id, environment="production"))
        b.clock.advance(1)
        queued = b.jobs.overdue()
        assert len(queued) == 2
        b.jobs.resume(queued[-1])
        assert b.row(queued[-1]).state is VerificationState.WATCHING


def test_supersede_waits_for_a_busy_round_then_the_next_step_stops(tmp_path: Path) -> None:
    with bench(tmp_path) as b:
        older, vid = started(b)
        newer = b.world.deploy()
        assert claim(b.jobs.ctx, vid, "round-in-progress", 10)
        b.jobs.supersede(REPO, "production", newer)
        assert b.row(vid).state is VerificationState.WATCHING

        b.clock.advance(10.1)
        b.jobs.run_round(vid, 1)
        row = b.row(vid)
        assert row.state is VerificationState.SUPERSEDED
        assert row.rounds_done == 0
        (check_run,) = [r for r in b.world.check_runs() if r["id"] == row.check_run_id]
        assert check_run["conclusion"] == "neutral"
        assert f"superseded by deployment {newer}" in check_run["output_summary"]
        kinds = [kind for kind, _ in b.world.timeline(older)]
        assert kinds[-1] == "superseded"


def test_a_verification_whose_steps_keep_failing_gives_up(tmp_path: Path) -> None:
    options = WorkerOptions(max_step_failures=3, github_pacing=False, lease_s=1, grace_s=0)
    with bench(tmp_path, options=options) as b:
        deployment_id = b.world.deploy()
        with b.world.session() as session, session.begin():
            # An installation the App does not have: every GitHub call is refused.
            session.execute(
                sa.update(Deployment)
                .where(Deployment.github_id == deployment_id)
                .values(installation_id=987654)
            )
        b.jobs.start(deployment_id)
        row = b.world.verification(deployment_id)
        assert row is not None
        assert row.state is VerificationState.QUEUED
        for _ in range(2):
            b.clock.advance(1)
            assert b.jobs.overdue() == [row.id]
            b.jobs.resume(row.id)
        row = b.row(row.id)
        assert row.state is VerificationState.ERROR
        timeline = b.world.timeline(deployment_id)
        assert [kind for kind, _ in timeline] == ["step_failed"] * 3 + ["gave_up"]
        assert "(3 of 3 attempts)" in timeline[2][1]
        assert b.jobs.overdue() == []


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_racing_start_jobs_make_one_verification_and_one_check_run(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    database_url = None if backend == "sqlite" else request.getfixturevalue("postgres_url")
    with jobs_world(tmp_path, database_url=database_url) as world:
        scheduled = Scheduled()
        context = build_context(world.settings(), scheduled, FAST)
        jobs = VerificationJobs(context)
        deployment_id = world.deploy()
        gate = threading.Barrier(4)

        def start() -> None:
            gate.wait()
            jobs.start(deployment_id)

        threads = [threading.Thread(target=start) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        context.close()

        with world.session() as session:
            rows = session.scalars(sa.select(Verification)).all()
        assert len(rows) == 1
        assert len(world.check_runs()) == 1
        smoke = [check for number, check in world.results(rows[0].id) if number == 0]
        assert smoke == ["api health", "home page"]


def test_a_start_for_an_unknown_deployment_does_nothing(tmp_path: Path) -> None:
    with bench(tmp_path) as b:
        b.jobs.start(424242)
        with b.world.session() as session:
            assert session.scalar(sa.select(sa.func.count(Verification.id))) == 0
        assert b.world.check_runs() == []


def test_a_plan_without_checks_is_inconclusive_at_once(tmp_path: Path) -> None:
    empty = "version: 1\nenvironments:\n  production:\n    url: http://127.0.0.1:9\n"
    with bench(tmp_path, {POLICY_PATH: empty}) as b:
        _, vid = started(b)
        row = b.row(vid)
        assert (row.state, row.verdict) == (VerificationState.FINISHED, VerdictKind.INCONCLUSIVE)
        (check_run,) = b.world.check_runs()
        assert check_run["conclusion"] == "neutral"
        assert b.scheduled.rounds == []


def test_the_policy_is_pinned_to_the_commit_it_was_read_at(tmp_path: Path) -> None:
    with bench(tmp_path, {POLICY_PATH: policy_text(policy_ref="default_branch")}) as b:
        _, vid = started(b)
        pinned = b.row(vid).policy_sha
        # The default branch moves on and drops the watch; the running verification keeps it.
        b.world.commit(
            {POLICY_PATH: policy_text(policy_ref="default_branch").split("    watch:")[0]}
        )
        for number in (1, 2, 3):
            b.jobs.run_round(vid, number)
            b.clock.advance(0.1)
        row = b.row(vid)
        assert row.policy_sha == pinned
        assert (row.rounds_done, row.verdict) == (3, VerdictKind.PASS)


def test_a_check_run_made_by_a_step_killed_before_storing_its_id_is_found_again(
    tmp_path: Path,
) -> None:
    with bench(tmp_path) as b:
        _, vid = started(b)
        (made,) = b.world.check_runs()
        assert made["external_id"] == f"deploy-guard:{_github_id(b, vid)}:{vid}"
        # The step died after GitHub made the run and before the database heard of it.
        with b.world.session() as session, session.begin():
            session.execute(
                sa.update(Verification).where(Verification.id == vid).values(check_run_id=None)
            )
        b.clock.advance(0.1)
        b.jobs.run_round(vid, 1)

        assert b.row(vid).rounds_done == 1
        (again,) = b.world.check_runs()
        assert again["id"] == made["id"] == b.row(vid).check_run_id
        # The verdict is shown on the run that was found (rounds show no progress of their
        # own: see guard/jobs/progress.py).
        for number in (2, 3):
            b.clock.advance(0.1)
            b.jobs.run_round(vid, number)
        b.jobs.resume(vid)  # publishes the pass
        (concluded,) = b.world.check_runs()
        assert concluded["id"] == made["id"]
        assert (concluded["status"], concluded["conclusion"]) == ("completed", "success")


def _github_id(b: Bench, verification_id: int) -> int:
    with b.world.session() as session:
        return session.scalars(
            sa.select(Deployment.github_id)
            .join(Verification, Verification.deployment_id == Deployment.id)
            .where(Verification.id == verification_id)
        ).one()
