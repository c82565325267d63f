"""`deploy-guard worker`: job workers only, for the scale-out setup (Redis queue, many replicas)."""

from __future__ import annotations

import sys
from typing import Final, NoReturn

import click

BAD_SETTING: Final = "deploy-guard worker: {problem}"
NOT_MIGRATED: Final = (
    "deploy-guard worker: {url} is at schema {current}, not {head}: run `deploy-guard db "
    "upgrade` first"
)
NO_DATABASE: Final = "deploy-guard worker: {url}: the database does not answer ({why})"
EXIT_SETTINGS: Final = 2
EXIT_FAILED: Final = 1


@click.command()
@click.option(
    "--threads",
    default=2,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker threads in this process (each runs one verification step at a time).",
)
@click.option(
    "--tick",
    default=0.1,
    show_default=True,
    type=click.FloatRange(min=0.01),
    help="Seconds between looks at the delayed jobs (watch rounds) that have come due.",
)
@click.option(
    "--reconcile-every",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds between searches for verifications whose next job was lost.",
)
@click.option(
    "--grace",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0.0),
    help="Seconds a due step may be late before it counts as lost.",
)
@click.option(
    "--lease",
    default=60.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds a step holds its verification, on top of its probes' timeouts.",
)
@click.option(
    "--github-pacing/--no-github-pacing",
    default=True,
    show_default=True,
    help="Serial GitHub requests, a second between writes, as GitHub asks; off only for the "
    "local sandbox.",
)
def worker(
    *,
    threads: int,
    tick: float,
    reconcile_every: float,
    grace: float,
    lease: float,
    github_pacing: bool,
) -> None:
    """Job workers only (scale-out with Redis): verifications, rounds, supersedes."""
    from guard.jobs.consumer import run_workers
    from guard.jobs.options import WorkerOptions
    from guard.observability.startup import start_observability
    from guard.settings import SettingsError, load_settings

    try:
        settings = load_settings(require_github=True, require_webhook_secret=False)
    except SettingsError as error:
        _fail(BAD_SETTING.format(problem=error), EXIT_SETTINGS)
    # Before logging is set up: alembic's own lines about the check are noise in the log.
    _check_schema(settings.database_url)
    start_observability(settings)
    options = WorkerOptions(
        threads=threads,
        tick_s=tick,
        reconcile_every_s=reconcile_every,
        grace_s=grace,
        lease_s=lease,
        github_pacing=github_pacing,
    )
    run_workers(settings, options)


def _check_schema(database_url: str) -> None:
    """Stop with one line unless the database answers at the newest schema: workers do not
    migrate (replicas starting together would race), `deploy-guard db upgrade` does."""
    from sqlalchemy.exc import SQLAlchemyError

    from guard.observability.logs import error_summary
    from guard.settings import redact_url
    from guard.store import current_revision, head_revision, make_engine

    url = redact_url(database_url)
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            current = current_revision(connection)
    except SQLAlchemyError as error:
        _fail(NO_DATABASE.format(url=url, why=error_summary(error)), EXIT_FAILED)
    finally:
        engine.dispose()
    head = head_revision()
    if current != head:
        _fail(NOT_MIGRATED.format(url=url, current=current or "none", head=head), EXIT_FAILED)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(code)
