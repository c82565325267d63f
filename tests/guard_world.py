"""What the test worlds share: the guard's variables as the sandbox's App, and its database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from guard.jobs.records import find_deployment, latest_verification
from guard.sandbox import AppCredentials, Sandbox
from guard.store import Verification
from tests.service_support import database_session

FINAL_STATES = ("finished", "superseded", "error")


class Unscheduled:
    """A job scheduler that drops every job it is given: the test drives the steps itself,
    or plays a queue that lost its jobs (a killed worker's)."""

    def schedule_round(self, verification_id: int, number: int, delay_s: float) -> None:
        return None

    def publish_later(self, verification_id: int) -> None:
        return None


class GuardWorld:
    """Mixed into the worlds (dataclasses with these fields) of the jobs, story and catch-up
    tests: a guard installed as `app` on the sandbox, on `database_url` and `queue_url`."""

    sandbox: Sandbox
    app: AppCredentials
    database_url: str
    queue_url: str

    def app_variables(self) -> dict[str, str]:
        """The GUARD_* variables of a guard running as the installed App on this world."""
        return {
            "GUARD_GITHUB_APP_ID": str(self.app.app_id),
            "GUARD_GITHUB_PRIVATE_KEY": self.app.private_key_pem,
            "GUARD_GITHUB_API_URL": self.sandbox.base_url,
            "GUARD_DATABASE_URL": self.database_url,
            "GUARD_QUEUE_URL": self.queue_url,
        }

    @contextmanager
    def session(self) -> Iterator[Session]:
        with database_session(self.database_url) as session:
            yield session

    def verification(self, deployment_id: int) -> Verification | None:
        """The latest verification of a GitHub deployment id."""
        with self.session() as session:
            deployment = find_deployment(session, deployment_id)
            return None if deployment is None else latest_verification(session, deployment.id)

    def finished(self, deployment_id: int) -> Verification | None:
        """The verification once it reached a final state, else None (for `wait_for`)."""
        row = self.verification(deployment_id)
        if row is None or row.state.value not in FINAL_STATES:
            return None
        return row
