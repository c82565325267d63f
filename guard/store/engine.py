"""Opens the guard's database: SQLite tuned for a busy single machine, or PostgreSQL via psycopg."""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
import time
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from guard.settings import SqliteSynchronous, normalize_database_url

# How long a SQLite writer waits for another to finish before failing "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Execution option of sessions that only read (pages, the API): on SQLite they start with a
# plain BEGIN, so a slow page never holds the write lock the workers need.
READ_ONLY = "guard_read_only"


def make_engine(
    url: str, *, sqlite_synchronous: SqliteSynchronous = "full", **engine_options: Any
) -> Engine:
    """An engine for `url` (sqlite:///file.db or postgresql+psycopg://...).

    SQLite gets write-ahead logging (readers do not block the writer), foreign keys (off by
    default in SQLite), a busy timeout and `PRAGMA synchronous=<sqlite_synchronous>`
    (GUARD_SQLITE_SYNCHRONOUS); transactions start with BEGIN IMMEDIATE (except in
    read-only sessions), so concurrent writers queue on the busy timeout instead of failing
    mid-transaction when one's read snapshot goes stale.
    """
    parsed = make_url(normalize_database_url(url))
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(parsed, **engine_options)
        _tune_sqlite(
            engine,
            in_memory=parsed.database in (None, "", ":memory:"),
            synchronous=sqlite_synchronous,
        )
        return engine
    options: dict[str, Any] = {"pool_recycle": POOL_RECYCLE_S, **engine_options}
    engine = sa.create_engine(parsed, **options)
    _ping_after_idle(engine)
    return engine


# PostgreSQL: a pooled connection idle this long is pinged before it is used again (a server
# restart or a firewall may have dropped it meanwhile), and none lives longer than the recycle
# time. A busy worker's connections are not pinged: pool_pre_ping's round trip before every
# transaction was 15% of the workers' time in the scale benchmark. A connection dropped while
# busy fails its step, which is retried like any failed step.
IDLE_PING_AFTER_S = 10.0
POOL_RECYCLE_S = 1800
_IDLE_SINCE = "guard_idle_since"


def _ping_after_idle(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_AFTER_S:
            return
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            dbapi_connection.rollback()
        except Exception as error:
            # The pool throws this connection away and hands out another (or a new) one.
            raise DisconnectionError(f"an idle pooled connection was dropped: {error}") from error


def make_session_factory(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (handlers log them afterwards).

    `read_only` sessions are for code that never writes; on SQLite they do not take the
    write lock (and a write in one fails rather than waits).
    """
    bind = engine.execution_options(**{READ_ONLY: True}) if read_only else engine
    return sessionmaker(bind, expire_on_commit=False)


# `PRAGMA synchronous` values by setting; anything else is refused before it reaches SQL.
SYNCHRONOUS_PRAGMAS: Final[dict[str, str]] = {"full": "FULL", "normal": "NORMAL"}


def _tune_sqlite(engine: Engine, *, in_memory: bool, synchronous: SqliteSynchronous) -> None:
    pragma = SYNCHRONOUS_PRAGMAS.get(synchronous)
    if pragma is None:
        raise ValueError(f"sqlite_synchronous must be full or normal, not {synchronous!r}")

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
            # Per connection (SQLite does not keep it in the file). In WAL mode NORMAL still
            # survives a crash of the process; only a power cut can lose the last commits.
            cursor.execute(f"PRAGMA synchronous={pragma}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        # IMMEDIATE takes the write lock up front: a transaction that reads and then writes
        # would otherwise fail at once, without waiting, when another wrote in between.
        if connection.get_execution_options().get(READ_ONLY, False):
            connection.exec_driver_sql("BEGIN")
        else:
            _begin_immediate(connection)


# How long a writer waits between looks at the write lock. SQLite's own busy handler sleeps
# 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms between looks, so a writer that arrives just
# after another took the lock waits up to 100 ms for a transaction of one millisecond;
# looking every 0.1 to 1 ms takes a freed lock at once, for a few microseconds per look.
_LOCK_LOOKS_S = (0.0001, 0.0002, 0.0005, 0.001)


def _begin_immediate(connection: sa.Connection) -> None:
    """BEGIN IMMEDIATE, waiting for the write lock in fine steps up to the busy timeout."""
    driver = connection.connection.driver_connection
    if driver is None or not begin_immediate_in_steps(driver):
        # Timed out, or another fault: one last try, failing the way SQLAlchemy reports it.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def begin_immediate_in_steps(driver: sqlite3.Connection) -> bool:
    """BEGIN IMMEDIATE on a sqlite3 connection, looking for the write lock in fine steps up to
    the busy timeout. False when it timed out or failed otherwise: the caller's last try says
    why, the way its layer reports errors."""
    driver.execute("PRAGMA busy_timeout=0")
    try:
        return begin_immediate_without_busy_handler(driver)
    finally:
        with contextlib.suppress(sqlite3.Error):
            driver.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


def begin_immediate_without_busy_handler(driver: sqlite3.Connection) -> bool:
    """`begin_immediate_in_steps` on a connection whose busy_timeout is already 0 (one kept
    for writing alone need not switch SQLite's busy handler off and on for each transaction)."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    for look in itertools.count():
        try:
            driver.execute("BEGIN IMMEDIATE")
            return True
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                return False
        if time.monotonic() >= deadline:
            return False
        time.sleep(_LOCK_LOOKS_S[min(look, len(_LOCK_LOOKS_S) - 1)])
    return False  # pragma: no cover - the loop only ends by returning
