"""`workflow_run` events: an Actions run was requested, started or finished."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from guard.events.common import Account, PayloadModel, Repository, WebhookEvent


class WorkflowRun(PayloadModel):
    """The run: what it ran on, and how it ended."""

    id: int
    name: str | None = None
    workflow_id: int
    path: str | None = None
    head_sha: str
    # None for runs on a detached SHA.
    head_branch: str | None = None
    event: str
    status: str | None = None
    # None until the run completes; then success, failure, cancelled, timed_out, ...
    conclusion: str | None = None
    run_attempt: int = 1
    html_url: str
    created_at: datetime


class WorkflowRunEvent(WebhookEvent):
    """`workflow_run` / requested, in_progress, completed."""

    event_name = "workflow_run"

    action: Literal["requested", "in_progress", "completed"]
    workflow_run: WorkflowRun
    repository: Repository
    sender: Account
