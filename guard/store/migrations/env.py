"""Alembic's entry point: runs the migrations on the connection or URL guard.store.migrate gives."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

# Importing the models registers every table on Base.metadata, which autogenerate compares.
import guard.store.models  # noqa: F401
from guard.store.base import Base
from guard.store.engine import make_engine

config = context.config
TARGET_METADATA = Base.metadata


def _configure(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=TARGET_METADATA,
        compare_type=True,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )


def _database_url() -> str:
    url = config.attributes.get("database_url")
    if isinstance(url, str):
        return url
    from guard.settings import load_settings

    return load_settings(require_github=False).database_url


def run_offline() -> None:
    """Print the SQL instead of running it (`alembic upgrade --sql`)."""
    context.configure(url=_database_url(), target_metadata=TARGET_METADATA, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if isinstance(connection, sa.Connection):
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_database_url())
    try:
        with engine.connect() as own_connection:
            _configure(own_connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
