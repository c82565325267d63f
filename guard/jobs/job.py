"""One step of one verification in progress: its rows, its GitHub client, its lease."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from guard.github.client import GitHubClient
from guard.jobs.context import JobContext
from guard.jobs.records import load, moment
from guard.observability.logs import EventLogger, get_logger
from guard.policy.models import Environment, HttpCheck
from guard.probes.http import DEFAULT_TIMEOUT_S
from guard.report.check_run import Subject
from guard.store import Deployment, Verification, claim_lease, release_lease

log = get_logger(__name__)


class LeaseLost(RuntimeError):  # noqa: N818 - reads as what happened
    """Another worker took the verification over (this step outlived its lease): stop here."""


def lease_owner() -> str:
    """A name for one step's run: host and process say who, the suffix tells runs apart."""
    return f"{socket.gethostname()[:200]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def probe_budget_s(checks: list[HttpCheck], metric_count: int) -> float:
    """The longest a set of probes may take: connect and read timeouts of each, one by one."""
    http = sum(2 * (check.timeout or DEFAULT_TIMEOUT_S) for check in checks)
    return http + metric_count * 2 * DEFAULT_TIMEOUT_S


def round_budget_s(environment: Environment) -> float:
    probes = environment.watch.probes if environment.watch else []
    return probe_budget_s(probes, len(environment.metrics))


def smoke_budget_s(environment: Environment) -> float:
    return probe_budget_s(environment.smoke, 0)


class Job:
    """The verification and deployment rows as this step last read them, and its means.

    The GitHub client is made on first use: an ordinary watch round never calls GitHub, and
    a client per step costs more than the round's probe.
    """

    def __init__(
        self,
        ctx: JobContext,
        github: GitHubClient | None,
        row: Verification,
        deployment: Deployment,
        owner: str,
        *,
        lease_until: float | None = None,
    ) -> None:
        self.ctx = ctx
        self._github = github
        self.row = row
        self.deployment = deployment
        self.owner = owner
        # When the lease taken for this step ends on `ctx.clock` (None: unknown, so every
        # `hold` asks the database).
        self.lease_until = lease_until
        # Set once a transaction of the step gave the lease back with its last write.
        self.released = False

    @property
    def github(self) -> GitHubClient:
        if self._github is None:
            self._github = self.ctx.github(self.deployment.installation_id)
        return self._github

    def close(self) -> None:
        """Close the GitHub client if the step made one."""
        if self._github is not None:
            self._github.close()
            self._github = None

    @property
    def id(self) -> int:
        return self.row.id

    @property
    def repo(self) -> str:
        return self.deployment.repository

    @property
    def subject(self) -> Subject:
        return Subject(self.deployment.environment, self.deployment.github_id, self.deployment.sha)

    @property
    def run_url(self) -> str | None:
        return self.ctx.run_url(self.row.id)

    @property
    def log(self) -> EventLogger:
        return log.bind(
            verification=self.row.id,
            repository=self.deployment.repository,
            deployment=self.deployment.github_id,
            environment=self.deployment.environment,
        )

    def now(self) -> float:
        return self.ctx.clock()

    def moment(self) -> datetime:
        return moment(self.ctx.clock())

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A short transaction: never hold one across a probe or a GitHub call (SQLite
        transactions take the write lock)."""
        with self.ctx.sessions.begin() as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A transaction that only reads: on SQLite it does not take the write lock."""
        with self.ctx.readers.begin() as session:
            yield session

    def reload(self) -> bool:
        """Read the rows again; False when the verification is gone (an ignored deployment)."""
        with self.reading() as session:
            loaded = load(session, self.row.id)
        if loaded is None:
            return False
        self.row, self.deployment = loaded
        return True

    def renew(self, extra_s: float = 0.0) -> bool:
        """Extend the lease before a long part of the step; False when it was lost."""
        ttl_s = self.ctx.options.lease_s + extra_s
        renewed = claim(self.ctx, self.row.id, self.owner, ttl_s)
        self.lease_until = self.now() + ttl_s if renewed else None
        return renewed

    def hold(self, extra_s: float = 0.0) -> None:
        """Extend the lease before a part that changes something; LeaseLost when another
        worker has taken the verification over, which then does this part itself.

        A lease this step took moments ago, with at least `extra_s` plus half a lease still
        to run, is its own still: nobody can take an unexpired lease, so the database is
        not asked again (a watch round's probes need seconds of a 60-second lease).
        """
        if self.lease_until is not None:
            left_s = self.lease_until - self.now()
            if left_s >= extra_s + self.ctx.options.lease_s / 2:
                return
        if not self.renew(extra_s):
            raise LeaseLost(f"verification {self.row.id} was taken over by another worker")


def claim(ctx: JobContext, verification_id: int, owner: str, ttl_s: float) -> bool:
    with ctx.sessions.begin() as session:
        return claim_lease(
            session,
            verification_id,
            owner,
            ttl=timedelta(seconds=ttl_s),
            now=moment(ctx.clock()),
        )


def release(ctx: JobContext, verification_id: int, owner: str) -> None:
    with ctx.sessions.begin() as session:
        release_lease(session, verification_id, owner)
