"""`ping` events: GitHub checks that a new hook or App reaches the guard."""

from __future__ import annotations

from guard.events.common import Account, OptionalText, PayloadModel, Repository, WebhookEvent


class Hook(PayloadModel):
    """The hook being pinged; `app_id` is set when it is a GitHub App's hook."""

    id: int
    type: str
    app_id: int | None = None
    events: tuple[str, ...] = ()


class Ping(WebhookEvent):
    """`ping` (no action)."""

    event_name = "ping"

    zen: OptionalText = None
    hook_id: int
    hook: Hook | None = None
    # Absent for organization and App hooks.
    repository: Repository | None = None
    sender: Account | None = None
