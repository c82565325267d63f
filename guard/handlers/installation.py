"""`installation` events: the guard acts for an installation only while it is active."""

from __future__ import annotations

from guard.events import InstallationChanged
from guard.handlers.context import HandlerContext, HandlerResult, recorded
from guard.store import set_installation

ACTIVE = "installation {id} on {account} is active ({action})"
RETIRED = "installation {id} on {account} is retired ({action}): the guard no longer acts for it"


def on_installation_changed(ctx: HandlerContext[InstallationChanged]) -> HandlerResult:
    event = ctx.event
    installation = event.installation
    set_installation(ctx.session, installation.id, installation.account.login, active=event.active)
    ctx.log.info(
        "installation.changed",
        action=event.action,
        active=event.active,
        installation=installation.id,
    )
    template = ACTIVE if event.active else RETIRED
    return recorded(
        template.format(id=installation.id, account=installation.account.login, action=event.action)
    )
