"""The durable job queue: huey on SQLite beside the database, or on Redis, behind one API.

The service puts jobs on it (`enqueue_verification`, `enqueue_supersede`); workers run them.
Both sides build the same JobQueue from the settings, so the task names always match.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from guard.gate.background import followup_task, job_means
from guard.jobs.catch_up import catch_up_due, catch_up_quietly
from guard.jobs.context import GitHubFactory, JobContext, build_context
from guard.jobs.options import WorkerOptions
from guard.jobs.owed_incidents import file_owed_incidents
from guard.jobs.redis_queue import make_redis_huey
from guard.jobs.sqlite_queue import GuardSqliteHuey
from guard.jobs.steps import VerificationJobs
from guard.observability.logs import get_logger
from guard.settings import Settings

log = get_logger(__name__)

QUEUE_NAME = "deploy-guard"
# The priority of watch rounds and resumes over start jobs (0), where the storage has them.
AHEAD_OF_STARTS = 10


def _sqlite_path(queue_url: str) -> str:
    database = make_url(queue_url).database
    if not database:
        raise ValueError(f"{queue_url} names no file for the queue")
    return database


def make_huey(queue_url: str, name: str = QUEUE_NAME) -> Any:
    """huey on the queue URL's backend: for sqlite:///file huey's SQLite queue without an
    fsync per operation (guard.jobs.sqlite_queue), for redis:// huey's priority queue on Redis
    (guard.jobs.redis_queue, which takes over an older guard's jobs)."""
    scheme = urlsplit(queue_url).scheme
    # Results are never read: every outcome a job has is in the database.
    if scheme == "sqlite":
        path = _sqlite_path(queue_url)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return GuardSqliteHuey(name, filename=path, results=False, utc=True)
    if scheme in ("redis", "rediss"):
        return make_redis_huey(queue_url, name)
    raise ValueError(f"unsupported queue URL scheme {scheme!r} (sqlite or redis)")


class JobQueue:
    """The guard's jobs on one huey instance; `jobs` (the database side) is built on first use."""

    def __init__(
        self,
        huey: Any,
        settings: Settings,
        *,
        options: WorkerOptions | None = None,
        clock: Callable[[], float] = time.time,
        github: GitHubFactory | None = None,
    ) -> None:
        self.huey = huey
        # Whether the storage dequeues by priority (both of ours do: SQLite and Redis).
        self._priorities = bool(getattr(huey.storage, "priority", False))
        self.settings = settings
        self.options = options or WorkerOptions()
        self._clock = clock
        self._github = github
        self._context: JobContext | None = None
        self._jobs: VerificationJobs | None = None
        self._lock = threading.Lock()
        # Explicit names: queued messages name their task, so these never change.
        self._start = huey.task(name="start_verification")(self._run_start)
        self._round = huey.task(name="run_round")(self._run_round)
        self._resume = huey.task(name="resume_verification")(self._run_resume)
        self._supersede = huey.task(name="supersede")(self._run_supersede)
        self._catch_up = huey.task(name="catch_up_deliveries")(self._run_catch_up)
        # Gate answers and ChatOps commands: durable follow-ups on the same queue.
        self.enqueue_followup = followup_task(huey, lambda: job_means(self))

    # -- what the service enqueues -----------------------------------------------------------
    def enqueue_verification(self, deployment_id: int) -> None:
        """Verify the recorded deployment with this GitHub deployment id."""
        self._start(deployment_id)

    def enqueue_supersede(
        self, repository: str, environment: str, newer_deployment_id: int
    ) -> None:
        """Stop verifying the environment's deployments older than this GitHub deployment id."""
        self._supersede(repository, environment, newer_deployment_id)

    def ping(self) -> bool:
        """Whether the queue's backend answers (for /readyz)."""
        try:
            self.huey.pending_count()
        except Exception as error:
            log.warning("queue.unreachable", error=str(error))
            return False
        return True

    # -- what the workers enqueue ------------------------------------------------------------
    def schedule_round(self, verification_id: int, number: int, delay_s: float) -> None:
        """Round `number` as a delayed job: it waits in huey's schedule, not in a thread."""
        if delay_s > 0:
            # Straight into huey's schedule: `.schedule()` would queue it first, for a worker
            # to take it off the queue only to put it in the schedule.
            self.huey.add_schedule(self._round.s(verification_id, number, **self._ahead(delay_s)))
        else:
            self.huey.enqueue(self._round.s(verification_id, number, **self._ahead()))

    def _ahead(self, delay_s: float | None = None) -> dict[str, float]:
        """Options of a job that goes before start jobs: a watch round is due at a time, and
        a start (reading the policy, making the check run) may as well wait its turn.

        Only where the queue's storage orders by priority (SQLite, and Redis's sorted set);
        a storage without priorities keeps every job in its order.
        """
        options: dict[str, float] = {}
        if self._priorities:
            options["priority"] = AHEAD_OF_STARTS
        if delay_s is not None:
            options["delay"] = delay_s
        return options

    def publish_later(self, verification_id: int) -> None:
        """A `resume` at the priority of starts: a passed verification's check run and
        status wait for the rounds due, which keep their times (see `VerificationJobs._round`)."""
        self.huey.enqueue(self._resume.s(verification_id))

    def enqueue_resume(self, verification_id: int) -> None:
        self.huey.enqueue(self._resume.s(verification_id, **self._ahead()))

    def pending(self) -> int:
        """Jobs waiting to run now plus delayed jobs waiting for their time."""
        return int(self.huey.pending_count()) + int(self.huey.scheduled_count())

    # -- the worker side ---------------------------------------------------------------------
    @property
    def jobs(self) -> VerificationJobs:
        """The job logic with its database and GitHub access, built once per process."""
        with self._lock:
            if self._jobs is None:
                self._context = build_context(
                    self.settings, self, self.options, clock=self._clock, github=self._github
                )
                self._jobs = VerificationJobs(self._context)
            return self._jobs

    def reconcile(self) -> int:
        """Queue `resume` for every verification whose next job is overdue and not waiting
        in the queue; how many.

        A job still in the queue's storage (queued, or delayed in its schedule) will run: a
        late one is a busy queue, not a lost job, and a `resume` beside it would only be one
        more job for the same step. Only jobs that left the queue with a worker that then
        died, or that failed, are missing from it.
        """
        overdue = self.jobs.overdue()
        if overdue:
            waiting = self.waiting_verifications()
            overdue = [
                verification_id for verification_id in overdue if verification_id not in waiting
            ]
        for verification_id in overdue:
            self.enqueue_resume(verification_id)
        if overdue:
            log.info("reconcile.resumed", verifications=overdue)
        # Incidents owed by verifications that gave up (guard.jobs.owed_incidents).
        file_owed_incidents(self.jobs.ctx)
        # Webhook deliveries GitHub failed to make, every few minutes (guard.jobs.catch_up).
        self.enqueue_catch_up()
        return len(overdue)

    def enqueue_catch_up(self) -> bool:
        """Queue a catch-up pass when one is due and none waits in the queue; whether queued.

        A pass with a backlog redelivers a second apart, up to minutes: a worker runs it, so
        the reconciler's turn (resumes, owed incidents) never waits on it. The pass's lease
        keeps it to one at a time across workers and replicas.
        """
        if not catch_up_due(self.jobs.ctx):
            return False
        if any(task.name == self._catch_up.name for task in self.huey.pending()):
            return False
        self.huey.enqueue(self._catch_up.s())
        return True

    def waiting_verifications(self) -> set[int]:
        """Verifications that a round or resume job in the queue (or its schedule) names."""
        names = {self._round.name, self._resume.name}
        waiting: set[int] = set()
        for task in [*self.huey.pending(), *self.huey.scheduled()]:
            if task.name in names and task.args:
                waiting.add(int(task.args[0]))
        return waiting

    def _run_start(self, deployment_id: int) -> None:
        self.jobs.start(deployment_id)

    def _run_round(self, verification_id: int, number: int) -> None:
        self.jobs.run_round(verification_id, number)

    def _run_resume(self, verification_id: int) -> None:
        self.jobs.resume(verification_id)

    def _run_supersede(self, repository: str, environment: str, newer_deployment_id: int) -> None:
        self.jobs.supersede(repository, environment, newer_deployment_id)

    def _run_catch_up(self) -> None:
        catch_up_quietly(lambda: self.jobs.ctx)

    def close(self) -> None:
        """Release the database engine and the queue's connections."""
        with self._lock:
            if self._context is not None:
                self._context.close()
            self._context = None
            self._jobs = None
        storage = self.huey.storage
        storage.close()
        # huey's Redis storage leaves its connection pool open on close().
        pool = getattr(storage, "pool", None)
        if pool is not None:
            pool.disconnect()


def make_queue(
    settings: Settings,
    *,
    name: str = QUEUE_NAME,
    options: WorkerOptions | None = None,
    clock: Callable[[], float] = time.time,
    github: GitHubFactory | None = None,
) -> JobQueue:
    """The queue the settings name (GUARD_QUEUE_URL; SQLite beside the database by default)."""
    return JobQueue(
        make_huey(settings.queue_url, name),
        settings,
        options=options,
        clock=clock,
        github=github,
    )
