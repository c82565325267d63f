"""Alembic, configured in code: migrations run from an installed package, no alembic.ini."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from guard.store.engine import make_engine

MIGRATIONS_DIRECTORY = Path(__file__).with_name("migrations")


@dataclass(frozen=True)
class UpgradeResult:
    """The schema revision before and after an upgrade (None: an empty database)."""

    before: str | None
    after: str | None

    @property
    def changed(self) -> bool:
        return self.before != self.after


def alembic_config(connection: sa.Connection | None = None, url: str | None = None) -> Config:
    """A Config for alembic's commands. env.py uses `connection` when given, else `url`.

    For a new revision during development:
    `alembic.command.revision(alembic_config(url=...), "what changed", autogenerate=True)`.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIRECTORY))
    if url is not None:
        config.attributes["database_url"] = url
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The newest revision this code knows."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: sa.Connection) -> str | None:
    """The revision the database is at (None when it has never been migrated)."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(database_url: str, revision: str = "head") -> UpgradeResult:
    """Migrate the database at `database_url` to `revision` (default: the newest)."""
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            before = current_revision(connection)
            command.upgrade(alembic_config(connection), revision)
            after = current_revision(connection)
    finally:
        engine.dispose()
    return UpgradeResult(before=before, after=after)
