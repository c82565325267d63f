"""`deployment_protection_rule` events: GitHub asks the guard whether a deployment may proceed."""

from __future__ import annotations

import re
from typing import Literal

from guard.events.common import Account, PayloadModel, Repository, WebhookEvent
from guard.events.deployment import Deployment

# GitHub sends no run id with this event; the callback URL is the only place it appears.
_RUN_ID_IN_CALLBACK = re.compile(r"/actions/runs/(\d+)/deployment_protection_rule/?$")


class PullRequestRef(PayloadModel):
    """A pull request the deployment relates to; the guard reads its number only."""

    number: int


class DeploymentProtectionRuleRequested(WebhookEvent):
    """`deployment_protection_rule` / `requested` (schema-only: GitHub publishes no example)."""

    event_name = "deployment_protection_rule"

    action: Literal["requested"]
    environment: str
    # The event that triggered the deployment, e.g. `push`.
    event: str | None = None
    # Where the guard approves or rejects: POST it {environment_name, state, comment}.
    deployment_callback_url: str
    deployment: Deployment | None = None
    pull_requests: tuple[PullRequestRef, ...] = ()
    repository: Repository
    sender: Account

    @property
    def workflow_run_id(self) -> int | None:
        """The waiting workflow run, read from the callback URL."""
        match = _RUN_ID_IN_CALLBACK.search(self.deployment_callback_url)
        return int(match.group(1)) if match else None
