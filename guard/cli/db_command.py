"""`deploy-guard db`: database maintenance; `db upgrade` brings the schema up to date."""

from __future__ import annotations

from pathlib import Path

import click

MISSING_DIRECTORY = (
    "the directory {directory} does not exist; create it or point GUARD_DATABASE_URL elsewhere"
)
UPGRADED = "{url}: migrated from {before} to {after} (the newest schema)"
ALREADY_CURRENT = "{url}: already at {after}, the newest schema; nothing to do"
EMPTY_DATABASE = "an empty database"


@click.group()
def db() -> None:
    """Database maintenance."""


@db.command()
def upgrade() -> None:
    """Migrate the database at GUARD_DATABASE_URL to the newest schema."""
    # Imported here: the CLI's other commands must not pay for SQLAlchemy and alembic.
    from sqlalchemy.exc import SQLAlchemyError

    from guard.settings import SettingsError, load_settings, redact_url
    from guard.store.migrate import upgrade as upgrade_database

    try:
        settings = load_settings(require_github=False)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    url = redact_url(settings.database_url)
    try:
        result = upgrade_database(settings.database_url)
    except SQLAlchemyError as exc:
        raise click.ClickException(f"{url}: {_explain(settings.database_url, exc)}") from None
    template = UPGRADED if result.changed else ALREADY_CURRENT
    click.echo(template.format(url=url, before=result.before or EMPTY_DATABASE, after=result.after))


def _explain(database_url: str, exc: Exception) -> str:
    """One line on why the database could not be migrated."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        directory = Path(url.database).absolute().parent
        if not directory.is_dir():
            return MISSING_DIRECTORY.format(directory=directory)
    # The driver's own message, first line only: psycopg's run to several lines.
    original = getattr(exc, "orig", None)
    text = str(original if original is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
