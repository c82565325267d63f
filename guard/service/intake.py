"""Recording a delivery in its request: one INSERT, one commit, and the delivery is safe.

A delivery the guard acts on is recorded as `queued`, with its event's minimal model: that row
is its job (guard.jobs.deliveries runs the handler in the jobs process), so the one commit
that records it also queues it — there is no moment where one exists without the other.
Deliveries the guard does not act on (ignored, rejected, a ping) are recorded with their final
outcome. Each is one `INSERT ... ON CONFLICT (delivery_id)` statement, the same on SQLite and
PostgreSQL: a redelivery changes nothing, except that a delivery recorded as `error` is
queued again (a manual redelivery from GitHub retries it).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, Final, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DBAPIError, OperationalError, StatementError

from guard.events import ParsedEvent
from guard.jobs.deliveries import PendingJobs, repository_of
from guard.settings import SqliteSynchronous
from guard.store.base import utcnow
from guard.store.engine import SYNCHRONOUS_PRAGMAS, begin_immediate_without_busy_handler
from guard.store.intake_flag import intake_flag
from guard.store.models import Delivery, DeliveryOutcome

# The deliveries table's column widths; an over-long action is cut rather than refused.
_ACTION_WIDTH: Final = 64
DELIVERIES: Final = cast("sa.Table", Delivery.__table__)

__all__ = ["PendingJobs", "record_delivery_once", "record_queued", "repository_of"]


@cache
def insert_statement(dialect: str, *, requeue_error: bool) -> sa.Insert:
    """The one statement of a request, built once per dialect (SQLAlchemy caches its SQL)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(DELIVERIES)
    key = [DELIVERIES.c.delivery_id]
    if not requeue_error:
        return statement.on_conflict_do_nothing(index_elements=key).returning(DELIVERIES.c.id)
    fresh = statement.excluded
    upsert = statement.on_conflict_do_update(
        index_elements=key,
        set_={
            "outcome": fresh.outcome,
            "detail": None,
            "payload": fresh.payload,
            "received_at": fresh.received_at,
            "installation_id": fresh.installation_id,
            "repository": fresh.repository,
        },
        where=DELIVERIES.c.outcome == DeliveryOutcome.ERROR.value,
    )
    return upsert.returning(DELIVERIES.c.id)


@dataclass(frozen=True)
class RawInsert:
    """A statement compiled once to its SQL, for the sqlite3 driver's own statement cache.

    SQLAlchemy's execution layer (connection, execution context, result) cost more CPU than
    the INSERT itself; the driver keeps the prepared statement of each SQL text it ran, so
    the same text goes straight to SQLite. The column types' own bind processors turn the
    values into what SQLAlchemy would have stored (enums, UTC timestamps), so the rows read
    back the same through the ORM.
    """

    sql: str
    names: tuple[str, ...]
    converters: tuple[Callable[[Any], Any] | None, ...]
    constants: Mapping[str, Any]

    @classmethod
    def compile(cls, statement: sa.Insert, dialect: Dialect, keys: Sequence[str]) -> RawInsert:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        names = tuple(compiled.positiontup or ())
        converters = tuple(compiled.binds[name].type.bind_processor(dialect) for name in names)
        # The statement's own values (the WHERE of the re-queue), bound once here.
        constants = {
            name: compiled.binds[name].effective_value for name in names if name not in keys
        }
        return cls(compiled.string, names, converters, constants)

    def parameters(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        values = []
        for name, convert in zip(self.names, self.converters, strict=True):
            value = row[name] if name in row else self.constants[name]
            values.append(convert(value) if convert is not None else value)
        return tuple(values)


class _Batch:
    """The INSERTs of the requests that arrived while the previous batch was committing."""

    def __init__(self) -> None:
        self.rows: list[tuple[sa.Insert, Mapping[str, Any]]] = []
        self.fresh: list[bool] = []
        self.error: Exception | None = None
        self.committed = False


class GroupCommit:
    """One commit for the deliveries that arrive together (per process; no thread of its own).

    The request that finds no commit under way commits the open batch: its own row and those
    of every request that joined meanwhile. Requests arriving during that commit start the
    next batch, and the first of them commits it when the lock is free. Alone, a request
    commits at once; under load, one fsync and one turn of the write lock serve many.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # SQLite: the writer's `PRAGMA synchronous` (None: the engine's own).
        self.synchronous: SqliteSynchronous | None = None
        self._open: _Batch | None = None
        self._joining = threading.Lock()  # held for microseconds: joining or closing a batch
        self._writing = threading.Lock()  # held for a commit
        # SQLite: tells the delivery dispatcher to hold back while deliveries are recorded.
        self._flag = intake_flag(engine)
        # SQLite: the connection the commits are made on, outside the engine's pool (a pool
        # check-out and return cost as much as the INSERT). Only a commit uses it, under
        # `_writing`; it is opened at the first commit and after a failed one.
        self._writer: sqlite3.Connection | None = None
        if engine.dialect.name == "sqlite":
            sa.event.listen(engine, "engine_disposed", self._close_writer)

    def insert(self, statement: sa.Insert, row: Mapping[str, Any]) -> bool:
        """Run `statement` for `row` in the next commit; whether it returned a row."""
        with self._flag.raised() if self._flag is not None else contextlib.nullcontext():
            return self._insert(statement, row)

    def _insert(self, statement: sa.Insert, row: Mapping[str, Any]) -> bool:
        with self._joining:
            batch = self._open
            if batch is None:
                batch = self._open = _Batch()
            index = len(batch.rows)
            batch.rows.append((statement, row))
        with self._writing:
            if not batch.committed:
                with self._joining:
                    if self._open is batch:
                        self._open = None
                self._commit(batch)
        if batch.error is not None:
            raise batch.error
        return batch.fresh[index]

    def _commit(self, batch: _Batch) -> None:
        try:
            batch.fresh = self._run(batch.rows)
        except OperationalError as error:
            # The database is down or locked for too long: every request of the batch says so.
            batch.error = error
        except Exception:
            # A fault of one row (a value the database refuses) must not fail the others.
            try:
                batch.fresh = [self._run([entry])[0] for entry in batch.rows]
            except Exception as error:
                batch.error = error
        finally:
            batch.committed = True

    def _run(self, rows: list[tuple[sa.Insert, Mapping[str, Any]]]) -> list[bool]:
        if self._engine.dialect.name == "sqlite":
            return self._run_on_sqlite3(rows)
        with self._engine.begin() as connection:
            # RETURNING rather than rowcount: psycopg reports no rowcount for this statement.
            return [
                connection.execute(statement, row).first() is not None for statement, row in rows
            ]

    def _run_on_sqlite3(self, rows: list[tuple[sa.Insert, Mapping[str, Any]]]) -> list[bool]:
        """`_run` on the writer's sqlite3 connection itself: BEGIN IMMEDIATE, the INSERTs, COMMIT.

        Errors come out as SQLAlchemy's (OperationalError: the database is locked or gone),
        as from `_run`; after one the connection is closed, and the next commit opens another.
        """
        try:
            driver = self._open_writer()
            if not begin_immediate_without_busy_handler(driver):
                driver.execute("BEGIN IMMEDIATE")  # the last try: it raises why
            try:
                cursor = driver.cursor()
                fresh = []
                for statement, row in rows:
                    insert = _raw_insert(statement, self._engine.dialect, tuple(row))
                    cursor.execute(insert.sql, insert.parameters(row))
                    # RETURNING: a row when inserted (or re-queued); fetched to the end, so
                    # the statement is finished before COMMIT.
                    fresh.append(bool(cursor.fetchall()))
                driver.execute("COMMIT")
            except BaseException:
                if driver.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        driver.execute("ROLLBACK")
                raise
        except sqlite3.Error as error:
            self._close_writer()
            raise _as_sqlalchemy_error(error) from error
        return fresh

    def _open_writer(self) -> sqlite3.Connection:
        """The writer's connection, opened through the engine (so with its pragmas) and taken
        out of its pool; SQLite's busy handler off, as the write lock is looked for in steps."""
        if self._writer is None:
            pooled = self._engine.raw_connection()
            driver = cast("sqlite3.Connection", pooled.driver_connection)
            pooled.detach()
            driver.execute("PRAGMA busy_timeout=0")
            if self.synchronous is not None:
                driver.execute(f"PRAGMA synchronous={SYNCHRONOUS_PRAGMAS[self.synchronous]}")
            self._writer = driver
        return self._writer

    def _close_writer(self, *_event: object) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(sqlite3.Error):
                writer.close()


def _as_sqlalchemy_error(error: sqlite3.Error) -> StatementError:
    """The driver's error as SQLAlchemy would raise it (OperationalError: locked, unopenable),
    which is what the view answers 503 for; the row's values are left out of its text."""
    return DBAPIError.instance(None, None, error, sqlite3.Error, hide_parameters=True)


# Bounded: a process has one engine (so one dialect) and two statements, but tests make many.
@lru_cache(maxsize=16)
def _raw_insert(statement: sa.Insert, dialect: Dialect, keys: tuple[str, ...]) -> RawInsert:
    """The compiled form of one of `insert_statement`'s few statements, for one row shape."""
    return RawInsert.compile(statement, dialect, keys)


# One GroupCommit per engine (each gunicorn worker process builds its own app and engine).
_COMMITS: weakref.WeakKeyDictionary[Engine, GroupCommit] = weakref.WeakKeyDictionary()
_COMMITS_LOCK = threading.Lock()


def _group_commit(engine: Engine) -> GroupCommit:
    with _COMMITS_LOCK:
        commit = _COMMITS.get(engine)
        if commit is None:
            commit = _COMMITS[engine] = GroupCommit(engine)
        return commit


def use_synchronous(engine: Engine, synchronous: SqliteSynchronous) -> None:
    """Commit the deliveries recorded on `engine` with this `PRAGMA synchronous` (SQLite;
    Settings.intake_sqlite_synchronous says which). The app sets it before any request."""
    _group_commit(engine).synchronous = synchronous


def _insert(engine: Engine, values: Mapping[str, Any], *, requeue_error: bool) -> bool:
    statement = insert_statement(engine.dialect.name, requeue_error=requeue_error)
    row = {
        "installation_id": None,
        "repository": None,
        "detail": None,
        "payload": None,
        **values,
        "received_at": utcnow(),
    }
    return _group_commit(engine).insert(statement, row)


def record_queued(engine: Engine, delivery_id: str, event: ParsedEvent) -> bool:
    """Record `event` as queued for the dispatcher; False for a redelivery (of one not `error`)."""
    values = {
        "delivery_id": delivery_id,
        "event": event.event_name,
        "action": _action(event.action),
        "outcome": DeliveryOutcome.QUEUED,
        "installation_id": event.installation_id,
        "repository": repository_of(event),
        # Re-parsed by the dispatcher: the minimal model, by alias, is a valid body again.
        "payload": event.model_dump_json(by_alias=True, exclude_unset=True),
    }
    return _insert(engine, values, requeue_error=True)


def record_delivery_once(
    engine: Engine,
    delivery_id: str,
    *,
    event: str,
    action: str | None,
    outcome: DeliveryOutcome,
    detail: str,
    installation_id: int | None = None,
    repository: str | None = None,
) -> bool:
    """Record a delivery settled in its request (ignored, rejected, a ping); False if seen."""
    values = {
        "delivery_id": delivery_id,
        "event": event,
        "action": _action(action),
        "outcome": outcome,
        "detail": detail,
        "installation_id": installation_id,
        "repository": repository,
    }
    return _insert(engine, values, requeue_error=False)


def _action(action: str | None) -> str | None:
    return action[:_ACTION_WIDTH] if action is not None else None
