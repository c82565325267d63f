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

from huey import RedisHuey, SqliteHuey
from sqlalchemy.engine import make_url

from guard.gate.background import followup_task, job_means
from guard.jobs.context import GitHubFactory, JobContext, build_context
from guard.jobs.options import WorkerOptions
from guard.jobs.steps import VerificationJobs
from guard.observability.logs import get_logger
from guard.settings import Settings

log = get_logger(__name__)

QUEUE_NAME = "deploy-guard"


def _sqlite_path(queue_url: str) -> str:
    database = make_url(queue_url).database
    if not database:
        raise ValueError(f"{queue_url} names no file for the queue")
    return database


def make_huey(queue_url: str, name: str = QUEUE_NAME) -> Any:
    """huey on the queue URL's backend: SqliteHuey for sqlite:///file, RedisHuey for redis://."""
    scheme = urlsplit(queue_url).scheme
    # Results are never read: every outcome a job has is in the database.
    if scheme == "sqlite":
        path = _sqlite_path(queue_url)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(name, filename=path, results=False, utc=True)
    if scheme in ("redis", "rediss"):
        return RedisHuey(name, url=queue_url, results=False, utc=True)
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
            self._round.schedule((verification_id, number), delay=delay_s)
        else:
            self._round(verification_id, number)

    def enqueue_resume(self, verification_id: int) -> None:
        self._resume(verification_id)

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
        """Queue `resume` for every verification whose next job is overdue; how many."""
        overdue = self.jobs.overdue()
        for verification_id in overdue:
            self.enqueue_resume(verification_id)
        if overdue:
            log.info("reconcile.resumed", verifications=overdue)
        return len(overdue)

    def _run_start(self, deployment_id: int) -> None:
        self.jobs.start(deployment_id)

    def _run_round(self, verification_id: int, number: int) -> None:
        self.jobs.run_round(verification_id, number)

    def _run_resume(self, verification_id: int) -> None:
        self.jobs.resume(verification_id)

    def _run_supersede(self, repository: str, environment: str, newer_deployment_id: int) -> None:
        self.jobs.supersede(repository, environment, newer_deployment_id)

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
