"""`deployment_status` events: a deployment changed state; `success` starts a verification."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from guard.events.common import Account, OptionalText, PayloadModel, Repository, WebhookEvent
from guard.events.deployment import Deployment


class DeploymentState(StrEnum):
    """Every state the statuses endpoint accepts, so no delivery can carry another one."""

    ERROR = "error"
    FAILURE = "failure"
    INACTIVE = "inactive"
    IN_PROGRESS = "in_progress"
    QUEUED = "queued"
    PENDING = "pending"
    SUCCESS = "success"


class DeploymentStatus(PayloadModel):
    """One status of a deployment."""

    id: int
    url: str | None = None
    state: DeploymentState
    description: OptionalText = None
    environment: OptionalText = None
    # Where the deployed service answers: what the guard's checks are aimed at.
    environment_url: OptionalText = None
    log_url: OptionalText = None
    target_url: OptionalText = None
    creator: Account | None = None
    created_at: datetime

    @property
    def log_link(self) -> str | None:
        """The deployment's log: `log_url` when set, else the older `target_url`."""
        return self.log_url or self.target_url


class DeploymentStatusCreated(WebhookEvent):
    """`deployment_status` / `created` (GitHub sends none for `inactive`)."""

    event_name = "deployment_status"

    action: Literal["created"]
    deployment_status: DeploymentStatus
    deployment: Deployment
    repository: Repository
    sender: Account

    @property
    def environment(self) -> str:
        """The status's environment; it may differ from the deployment's original one."""
        return self.deployment_status.environment or self.deployment.environment
