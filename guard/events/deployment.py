"""`deployment` events: a deployment was created (by a pipeline, a person, or the guard itself)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from guard.events.common import (
    Account,
    GitHubId,
    GitHubName,
    OptionalText,
    PayloadModel,
    Repository,
    WebhookEvent,
)


class Deployment(PayloadModel):
    """A GitHub deployment as webhooks carry it (also inside statuses and protection rules)."""

    id: GitHubId
    url: str
    sha: Annotated[str, Field(max_length=64)]
    ref: str
    task: GitHubName = "deploy"
    environment: GitHubName
    original_environment: str | None = None
    description: OptionalText = None
    # What the creator passed through; the guard marks its own rollbacks with a
    # `deploy_guard` key here.
    payload: dict[str, Any] = Field(default_factory=dict)
    # None when the creating account has since been deleted.
    creator: Account | None = None
    created_at: datetime
    updated_at: datetime | None = None
    statuses_url: str
    transient_environment: bool = False
    production_environment: bool = False

    @field_validator("payload", mode="before")
    @classmethod
    def _payload_object(cls, value: Any) -> Any:
        # The REST API accepts the payload as an object or as a JSON string and echoes
        # back what it was given. A string that is not a JSON object carries nothing the
        # guard reads, so it becomes an empty payload rather than a rejected delivery.
        if value is None:
            return {}
        if isinstance(value, str):
            try:
                decoded = json.loads(value) if value.strip() else {}
            except ValueError:
                return {}
            return decoded if isinstance(decoded, dict) else {}
        return value

    @property
    def creator_login(self) -> str | None:
        return self.creator.login if self.creator is not None else None


class DeploymentCreated(WebhookEvent):
    """`deployment` / `created`."""

    event_name = "deployment"

    action: Literal["created"]
    deployment: Deployment
    repository: Repository
    sender: Account
