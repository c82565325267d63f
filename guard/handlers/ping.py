"""`ping`: GitHub checks that a new hook or App reaches the guard; the guard answers pong."""

from __future__ import annotations

from guard.events import Ping
from guard.handlers.context import HandlerContext, HandlerResult, Status

PONG = "pong: hook {hook} reaches deploy-guard"


def on_ping(ctx: HandlerContext[Ping]) -> HandlerResult:
    ctx.log.info("webhook.ping", hook=ctx.event.hook_id)
    return HandlerResult(Status.PONG, PONG.format(hook=ctx.event.hook_id))
