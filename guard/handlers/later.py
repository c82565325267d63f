"""Subscribed events the guard parses but does not act on yet (protection rules, ChatOps, runs)."""

from __future__ import annotations

from guard.events import ParsedEvent
from guard.handlers.context import HandlerContext, HandlerResult, ignored

LATER = "{event} events are handled in a later release of deploy-guard"


def handled_later(ctx: HandlerContext[ParsedEvent]) -> HandlerResult:
    return ignored(LATER.format(event=ctx.event.event_name))
