"""The verification jobs: start, one watch round, resume, supersede; each step durable and once.

A step holds the verification's lease while it runs; a step that finds the lease taken does
nothing. It stores its probe results and the state they lead to in one transaction, guarded
by what it expects (round n-1 recorded), so a job delivered twice does its work once. The
next round is a delayed job: no worker sleeps through a bake window.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from guard.github.errors import GitHubError
from guard.jobs import publish, records
from guard.jobs.context import JobContext
from guard.jobs.engine_cache import EngineCache, EngineKey
from guard.jobs.job import (
    Job,
    LeaseLost,
    lease_owner,
    log,
    release,
    round_budget_s,
    smoke_budget_s,
)
from guard.jobs.policy_source import cached_policy, pinned_policy
from guard.jobs.prepare import prepare
from guard.jobs.progress import progress_due
from guard.observability.metrics import observe_probe, observe_round_lag
from guard.outcomes import ProbeResult, Verdict, VerdictKind
from guard.policy.models import Environment, Policy
from guard.policy.secrets import SECRET_PREFIX, secret_values
from guard.probes.http import ReusedSessions
from guard.probes.suite import ProbeSuite
from guard.severity import decide
from guard.store import Deployment, Verification, VerificationState, claim_lease, release_lease
from guard.verification import Finished, RunRound, RunSmoke
from guard.verification import Verification as Engine

# A round job that arrives this little before its due time runs anyway: clocks differ a bit.
EARLY_TOLERANCE_S = 0.05
NO_BASE_URL_HINT = (
    "set url for this environment in the policy, or report an environment_url with the "
    "deployment's success status"
)
SMOKE_RECORDED = "Smoke checks: {passed} passed, {failed} failed."
ROUND_RECORDED = "Watch round {number} of {planned}: {outcome}."
FAILED_ATTEMPT = "A step failed ({count} of {limit} attempts): {error}"


@dataclass(frozen=True)
class FollowUp:
    """The round to run next, and in how many seconds."""

    number: int
    delay_s: float


@dataclass
class Claimed:
    """What the step's first transaction found: the lease taken, the rows, the engine state.

    `job` is None when the lease was taken but there is nothing to do (a final state). The
    engine comes from this process's cache when the row says it is current; otherwise the
    stored results were read in the same transaction, under `key`.
    """

    job: Job | None
    key: EngineKey | None = None
    engine: Engine | None = None
    results: list[ProbeResult] | None = None


def _outcome(results: list[ProbeResult]) -> str:
    failed = [result for result in results if result.failed]
    if not failed:
        return "all passed" if results else "nothing to probe"
    return "; ".join(f"{result.name} failed ({result.summary})" for result in failed)


class VerificationJobs:
    """What the huey tasks call; one instance per worker process, shared by its threads."""

    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx
        self.engines = EngineCache()
        # What probes expand `${GUARD_SECRET_*}` from, read once: a worker's environment is
        # fixed when it starts, and reading all of it for each probe suite cost more than a
        # round's probe.
        self.probe_environ = {
            name: value for name, value in os.environ.items() if name.startswith(SECRET_PREFIX)
        }
        self.probe_secrets = secret_values(self.probe_environ)
        self.network = ctx.network
        self.probe_sessions = ReusedSessions()

    # -- entry points ----------------------------------------------------------------------
    def start(self, deployment_github_id: int) -> None:
        """Verify a recorded deployment: find or create its verification, then advance it."""
        with self.ctx.sessions.begin() as session:
            deployment = records.find_deployment(session, deployment_github_id)
            if deployment is None:
                log.warning("verification.unknown_deployment", deployment=deployment_github_id)
                return
            verification_id = records.open_verification(
                session, deployment, records.moment(self.ctx.clock())
            ).id
        self.advance(verification_id)

    def run_round(self, verification_id: int, number: int) -> None:
        self.advance(verification_id, number)

    def resume(self, verification_id: int) -> None:
        self.advance(verification_id)

    def supersede(self, repository: str, environment: str, newer_deployment_id: int) -> None:
        """Stop every unfinished verification of the environment's older deployments."""
        with self.ctx.sessions.begin() as session:
            newer = session.scalars(
                sa.select(Deployment).where(
                    Deployment.repository == repository,
                    Deployment.github_id == newer_deployment_id,
                )
            ).first()
            if newer is None:
                log.warning(
                    "supersede.unknown_deployment",
                    repository=repository,
                    deployment=newer_deployment_id,
                )
                return
            older = session.scalars(
                sa.select(Deployment).where(
                    Deployment.repository == repository,
                    Deployment.environment == environment,
                    Deployment.task == newer.task,
                    Deployment.github_id < newer_deployment_id,
                )
            ).all()
            for deployment in older:
                if deployment.superseded_by_id is None:
                    deployment.superseded_by_id = newer.id
            unfinished = session.scalars(
                sa.select(Verification.id).where(
                    Verification.deployment_id.in_([d.id for d in older]),
                    Verification.state.in_(records.OPEN_STATES),
                    Verification.verdict.is_(None),
                )
            ).all()
        # A verification busy with a round now sees the mark when its step ends.
        for verification_id in unfinished:
            self.advance(verification_id)

    def overdue(self) -> list[int]:
        """Verifications whose next job was lost; the reconciler queues `resume` for each."""
        now = records.moment(self.ctx.clock())
        with self.ctx.sessions.begin() as session:
            return records.needing_a_push(session, now, timedelta(seconds=self.ctx.options.grace_s))

    # -- one step --------------------------------------------------------------------------
    def advance(self, verification_id: int, expected_round: int | None = None) -> None:
        """Take the lease and do the verification's next step (`expected_round` if given)."""
        owner = lease_owner()
        claimed = self._claim(verification_id, owner)
        if claimed is None:
            log.info("verification.busy", verification=verification_id, round=expected_round)
            return
        job = claimed.job
        follow_up: FollowUp | None = None
        try:
            if job is not None:
                follow_up = self._step(claimed, job, expected_round)
        except LeaseLost:
            # Not a failure: the worker that took over goes on from the stored state.
            log.warning("verification.lease_lost", verification=verification_id)
        except Exception as error:
            log.exception("verification.step_failed", verification=verification_id)
            self._failed(verification_id, owner, error)
        finally:
            if job is not None:
                job.close()
            # An ordinary round gave the lease back with its results, in one transaction.
            if job is None or not job.released:
                release(self.ctx, verification_id, owner)
        # Scheduled only after the lease is given back, or a prompt round would find it taken.
        if follow_up is not None:
            self.ctx.scheduler.schedule_round(verification_id, follow_up.number, follow_up.delay_s)

    def _claim(self, verification_id: int, owner: str) -> Claimed | None:
        """Take the lease and read what the step needs, in one transaction; None when the
        lease is someone else's (or the verification is gone)."""
        now = self.ctx.clock()
        ttl_s = self.ctx.options.lease_s

        def claim(session: Session) -> Claimed | None:
            taken = claim_lease(
                session,
                verification_id,
                owner,
                ttl=timedelta(seconds=ttl_s),
                now=records.moment(now),
            )
            if not taken:
                return None
            loaded = records.load(session, verification_id)
            if loaded is None or loaded[0].state in records.FINAL_STATES:
                return Claimed(None)
            row, deployment = loaded
            job = Job(self.ctx, None, row, deployment, owner, lease_until=now + ttl_s)
            if not _watching(row, deployment):
                return Claimed(job)
            key = EngineKey.of(row)
            engine = self.engines.take(key)
            results = None if engine is not None else records.stored_results(session, row.id)
            return Claimed(job, key, engine, results)

        # Shares its commit with the other threads' claims and stores (guard.jobs.group_commit).
        return self.ctx.writes.run(claim)

    def _engine(self, claimed: Claimed, job: Job) -> Engine:
        """The engine of the stored state: the claim's when the row has not moved since
        (a step that prepared the plan or found its check run read the row again)."""
        if claimed.key is not None and claimed.key == EngineKey.of(job.row):
            if claimed.engine is not None:
                return claimed.engine
            if claimed.results is not None:
                return records.restore_engine(job.row, claimed.results)
        with job.reading() as session:
            results = records.stored_results(session, job.id)
        return records.restore_engine(job.row, results)

    def _keep(self, job: Job, engine: Engine) -> None:
        """Keep an engine the step did not advance, for the verification's next step."""
        self.engines.put(EngineKey.of(job.row), engine)

    def _step(self, claimed: Claimed, job: Job, expected_round: int | None) -> FollowUp | None:
        if job.row.verdict is not None:
            publish.finish(job)
            return None
        if job.deployment.superseded_by_id is not None:
            publish.conclude_superseded(job)
            return None
        if job.row.state is VerificationState.QUEUED and not prepare(job):
            return None
        sha = job.row.policy_sha or job.deployment.sha
        # The pinned policy is cached per process: a round asks GitHub for nothing.
        policy = cached_policy(job.repo, sha) or pinned_policy(job.github, job.repo, sha)
        environment = policy.environments[job.deployment.environment]
        publish.ensure_check_run(job, has_smoke=bool(environment.smoke))
        engine = self._engine(claimed, job)
        now = job.now()
        step = engine.next_step(now)
        if isinstance(step, Finished):
            self._store_verdict(job, policy, environment, step.verdict)
            return None
        if isinstance(step, RunSmoke):
            if expected_round is not None:
                job.log.info("round.early", round=expected_round)
                self._keep(job, engine)
                return None
            return self._smoke(job, policy, environment, engine)
        assert isinstance(step, RunRound)
        if expected_round is not None and expected_round != step.number:
            # Round `expected_round` is recorded already (a duplicate) or not next (stale).
            job.log.info("round.skipped", round=expected_round, next=step.number)
            self._keep(job, engine)
            return None
        wait = step.wait_s(now)
        if wait > EARLY_TOLERANCE_S:
            self._keep(job, engine)
            return FollowUp(step.number, wait)
        # The scale goal's measure, kept in production: a busy guard's rounds start late.
        observe_round_lag(now - step.due_at)
        return self._round(job, policy, environment, engine, step.number)

    # -- the parts of a step ---------------------------------------------------------------
    @contextmanager
    def _suite(self, job: Job, environment: Environment) -> Iterator[ProbeSuite]:
        with (
            self.probe_sessions.session(self.network, self.probe_secrets) as session,
            ProbeSuite(
                environment,
                base_url=job.deployment.environment_url,
                network=self.network,
                environ=self.probe_environ,
                clock=self.ctx.clock,
                no_base_url_hint=NO_BASE_URL_HINT,
                session=session,
            ) as suite,
        ):
            yield suite

    def _verdict_columns(
        self,
        job: Job,
        policy: Policy,
        environment: Environment,
        verdict: Verdict | None,
        now: float,
    ) -> dict[str, object] | None:
        if verdict is None:
            return None
        mode = policy.effective_mode(job.deployment.environment)
        decision = decide(
            verdict,
            environment.on_failure,
            mode=mode,
            is_remedy_verification=job.deployment.is_remedy,
        )
        return records.verdict_columns(verdict, decision, mode, records.moment(now))

    def _store_verdict(
        self, job: Job, policy: Policy, environment: Environment, verdict: Verdict
    ) -> None:
        columns = self._verdict_columns(job, policy, environment, verdict, job.now())
        assert columns is not None
        with job.transaction() as session:
            records.store_verdict(session, job.id, columns)
        job.reload()
        publish.finish(job)

    def _after(
        self, job: Job, engine: Engine, verdict: Verdict | None, show_progress: bool
    ) -> FollowUp | None:
        """What follows a stored step: the verdict published, progress shown when due, or
        just the next round."""
        if verdict is not None:
            job.reload()
            publish.finish(job)
            return None
        if show_progress:
            try:
                publish.show_progress(job, engine)
            except GitHubError as error:
                # Progress is a courtesy: the watch goes on, and a later round shows it.
                job.log.warning("check_run.progress_not_shown", error=str(error))
        step = engine.next_step(job.now())
        assert isinstance(step, RunRound)
        return FollowUp(step.number, step.wait_s(job.now()))

    def _give_back_with(self, session: Session, job: Job, gives_back: bool) -> bool:
        """Release the lease in the step's storing transaction when nothing follows it that
        needs the lease (no verdict to publish, no progress to show): one transaction less.
        Whether it was released (`job.released` is set once the transaction committed)."""
        return gives_back and release_lease(session, job.id, job.owner)

    def _smoke(
        self, job: Job, policy: Policy, environment: Environment, engine: Engine
    ) -> FollowUp | None:
        job.hold(smoke_budget_s(environment))
        with self._suite(job, environment) as suite:
            results = suite.run_smoke()
        now = job.now()
        failures_before = engine.failures_so_far
        engine.record_smoke(results, now)
        verdict = records.finished_step(engine, now)
        columns = self._verdict_columns(job, policy, environment, verdict, now)
        # The check run is made after the smoke checks (see publish.ensure_check_run).
        show_progress = job.row.check_run_id is None or progress_due(
            engine.plan,
            engine.rounds_done,
            failures_before=failures_before,
            failures_after=engine.failures_so_far,
        )
        passed = sum(not result.failed for result in results)
        gives_back = verdict is None and not show_progress

        def store(session: Session) -> tuple[bool, bool]:
            stored = records.store_smoke(
                session, job.id, results=results, engine=engine, verdict=columns, now=now
            )
            if not stored:
                return False, False
            message = SMOKE_RECORDED.format(passed=passed, failed=len(results) - passed)
            records.note(
                session, "smoke_recorded", message, at=job.moment(), verification_id=job.id
            )
            return True, self._give_back_with(session, job, gives_back)

        stored, job.released = self.ctx.writes.run(store)
        if not stored:
            job.log.warning("smoke.already_recorded")
            return None
        _observe(results)
        return self._after(job, engine, verdict, show_progress)

    def _round(
        self,
        job: Job,
        policy: Policy,
        environment: Environment,
        engine: Engine,
        number: int,
    ) -> FollowUp | None:
        job.hold(round_budget_s(environment))
        with self._suite(job, environment) as suite:
            results = suite.run_round(number)
        now = job.now()
        failures_before = engine.failures_so_far
        engine.record_round(number, results, now)
        verdict = records.finished_step(engine, now)
        columns = self._verdict_columns(job, policy, environment, verdict, now)
        show_progress = progress_due(
            engine.plan,
            number,
            failures_before=failures_before,
            failures_after=engine.failures_so_far,
        )
        # A pass is published by a job of its own at the priority of starts: with many
        # verifications finishing at once, publishing each inline held the worker threads
        # the rounds due needed (their lag went from 0.3 to 3.5 s in the scale benchmark).
        # A failure is published (and remedied) at once.
        publish_later = verdict is not None and verdict.kind is VerdictKind.PASS
        gives_back = (verdict is None and not show_progress) or publish_later

        def store(session: Session) -> tuple[bool, bool]:
            stored = records.store_round(
                session,
                job.id,
                number=number,
                results=results,
                engine=engine,
                verdict=columns,
                now=now,
            )
            if not stored:
                return False, False
            message = ROUND_RECORDED.format(
                number=number, planned=engine.rounds_planned, outcome=_outcome(results)
            )
            records.note(
                session, "round_recorded", message, at=job.moment(), verification_id=job.id
            )
            return True, self._give_back_with(session, job, gives_back)

        # Shares its commit with the other threads' stores and claims (guard.jobs.group_commit).
        stored, job.released = self.ctx.writes.run(store)
        if not stored:
            job.log.warning("round.already_recorded", round=number)
            return None
        _observe(results)
        if verdict is None:
            # The engine now stands for the row as stored: the next round starts from it.
            self.engines.put(EngineKey.of(job.row).after_round(number), engine)
        elif publish_later and job.released:
            # The lease went back with the verdict: the `resume` takes it to publish.
            self.ctx.scheduler.publish_later(job.id)
            return None
        return self._after(job, engine, verdict, show_progress)

    def _failed(self, verification_id: int, owner: str, error: Exception) -> None:
        """Note the failed attempt; after too many, stop the verification and say why."""
        limit = self.ctx.options.max_step_failures
        text = f"{type(error).__name__}: {error}"
        try:
            with self.ctx.sessions.begin() as session:
                count = records.failed_steps(session, verification_id) + 1
                if session.get(Verification, verification_id) is None:
                    return
                records.note(
                    session,
                    records.STEP_FAILED,
                    FAILED_ATTEMPT.format(count=count, limit=limit, error=text),
                    at=records.moment(self.ctx.clock()),
                    verification_id=verification_id,
                )
                loaded = records.load(session, verification_id)
            if count < limit or loaded is None:
                return
            row, deployment = loaded
            job = Job(self.ctx, None, row, deployment, owner)
            try:
                publish.give_up(job, count, text)
            finally:
                job.close()
        except Exception:
            # The database itself may be what failed: the reconciler tries again later.
            log.exception("verification.failure_not_recorded", verification=verification_id)


def _watching(row: Verification, deployment: Deployment) -> bool:
    """Whether the step will run the engine: a plan, no verdict, not superseded."""
    return (
        row.plan is not None
        and row.started_at is not None
        and row.verdict is None
        and deployment.superseded_by_id is None
    )


def _observe(results: list[ProbeResult]) -> None:
    for result in results:
        if result.latency_s is not None:
            observe_probe(result.phase.value, result.latency_s)
