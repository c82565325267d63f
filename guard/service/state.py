"""What the service's views share for the app's lifetime: settings, database, queue, handlers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, cast

from flask import current_app
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from guard.handlers import Handler, JobQueue
from guard.settings import Settings

EXTENSION_KEY: Final = "deploy_guard"


@dataclass(frozen=True)
class ServiceState:
    """One app's resources; created by `create_app`, read by the views."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    # For views that only read (run pages): on SQLite they never take the write lock.
    read_sessions: sessionmaker[Session]
    queue: JobQueue
    handlers: Mapping[tuple[str, str | None], Handler]

    @property
    def webhook_secret(self) -> bytes:
        secret = self.settings.webhook_secret
        return secret.get_secret_value().encode("utf-8") if secret is not None else b""


def service_state() -> ServiceState:
    """The state of the app handling the current request."""
    return cast("ServiceState", current_app.extensions[EXTENSION_KEY])
