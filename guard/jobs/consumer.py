"""Running the jobs: huey worker threads inside `serve`, or a `deploy-guard worker` process.

Next to huey's workers runs a supervisor thread: the reconciler (at start, then every
`reconcile_every_s`) queues again what a killed worker dropped, and dead worker threads are
replaced.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from types import TracebackType

from huey.consumer import Consumer, Scheduler

from guard.jobs.catch_up import catch_up_quietly
from guard.jobs.deliveries import start_dispatcher
from guard.jobs.options import WorkerOptions
from guard.jobs.queue import QUEUE_NAME, JobQueue, make_queue
from guard.jobs.sqlite_queue import GuardSqliteHuey
from guard.observability.logs import get_logger
from guard.settings import Settings

log = get_logger(__name__)


class _FineScheduler(Scheduler):  # type: ignore[misc]  # huey has no type hints
    """huey's scheduler with a tick below its one-second floor, for rounds shorter than that;
    on the guard's SQLite queue a tick's due jobs move in one transaction."""

    _next_loop: float  # set by huey's Scheduler

    def __init__(self, huey: object, stop_flag: object, interval: float, periodic: bool) -> None:
        super().__init__(huey, stop_flag, 1, periodic)
        self.interval = interval
        self._moves_at_once = isinstance(huey, GuardSqliteHuey)

    def loop(self, now: datetime | None = None) -> None:
        if not self._moves_at_once:
            super().loop(now)
            return
        started = self._next_loop
        self._next_loop += self.interval
        if self._next_loop < time.monotonic():
            # Behind by more than a tick (as huey does): start again from now.
            self._next_loop = time.monotonic()
            return
        try:
            self.huey.move_due(now)
        except Exception:
            # The queue file may be locked for a moment; the next tick moves them.
            log.exception("scheduler.move_failed")
        self.sleep_for_interval(started, self.interval)


def quiet_task_lines() -> None:
    """Keep huey's two info lines per task ("Executing ...", "... executed in ...") out of the
    log: each round and start is in the verification's timeline already, and at 200 steps a
    second the lines cost the workers CPU. huey's warnings and errors (a task that raised)
    still show, and so do the consumer's own lines (start-up, shutdown)."""
    logging.getLogger("huey").setLevel(logging.WARNING)
    logging.getLogger("huey.consumer").setLevel(logging.INFO)


class GuardConsumer(Consumer):  # type: ignore[misc]  # huey has no type hints
    """A huey consumer of worker threads; embedded in a web process it leaves signals alone."""

    def __init__(self, queue: JobQueue, *, threads: int, embedded: bool) -> None:
        quiet_task_lines()
        options = queue.options
        self._tick_s = options.tick_s
        self._embedded = embedded
        super().__init__(
            queue.huey,
            workers=threads,
            periodic=False,
            initial_delay=min(0.1, options.tick_s),
            backoff=1.15,
            # An idle worker polls SQLite at least every tick, so a new job waits no longer.
            max_delay=options.tick_s,
            worker_type="thread",
            shutdown_timeout=options.shutdown_timeout_s,
            graceful_signal="TERM",
        )

    def _create_scheduler(self) -> _FineScheduler:
        return _FineScheduler(
            huey=self.huey, stop_flag=self.stop_flag, interval=self._tick_s, periodic=False
        )

    def _set_signal_handlers(self) -> None:
        # Inside `serve` the web server owns the signals (and this may not be the main thread).
        if not self._embedded:
            super()._set_signal_handlers()


class Supervisor:
    """Reconciles at start and every `reconcile_every_s`; replaces dead worker threads."""

    def __init__(self, queue: JobQueue, consumer: GuardConsumer, *, health_checks: bool) -> None:
        self.queue = queue
        self.consumer = consumer
        # A worker process's consumer checks its own threads; an embedded one is never run().
        self.health_checks = health_checks
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="guard-supervisor", daemon=True)
        self._catch_up = threading.Thread(
            target=catch_up_quietly,
            args=(lambda: self.queue.jobs.ctx,),
            kwargs={"force": True},
            name="guard-catch-up",
            daemon=True,
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if self._catch_up.is_alive():
            self._catch_up.join(self.queue.options.shutdown_timeout_s)

    def reconcile(self) -> None:
        try:
            self.queue.reconcile()
        except Exception:
            # The database may be down for a moment; the next turn tries again.
            log.exception("reconcile.failed")

    def _run(self) -> None:
        # Webhook deliveries GitHub failed to make while the guard was down (guard.jobs.catch_up),
        # beside the first reconcile: redeliveries go a second apart, lost jobs need not wait.
        self._catch_up.start()
        self.reconcile()
        while not self._stop.wait(self.queue.options.reconcile_every_s):
            self.reconcile()
            if not self.health_checks or self.consumer.stop_flag.is_set():
                continue
            try:
                self.consumer.check_worker_health()
            except Exception:
                log.exception("workers.health_check_failed")


class EmbeddedWorkers:
    """Worker threads inside another process (`deploy-guard serve`); `stop()` ends them."""

    def __init__(self, queue: JobQueue, threads: int) -> None:
        self.queue = queue
        self.consumer = GuardConsumer(queue, threads=threads, embedded=True)
        self.supervisor = Supervisor(queue, self.consumer, health_checks=True)
        self._stopped = False

    def start(self) -> EmbeddedWorkers:
        self.consumer.start()
        self.supervisor.start()
        # Queued webhook deliveries: their handlers run here, not in the web request.
        self.deliveries = start_dispatcher(self.queue)
        log.info("workers.started", threads=self.consumer.workers, embedded=True)
        return self

    def stop(self) -> None:
        """Let each thread finish its step (up to shutdown_timeout_s), then close everything."""
        if self._stopped:
            return
        self._stopped = True
        self.deliveries.stop()
        self.supervisor.stop()
        self.consumer.stop(graceful=True)
        self.queue.close()
        log.info("workers.stopped", embedded=True)

    def __enter__(self) -> EmbeddedWorkers:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def start_embedded_workers(
    settings: Settings,
    *,
    threads: int = 2,
    options: WorkerOptions | None = None,
    queue: JobQueue | None = None,
) -> EmbeddedWorkers:
    """Start job workers in background threads of this process; call `.stop()` on shutdown."""
    chosen = queue or make_queue(settings, options=options)
    return EmbeddedWorkers(chosen, threads).start()


def run_workers(settings: Settings, options: WorkerOptions, *, name: str = QUEUE_NAME) -> None:
    """Run workers in this process until SIGTERM (graceful) or SIGINT: `deploy-guard worker`."""
    queue = make_queue(settings, name=name, options=options)
    consumer = GuardConsumer(queue, threads=options.threads, embedded=False)
    supervisor = Supervisor(queue, consumer, health_checks=False)
    supervisor.start()
    # Queued webhook deliveries: their handlers run here, not in the web request.
    deliveries = start_dispatcher(queue)
    log.info("workers.started", threads=options.threads, embedded=False)
    try:
        consumer.run()
    finally:
        deliveries.stop()
        supervisor.stop()
        queue.close()
        log.info("workers.stopped", embedded=False)
