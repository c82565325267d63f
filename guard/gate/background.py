"""Webhook follow-ups (a gate answer, a ChatOps command) run after the delivery is answered.

A handler records what it needs and calls `follow_up`: the work goes on the durable job
queue when the queue offers `enqueue_followup` (see `followup_task`), else onto a small
bounded pool of threads in this process, started once the handler's transaction commits.
Either way the work is a JSON-able mapping, and `perform` runs it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from guard.github.client import GitHubClient
from guard.observability.logs import get_logger
from guard.settings import Settings

if TYPE_CHECKING:
    # Types only: guard.handlers imports the handlers that import this module.
    from guard.handlers.context import HandlerContext
    from guard.jobs.steps import VerificationJobs

log = get_logger(__name__)

Work = Mapping[str, Any]
# A durable follow-up that failed transiently runs again this many times at most, after
# these delays: GitHub being down for a few minutes must not leave a deployment waiting.
MAX_ROUNDS = 3
ROUND_DELAYS_S = (60.0, 300.0)
# The in-process fallback: few threads, and a bounded backlog rather than unbounded memory.
POOL_THREADS = 2
POOL_BACKLOG = 64
# Names, in work handed to a queue, the in-process pool to fall back on (never persisted).
FALLBACK_KEY = "_inline_pool"
# Work that asks for it (seconds under LATE_CHECK_AFTER_KEY) gets a second, late run, put in
# the queue's schedule before its first run starts: a worker killed mid-run takes its job
# with it, and the late run is what finds the work unfinished (LATE_CHECK_KEY set).
LATE_CHECK_AFTER_KEY = "late_check_after_s"
LATE_CHECK_KEY = "late_check"

POOL_FULL = "the guard is answering {pending} webhook follow-ups already; redeliver this one later"


class Outcome(StrEnum):
    """How one run of a follow-up ended."""

    DONE = "done"
    # GitHub was unavailable: worth another round later.
    RETRY = "retry"
    GAVE_UP = "gave_up"


@dataclass(frozen=True)
class Resume:
    """Run again later, from `work`: what this run did and found out travels with it, so the
    next round carries on where this one stopped instead of doing it again."""

    work: Work


# How one run of a follow-up ended, or where the next round starts.
RunResult = Outcome | Resume


class VerificationQueue(Protocol):
    """The one job a follow-up may start itself (`/guard retry`)."""

    def enqueue_verification(self, deployment_id: int) -> None: ...


@runtime_checkable
class FollowUpQueue(Protocol):
    """A job queue that runs follow-ups durably (guard.jobs.queue.JobQueue, once hooked)."""

    def enqueue_followup(self, work: Work) -> None: ...


@dataclass(frozen=True)
class Means:
    """What a follow-up uses: the database, GitHub per installation, a clock, the settings."""

    sessions: sessionmaker[Session]
    github: Callable[[int | None], GitHubClient]
    settings: Settings
    clock: Callable[[], float] = time.time
    # None where no queue is at hand; `/guard retry` then says it cannot start one.
    verifications: VerificationQueue | None = None


class FollowUpRefusedError(RuntimeError):
    """The in-process pool is full: the delivery fails, so GitHub shows it for redelivery."""


def perform(means: Means, work: Work, *, final_round: bool = True) -> RunResult:
    """Run one follow-up: route it by its `kind`."""
    # Imported here: the gate and ChatOps modules import this one for Means and Outcome.
    from guard.chatops.run import run_command
    from guard.gate.answer import answer_gate

    kind = work.get("kind")
    if kind == "gate":
        return answer_gate(means, work, final_round=final_round)
    if kind == "chatops":
        return run_command(means, work, final_round=final_round)
    log.error("followup.unknown_kind", kind=str(kind))
    return Outcome.GAVE_UP


class _Enqueue(Protocol):
    def __call__(self, work: Work) -> None: ...


class JobHost(Protocol):
    """What the durable path needs of guard.jobs.queue.JobQueue: its worker-side context."""

    @property
    def jobs(self) -> VerificationJobs: ...

    def enqueue_verification(self, deployment_id: int) -> None: ...


def job_means(queue: JobHost) -> Means:
    """The means of a follow-up run by a job worker: the workers' own database and GitHub."""
    ctx = queue.jobs.ctx
    return Means(
        sessions=ctx.sessions,
        github=ctx.github,
        settings=ctx.settings,
        clock=ctx.clock,
        verifications=queue,
    )


def send_followup(queue: object, work: Work) -> None:
    """Put `work` on `queue`, for a holder of jobs that sends them after the commit.

    A queue that runs no follow-ups (the job queue before its hook) hands the work to the
    in-process pool of the settings the handler named, the commit being done by now.
    """
    own = {key: value for key, value in work.items() if key != FALLBACK_KEY}
    if isinstance(queue, FollowUpQueue):
        queue.enqueue_followup(own)
        return
    with _INLINE_LOCK:
        entry = _INLINE.get(work.get(FALLBACK_KEY, 0))
    if entry is None:
        raise TypeError(f"{type(queue).__name__} runs no webhook follow-ups")
    pool = entry[1]
    pool.reserve()
    pool.submit_reserved(own)


def followup_task(huey: Any, means: Callable[[], Means]) -> _Enqueue:
    """Register the follow-up task on `huey`; returns the function that enqueues work.

    `means` is asked on the worker, at run time (the queue builds its database and GitHub
    access lazily there). A round that ends in RETRY is scheduled again, up to MAX_ROUNDS.
    """

    def run(work: dict[str, Any], round_number: int = 1) -> None:
        final = round_number >= MAX_ROUNDS
        late_after = work.get(LATE_CHECK_AFTER_KEY)
        if round_number == 1 and isinstance(late_after, int | float):
            late = {k: v for k, v in work.items() if k != LATE_CHECK_AFTER_KEY}
            task.schedule(({**late, LATE_CHECK_KEY: True}, 1), delay=float(late_after))
        try:
            outcome = perform(means(), work, final_round=final)
        except Exception:
            # Not retried blindly: the work may have been half done (a comment posted). Work
            # that can be resumed safely says so with Resume instead of raising.
            log.exception("followup.failed", kind=work.get("kind"))
            return
        again: Work | None = None
        if isinstance(outcome, Resume):
            again = outcome.work
        elif outcome is Outcome.RETRY:
            again = work
        if again is None:
            return
        if final:
            log.error("followup.gave_up", kind=work.get("kind"), rounds=round_number)
            return
        delay = ROUND_DELAYS_S[min(round_number, len(ROUND_DELAYS_S)) - 1]
        log.warning("followup.retry_later", kind=work.get("kind"), delay_s=delay)
        task.schedule((dict(again), round_number + 1), delay=delay)

    # The name is what queued messages carry: it never changes.
    task = huey.task(name="webhook_followup")(run)

    def enqueue(work: Work) -> None:
        task(dict(work), 1)

    return enqueue


class InlineFollowUps:
    """The fallback when the queue runs no follow-ups: a bounded pool of threads.

    Thread-safe: each follow-up gets its own GitHub client and database session. Work is
    handed over only after the handler's transaction commits, as jobs are.
    """

    def __init__(
        self,
        means: Callable[[], Means],
        *,
        threads: int = POOL_THREADS,
        backlog: int = POOL_BACKLOG,
    ) -> None:
        self._means = means
        self._backlog = backlog
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="guard-followup")
        self._lock = threading.Lock()
        self._pending = 0

    @property
    def pending(self) -> int:
        with self._lock:
            return self._pending

    def reserve(self) -> None:
        """Count one more follow-up in; raises FollowUpRefusedError when the backlog is full."""
        with self._lock:
            if self._pending >= self._backlog:
                raise FollowUpRefusedError(POOL_FULL.format(pending=self._pending))
            self._pending += 1

    def release(self) -> None:
        with self._lock:
            self._pending -= 1

    def submit_reserved(self, work: Work) -> None:
        """Run `work` (already reserved) on the pool."""
        self._pool.submit(self._run, dict(work))

    def after_commit(self, session: Session, work: Work) -> None:
        """Run `work` once `session`'s transaction commits; nothing if it rolls back."""
        self.reserve()
        root = session.get_transaction()
        if root is None:
            # Nothing to wait for: no transaction is open on the session.
            self.submit_reserved(work)
            return
        done = threading.Event()

        def committed(_session: Session) -> None:
            if not done.is_set():
                done.set()
                self.submit_reserved(work)

        def ended(_session: Session, transaction: SessionTransaction) -> None:
            # Savepoints end too (and roll back on a duplicate insert): only the end of the
            # transaction the work was handed over in counts. A commit came first if any.
            # (Listeners cannot be removed while SQLAlchemy runs them: this one stays, idle.)
            if transaction is not root:
                return
            if not done.is_set():
                done.set()
                self.release()

        event.listen(session, "after_commit", committed, once=True)
        event.listen(session, "after_transaction_end", ended)

    def _run(self, work: dict[str, Any]) -> None:
        try:
            outcome = perform(self._means(), work)
            if isinstance(outcome, Resume):
                # This pool keeps nothing across a restart and runs one round: say what is
                # left undone (the durable queue resumes it instead).
                log.error("followup.not_resumed", kind=work.get("kind"))
        except Exception:
            log.exception("followup.failed", kind=work.get("kind"))
        finally:
            self.release()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)


_INLINE: dict[int, tuple[Settings, InlineFollowUps]] = {}
_INLINE_LOCK = threading.Lock()


def settings_means(settings: Settings) -> Callable[[], Means]:
    """Means built from the settings alone, once, on first use (the in-process fallback's)."""
    built: list[Means] = []
    lock = threading.Lock()

    def means() -> Means:
        with lock:
            if not built:
                # Imported late: the job modules pull in the probes, which a handler never needs.
                from guard.jobs.context import github_factory
                from guard.jobs.options import WorkerOptions
                from guard.jobs.queue import make_queue
                from guard.store import make_engine, make_session_factory

                built.append(
                    Means(
                        sessions=make_session_factory(make_engine(settings.database_url)),
                        github=github_factory(settings, WorkerOptions()),
                        settings=settings,
                        verifications=make_queue(settings),
                    )
                )
            return built[0]

    return means


def inline_followups(settings: Settings) -> InlineFollowUps:
    """The process's pool for these settings, made on first use."""
    with _INLINE_LOCK:
        entry = _INLINE.get(id(settings))
        if entry is None or entry[0] is not settings:
            entry = (settings, InlineFollowUps(settings_means(settings)))
            _INLINE[id(settings)] = entry
        return entry[1]


def use_inline_followups(settings: Settings, pool: InlineFollowUps) -> None:
    """Run the fallback follow-ups of these settings on `pool` (tests give their own means)."""
    with _INLINE_LOCK:
        _INLINE[id(settings)] = (settings, pool)


def follow_up(ctx: HandlerContext[Any], work: Work) -> bool:
    """Hand `work` on after the handler's transaction commits; True when it went to a queue."""
    pool = inline_followups(ctx.settings)
    if isinstance(ctx.queue, FollowUpQueue):
        ctx.queue.enqueue_followup({**work, FALLBACK_KEY: id(ctx.settings)})
        return True
    pool.after_commit(ctx.session, work)
    return False
