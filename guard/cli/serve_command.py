"""`deploy-guard serve`: the webhook service under gunicorn, with the embedded defaults.

It needs nothing but a webhook secret and GitHub credentials: it creates and migrates the
SQLite database, starts the job workers (in a child process) when the queue is SQLite, and
runs gunicorn (gthread workers) in front of `guard.service.app.create_app`.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from typing import Final, NoReturn

import click

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8000
DEFAULT_WORKERS: Final = 2
EMBEDDED_WORKER_THREADS: Final = 8

BAD_SETTING: Final = "deploy-guard serve: {problem}"
DATABASE_FAILED: Final = "deploy-guard serve: {url}: the database cannot be migrated ({why})"
WORKERS_FAILED: Final = "deploy-guard serve: the embedded job workers did not start ({why})"
REDIS_QUEUE: Final = (
    "the job queue is {url}: no workers run inside serve; run `deploy-guard worker` "
    "(as many as you need) to process verifications"
)
EXIT_SETTINGS: Final = 2
EXIT_FAILED: Final = 1


@click.command()
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free port; the log line serve.listening says which).",
)
@click.option(
    "--workers",
    default=DEFAULT_WORKERS,
    show_default=True,
    type=click.IntRange(1, 64),
    help="gunicorn worker processes.",
)
def serve(host: str, port: int, workers: int) -> None:
    """The webhook service with the embedded defaults (SQLite database and queue)."""
    # Before anything imports prometheus_client: it picks its multiprocess storage at import.
    metrics_directory = tempfile.mkdtemp(prefix="deploy-guard-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_directory
    master = os.getpid()
    try:
        _serve(host, port, workers, master)
    finally:
        if os.getpid() == master:
            shutil.rmtree(metrics_directory, ignore_errors=True)


def _serve(host: str, port: int, workers: int, master: int) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from guard.observability.logs import error_summary, get_logger
    from guard.observability.startup import start_observability
    from guard.settings import SettingsError, load_settings, redact_url
    from guard.store.migrate import upgrade

    try:
        settings = load_settings()
    except SettingsError as error:
        _fail(BAD_SETTING.format(problem=error), EXIT_SETTINGS)
    start_observability(settings)
    # alembic narrates each step at INFO; serve.database_ready below says what matters.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    log = get_logger("guard.serve")
    try:
        result = upgrade(settings.database_url)
    except SQLAlchemyError as error:
        url = redact_url(settings.database_url)
        _fail(DATABASE_FAILED.format(url=url, why=error_summary(error)), EXIT_FAILED)
    log.info("serve.database_ready", revision=result.after, migrated=result.changed)

    jobs = None
    if settings.queue_url.startswith("sqlite:"):
        from guard.service.jobs_process import JobsProcessError, start_jobs_process

        try:
            jobs = start_jobs_process(EMBEDDED_WORKER_THREADS)
        except JobsProcessError as error:
            _fail(WORKERS_FAILED.format(why=error), EXIT_FAILED)
        log.info("serve.embedded_workers_started", threads=EMBEDDED_WORKER_THREADS, pid=jobs.pid)
    else:
        queue = redact_url(settings.queue_url)
        log.warning("serve.no_embedded_workers", reason=REDIS_QUEUE.format(url=queue))

    from guard.observability.metrics import forget_process
    from guard.service.server import GuardServer, server_options

    try:
        GuardServer(settings, server_options(host, port, workers)).run()
    finally:
        # gunicorn's workers are forks of this process that leave through this same stack
        # (sys.exit in the child): only the master owns the job workers and the metrics files.
        if jobs is not None and os.getpid() == master:
            from guard.service.jobs_process import stop_jobs_process

            stop_jobs_process(jobs)
            forget_process(jobs.pid)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(code)
