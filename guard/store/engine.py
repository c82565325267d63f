"""Opens the guard's database: SQLite tuned for a busy single machine, or PostgreSQL via psycopg."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from guard.settings import normalize_database_url

# How long a SQLite writer waits for another to finish before failing "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Execution option of sessions that only read (pages, the API): on SQLite they start with a
# plain BEGIN, so a slow page never holds the write lock the workers need.
READ_ONLY = "guard_read_only"


def make_engine(url: str, **engine_options: Any) -> Engine:
    """An engine for `url` (sqlite:///file.db or postgresql+psycopg://...).

    SQLite gets write-ahead logging (readers do not block the writer), foreign keys (off by
    default in SQLite) and a busy timeout; transactions start with BEGIN IMMEDIATE (except in
    read-only sessions), so concurrent writers queue on the busy timeout instead of failing
    mid-transaction when one's read snapshot goes stale.
    """
    parsed = make_url(normalize_database_url(url))
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(parsed, **engine_options)
        _tune_sqlite(engine, in_memory=parsed.database in (None, "", ":memory:"))
        return engine
    options: dict[str, Any] = {"pool_pre_ping": True, **engine_options}
    return sa.create_engine(parsed, **options)


def make_session_factory(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (handlers log them afterwards).

    `read_only` sessions are for code that never writes; on SQLite they do not take the
    write lock (and a write in one fails rather than waits).
    """
    bind = engine.execution_options(**{READ_ONLY: True}) if read_only else engine
    return sessionmaker(bind, expire_on_commit=False)


def _tune_sqlite(engine: Engine, *, in_memory: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module, which would otherwise
        # not BEGIN before SELECTs or SAVEPOINTs (see _begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        # IMMEDIATE takes the write lock up front: a transaction that reads and then writes
        # would otherwise fail at once, without waiting, when another wrote in between.
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
