"""Group commit: works queued while another thread commits share the next commit; a work that
fails keeps nothing and the others commit."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from psycopg.errors import DeadlockDetected
from sqlalchemy.orm import Session

from guard.jobs.group_commit import GroupCommit, _Work, lost_to_other_transactions
from guard.store import make_engine, make_session_factory

ROWS = sa.table("rows", sa.column("name", sa.String))


class RefusedError(Exception):
    pass


def writes_at(
    tmp_path: Path, *, grouped: bool = True, url: str | None = None
) -> tuple[GroupCommit, sa.Engine]:
    engine = make_engine(url or f"sqlite:///{tmp_path / 'group.db'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE rows (name TEXT NOT NULL UNIQUE)")
    return GroupCommit(make_session_factory(engine), grouped=grouped), engine


def names(engine: sa.Engine) -> list[str]:
    with engine.connect() as connection:
        return sorted(connection.execute(sa.select(ROWS.c.name)).scalars())


def insert(name: str) -> Callable[[Session], str]:
    def work(session: Session) -> str:
        session.execute(sa.insert(ROWS).values(name=name))
        return name

    return work


def test_works_queued_during_a_commit_share_the_next_one(tmp_path: Path) -> None:
    writes, engine = writes_at(tmp_path)
    inside, go_on = threading.Event(), threading.Event()

    def first(session: Session) -> str:
        session.execute(sa.insert(ROWS).values(name="first"))
        inside.set()
        # Holds the turn until the others have queued their works.
        assert go_on.wait(30)
        return "first"

    results: dict[str, object] = {}
    errors: dict[str, BaseException] = {}

    def run(name: str, work: Callable[[Session], str]) -> None:
        try:
            results[name] = writes.run(work)
        except BaseException as error:
            errors[name] = error

    leader = threading.Thread(target=run, args=("first", first))
    leader.start()
    assert inside.wait(30)
    followers = [
        threading.Thread(target=run, args=(name, insert(name))) for name in ("a", "b", "c")
    ]
    followers.append(threading.Thread(target=run, args=("dup", insert("first"))))
    for thread in followers:
        thread.start()
    # Every follower has queued its work behind the leader's turn (a bounded look, no timing).
    deadline = time.monotonic() + 30
    while len(writes._waiting) < len(followers) and time.monotonic() < deadline:
        threading.Event().wait(0.001)
    assert len(writes._waiting) == len(followers)
    go_on.set()
    for thread in [leader, *followers]:
        thread.join(30)

    assert results == {"first": "first", "a": "a", "b": "b", "c": "c"}
    # The duplicate failed alone; the rest of its batch committed (run again, in savepoints).
    assert isinstance(errors.pop("dup"), sa.exc.IntegrityError)
    assert errors == {}
    assert names(engine) == ["a", "b", "c", "first"]
    # Two commits for five works: the leader's, then the four queued meanwhile.
    assert (writes.batches, writes.works) == (2, 5)
    engine.dispose()


def test_a_work_that_raises_gets_its_own_error_and_keeps_nothing(tmp_path: Path) -> None:
    writes, engine = writes_at(tmp_path)

    def refused(session: Session) -> None:
        session.execute(sa.insert(ROWS).values(name="half-done"))
        raise RefusedError("no")

    with pytest.raises(RefusedError):
        writes.run(refused)
    assert writes.run(insert("kept")) == "kept"
    assert names(engine) == ["kept"]
    engine.dispose()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_failing_work_runs_once_and_the_others_of_its_batch_commit(
    tmp_path: Path, database: str, request: pytest.FixtureRequest
) -> None:
    # On PostgreSQL a failed statement aborts the whole transaction, unlike on SQLite.
    url = request.getfixturevalue("postgres_url") if database == "postgresql" else None
    writes, engine = writes_at(tmp_path, url=url)
    calls: list[str] = []

    def counted(name: str, fails: bool = False) -> Callable[[Session], str]:
        def work(session: Session) -> str:
            calls.append(name)
            # The refused work breaks the UNIQUE constraint: the database raises.
            session.execute(sa.insert(ROWS).values(name="before" if fails else name))
            return name

        return work

    batch: list[_Work[object]] = [
        _Work(counted("before")),
        _Work(counted("duplicate", fails=True)),
        _Work(counted("after")),
    ]
    writes._commit(batch)  # one batch, as the turn's holder runs it

    assert [item.result for item in batch] == ["before", None, "after"]
    assert isinstance(batch[1].error, sa.exc.IntegrityError)
    assert all(item.done for item in batch)
    # The plain run stopped at the duplicate and was rolled back; the two others ran again in
    # savepoints and committed. The duplicate ran once and kept nothing.
    assert calls == ["before", "duplicate", "before", "after"]
    assert names(engine) == ["after", "before"]
    assert (writes.batches, writes.works) == (1, 3)
    engine.dispose()


def test_ungrouped_works_commit_alone(tmp_path: Path) -> None:
    writes, engine = writes_at(tmp_path, grouped=False)
    assert writes.run(insert("one")) == "one"
    with pytest.raises(sa.exc.IntegrityError):
        writes.run(insert("one"))
    assert names(engine) == ["one"]
    assert writes.batches == 0
    engine.dispose()


def deadlock() -> sa.exc.OperationalError:
    """The error SQLAlchemy raises when PostgreSQL picks this transaction as a deadlock's victim."""
    lost = DeadlockDetected("deadlock detected")
    return sa.exc.OperationalError("UPDATE verifications", {}, lost)


def test_a_work_that_lost_a_deadlock_runs_again_alone(tmp_path: Path) -> None:
    writes, engine = writes_at(tmp_path)
    calls: list[str] = []

    def victim_once(session: Session) -> str:
        calls.append("victim")
        session.execute(sa.insert(ROWS).values(name=f"victim-{len(calls)}"))
        if len(calls) == 1:
            raise deadlock()
        return "victim"

    assert writes.run(victim_once) == "victim"
    # The first try's row was rolled back with its batch; the second committed alone.
    assert calls == ["victim", "victim"]
    assert names(engine) == ["victim-2"]
    assert lost_to_other_transactions(deadlock())
    engine.dispose()


def test_a_work_that_loses_again_alone_gets_the_error_and_other_errors_run_once(
    tmp_path: Path,
) -> None:
    writes, engine = writes_at(tmp_path)
    calls: list[str] = []

    def always_victim(_session: Session) -> None:
        calls.append("victim")
        raise deadlock()

    def refused(_session: Session) -> None:
        calls.append("refused")
        raise RefusedError("no")

    with pytest.raises(sa.exc.OperationalError):
        writes.run(always_victim)
    with pytest.raises(RefusedError):
        writes.run(refused)
    assert calls == ["victim", "victim", "refused"]
    assert not lost_to_other_transactions(RefusedError("no"))
    engine.dispose()
