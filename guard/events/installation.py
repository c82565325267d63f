"""`installation` events: the App was installed, removed, suspended or given new permissions."""

from __future__ import annotations

from typing import Literal

from guard.events.common import Account, InstallationRef, PayloadModel, WebhookEvent

InstallationAction = Literal[
    "created", "deleted", "suspend", "unsuspend", "new_permissions_accepted"
]


class InstallationRepository(PayloadModel):
    """A repository the installation covers (the short form GitHub lists here)."""

    id: int
    full_name: str


class Installation(InstallationRef):
    """The installation itself: its id and the account it is installed on."""

    account: Account
    app_id: int | None = None
    target_type: str | None = None


class InstallationChanged(WebhookEvent):
    """`installation` / created, deleted, suspend, unsuspend, new_permissions_accepted."""

    event_name = "installation"

    action: InstallationAction
    # This event carries the whole installation, not just the reference others carry.
    installation: Installation
    # Only on `created` and `deleted`, and only for a selection of repositories.
    repositories: tuple[InstallationRepository, ...] = ()
    sender: Account

    @property
    def active(self) -> bool:
        """Whether the guard may act for this installation after this event."""
        return self.action in ("created", "unsuspend", "new_permissions_accepted")
