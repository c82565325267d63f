"""The verification jobs: start, one watch round, resume, supersede; each step durable and once.

A step holds the verification's lease while it runs; a step that finds the lease taken does
nothing. It stores its probe results and the state they lead to in one transaction, guarded
by what it expects (round n-1 recorded), so a job delivered twice does its work once. The
next round is a delayed job: no worker sleeps through a bake window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from guard.github.errors import GitHubError
from guard.jobs import publish, records
from guard.jobs.context import JobContext
from guard.jobs.job import (
    Job,
    LeaseLost,
    claim,
    lease_owner,
    log,
    release,
    round_budget_s,
    smoke_budget_s,
)
from guard.jobs.policy_source import pinned_policy
from guard.jobs.prepare import prepare
from guard.observability.metrics import observe_probe
from guard.outcomes import ProbeResult, Verdict
from guard.policy.models import Environment, Policy
from guard.probes.suite import ProbeSuite
from guard.severity import decide
from guard.store import Deployment, Verification, VerificationState
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


def _outcome(results: list[ProbeResult]) -> str:
    failed = [result for result in results if result.failed]
    if not failed:
        return "all passed" if results else "nothing to probe"
    return "; ".join(f"{result.name} failed ({result.summary})" for result in failed)


class VerificationJobs:
    """What the huey tasks call; one instance per worker process, shared by its threads."""

    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx

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
        if not claim(self.ctx, verification_id, owner, self.ctx.options.lease_s):
            log.info("verification.busy", verification=verification_id, round=expected_round)
            return
        follow_up: FollowUp | None = None
        try:
            follow_up = self._advance(verification_id, owner, expected_round)
        except LeaseLost:
            # Not a failure: the worker that took over goes on from the stored state.
            log.warning("verification.lease_lost", verification=verification_id)
        except Exception as error:
            log.exception("verification.step_failed", verification=verification_id)
            self._failed(verification_id, owner, error)
        finally:
            release(self.ctx, verification_id, owner)
        # Scheduled only after the lease is given back, or a prompt round would find it taken.
        if follow_up is not None:
            self.ctx.scheduler.schedule_round(verification_id, follow_up.number, follow_up.delay_s)

    def _advance(
        self, verification_id: int, owner: str, expected_round: int | None
    ) -> FollowUp | None:
        with self.ctx.sessions.begin() as session:
            loaded = records.load(session, verification_id)
        if loaded is None or loaded[0].state in records.FINAL_STATES:
            return None
        row, deployment = loaded
        github = self.ctx.github(deployment.installation_id)
        try:
            return self._step(Job(self.ctx, github, row, deployment, owner), expected_round)
        finally:
            github.close()

    def _step(self, job: Job, expected_round: int | None) -> FollowUp | None:
        if job.row.verdict is not None:
            publish.finish(job)
            return None
        if job.deployment.superseded_by_id is not None:
            publish.conclude_superseded(job)
            return None
        if job.row.state is VerificationState.QUEUED and not prepare(job):
            return None
        policy = pinned_policy(job.github, job.repo, job.row.policy_sha or job.deployment.sha)
        environment = policy.environments[job.deployment.environment]
        publish.ensure_check_run(job, has_smoke=bool(environment.smoke))
        with job.transaction() as session:
            engine = records.restore_engine(job.row, records.stored_results(session, job.id))
        now = job.now()
        step = engine.next_step(now)
        if isinstance(step, Finished):
            self._store_verdict(job, policy, environment, step.verdict)
            return None
        if isinstance(step, RunSmoke):
            if expected_round is not None:
                job.log.info("round.early", round=expected_round)
                return None
            return self._smoke(job, policy, environment, engine)
        assert isinstance(step, RunRound)
        if expected_round is not None and expected_round != step.number:
            # Round `expected_round` is recorded already (a duplicate) or not next (stale).
            job.log.info("round.skipped", round=expected_round, next=step.number)
            return None
        wait = step.wait_s(now)
        if wait > EARLY_TOLERANCE_S:
            return FollowUp(step.number, wait)
        return self._round(job, policy, environment, engine, step.number)

    # -- the parts of a step ---------------------------------------------------------------
    def _suite(self, job: Job, environment: Environment) -> ProbeSuite:
        return ProbeSuite(
            environment,
            base_url=job.deployment.environment_url,
            network=self.ctx.network,
            clock=self.ctx.clock,
            no_base_url_hint=NO_BASE_URL_HINT,
        )

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

    def _after(self, job: Job, engine: Engine, verdict: Verdict | None) -> FollowUp | None:
        job.reload()
        if verdict is not None:
            publish.finish(job)
            return None
        try:
            publish.show_progress(job, engine)
        except GitHubError as error:
            # Progress is a courtesy: the watch goes on, and the next round tries again.
            job.log.warning("check_run.progress_not_shown", error=str(error))
        step = engine.next_step(job.now())
        assert isinstance(step, RunRound)
        return FollowUp(step.number, step.wait_s(job.now()))

    def _smoke(
        self, job: Job, policy: Policy, environment: Environment, engine: Engine
    ) -> FollowUp | None:
        job.hold(smoke_budget_s(environment))
        with self._suite(job, environment) as suite:
            results = suite.run_smoke()
        now = job.now()
        engine.record_smoke(results, now)
        verdict = records.finished_step(engine, now)
        columns = self._verdict_columns(job, policy, environment, verdict, now)
        passed = sum(not result.failed for result in results)
        with job.transaction() as session:
            stored = records.store_smoke(
                session, job.id, results=results, engine=engine, verdict=columns, now=now
            )
            if stored:
                message = SMOKE_RECORDED.format(passed=passed, failed=len(results) - passed)
                records.note(
                    session, "smoke_recorded", message, at=job.moment(), verification_id=job.id
                )
        if not stored:
            job.log.warning("smoke.already_recorded")
            return None
        _observe(results)
        return self._after(job, engine, verdict)

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
        engine.record_round(number, results, now)
        verdict = records.finished_step(engine, now)
        columns = self._verdict_columns(job, policy, environment, verdict, now)
        with job.transaction() as session:
            stored = records.store_round(
                session,
                job.id,
                number=number,
                results=results,
                engine=engine,
                verdict=columns,
                now=now,
            )
            if stored:
                message = ROUND_RECORDED.format(
                    number=number, planned=engine.rounds_planned, outcome=_outcome(results)
                )
                records.note(
                    session, "round_recorded", message, at=job.moment(), verification_id=job.id
                )
        if not stored:
            job.log.warning("round.already_recorded", round=number)
            return None
        _observe(results)
        return self._after(job, engine, verdict)

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
            github = self.ctx.github(deployment.installation_id)
            try:
                publish.give_up(Job(self.ctx, github, row, deployment, owner), count, text)
            finally:
                github.close()
        except Exception:
            # The database itself may be what failed: the reconciler tries again later.
            log.exception("verification.failure_not_recorded", verification=verification_id)


def _observe(results: list[ProbeResult]) -> None:
    for result in results:
        if result.latency_s is not None:
            observe_probe(result.phase.value, result.latency_s)
