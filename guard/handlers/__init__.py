"""Webhook handlers, one module per event family, routed by one explicit table."""

from __future__ import annotations

from collections.abc import Mapping

from guard.handlers.chatops import on_issue_comment
from guard.handlers.context import (
    Handler,
    HandlerContext,
    HandlerResult,
    JobQueue,
    Status,
)
from guard.handlers.deployment import on_deployment_created
from guard.handlers.deployment_status import on_deployment_status
from guard.handlers.gate import on_protection_rule_requested
from guard.handlers.installation import on_installation_changed
from guard.handlers.later import handled_later
from guard.handlers.ping import on_ping

# (X-GitHub-Event, action) -> handler; the keys are exactly guard.events.EVENT_MODELS' keys
# (a test checks), so every event the App subscribes to has a route and nothing is implicit.
HANDLERS: Mapping[tuple[str, str | None], Handler] = {
    ("deployment", "created"): on_deployment_created,
    ("deployment_status", "created"): on_deployment_status,
    ("deployment_protection_rule", "requested"): on_protection_rule_requested,
    ("installation", "created"): on_installation_changed,
    ("installation", "deleted"): on_installation_changed,
    ("installation", "suspend"): on_installation_changed,
    ("installation", "unsuspend"): on_installation_changed,
    ("installation", "new_permissions_accepted"): on_installation_changed,
    ("issue_comment", "created"): on_issue_comment,
    ("ping", None): on_ping,
    ("workflow_run", "requested"): handled_later,
    ("workflow_run", "in_progress"): handled_later,
    ("workflow_run", "completed"): handled_later,
}

__all__ = ["HANDLERS", "Handler", "HandlerContext", "HandlerResult", "JobQueue", "Status"]
