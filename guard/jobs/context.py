"""What a job needs from the world: the database, GitHub for an installation, a clock, the queue."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from guard.github.auth import GitHubAuth, auth_from_settings
from guard.github.client import GitHubClient
from guard.jobs.group_commit import GroupCommit
from guard.jobs.options import WorkerOptions
from guard.observability.metrics import observe_github_call
from guard.probes.network import NetworkPolicy
from guard.settings import Settings
from guard.store import make_engine, make_session_factory
from guard.store.engine import READ_ONLY

# PyGithub's own pacing, which GitHub asks for (serial requests, a second between writes).
PACED_REQUESTS_S = 0.25
PACED_WRITES_S = 1.0


class RoundScheduler(Protocol):
    """Where a step puts the job that continues the verification."""

    def schedule_round(self, verification_id: int, number: int, delay_s: float) -> None:
        """Run watch round `number` of the verification in `delay_s` seconds (0: now)."""
        ...

    def publish_later(self, verification_id: int) -> None:
        """Publish the verification's stored verdict in a job of its own, which waits behind
        the watch rounds due (as a start does)."""
        ...


GitHubFactory = Callable[[int | None], GitHubClient]


@dataclass(frozen=True)
class JobContext:
    """The workers' shared parts; one per worker process (its threads share it)."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    # Sessions that only read: on SQLite they start with a plain BEGIN, not the write lock.
    readers: sessionmaker[Session]
    github: GitHubFactory
    scheduler: RoundScheduler
    options: WorkerOptions
    # The steps' claim and store transactions, sharing commits (group_commit).
    writes: GroupCommit
    clock: Callable[[], float] = time.time

    @property
    def network(self) -> NetworkPolicy:
        """Where probes may go, as the settings allow (private networks refused by default)."""
        return NetworkPolicy(
            deny_private=not self.settings.allow_private_networks,
            allowed_hosts=self.settings.allowed_hosts,
        )

    @property
    def check_runs(self) -> bool:
        """Whether the guard can show check runs: GitHub lets only Apps create them."""
        return self.settings.github_auth_mode == "app"

    def run_url(self, verification_id: int) -> str | None:
        """The run's page, linked from check runs and statuses (when GUARD_PUBLIC_URL is set)."""
        base = self.settings.public_url
        return f"{base}/runs/{verification_id}" if base else None

    def close(self) -> None:
        self.engine.dispose()


def github_auth(settings: Settings) -> GitHubAuth:
    """The App (installation tokens, cached for every thread) or the plain token of the settings."""
    token = settings.github_token.get_secret_value() if settings.github_token else None
    return auth_from_settings(
        app_id=settings.github_app_id,
        private_key=settings.github_private_key(),
        token=token,
        api_url=settings.github_api_url,
        observer=observe_github_call,
    )


def github_factory(settings: Settings, options: WorkerOptions) -> GitHubFactory:
    """A new client per job (PyGithub's requester is not shared between threads), one auth."""
    auth = github_auth(settings)
    requests_s = PACED_REQUESTS_S if options.github_pacing else None
    writes_s = PACED_WRITES_S if options.github_pacing else None

    def client(installation_id: int | None) -> GitHubClient:
        return GitHubClient(
            auth,
            settings.github_api_url,
            installation_id=installation_id,
            observer=observe_github_call,
            seconds_between_requests=requests_s,
            seconds_between_writes=writes_s,
        )

    return client


_HOLDS_WRITE_TURN = "guard_holds_write_turn"


def take_turns_writing(engine: Engine) -> None:
    """SQLite: let one thread of this process at a time wait for the database's write lock.

    SQLite has one write lock per database, and a waiting writer polls for it. With every
    worker thread polling, a process's threads were mostly polling one another (half of the
    workers' samples in the scale benchmark): queued on a lock of the process instead, they
    get the write lock handed over as soon as the thread before them commits, and only one
    thread per process competes with other processes. Reads (read-only sessions) skip it.
    """
    if engine.dialect.name != "sqlite":
        return
    turn = threading.RLock()

    def take(connection: Connection) -> None:
        if connection.get_execution_options().get(READ_ONLY, False):
            return
        turn.acquire()
        connection.info[_HOLDS_WRITE_TURN] = True

    def give_back(info: dict[Any, Any]) -> None:
        if info.pop(_HOLDS_WRITE_TURN, False):
            turn.release()

    # Before the listener that begins the transaction (and may wait for the write lock).
    event.listen(engine, "begin", take, insert=True)
    event.listen(engine, "commit", lambda connection: give_back(connection.info))
    event.listen(engine, "rollback", lambda connection: give_back(connection.info))
    # A BEGIN that failed (the busy timeout) ends in neither commit nor rollback.
    event.listen(
        engine,
        "handle_error",
        lambda context: (
            give_back(context.connection.info) if context.connection is not None else None
        ),
    )
    event.listen(engine, "checkin", lambda _dbapi, record: give_back(record.info))


def build_context(
    settings: Settings,
    scheduler: RoundScheduler,
    options: WorkerOptions,
    *,
    clock: Callable[[], float] = time.time,
    github: GitHubFactory | None = None,
) -> JobContext:
    engine = make_engine(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    take_turns_writing(engine)
    sessions = make_session_factory(engine)
    return JobContext(
        settings=settings,
        engine=engine,
        sessions=sessions,
        readers=make_session_factory(engine, read_only=True),
        github=github or github_factory(settings, options),
        scheduler=scheduler,
        options=options,
        writes=GroupCommit(sessions, grouped=True),
        clock=clock,
    )
