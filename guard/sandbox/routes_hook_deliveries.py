"""The App's webhook delivery log: list it newest first (cursor pages), redeliver from it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, request

from guard.sandbox.access import require_app
from guard.sandbox.errors import ApiError, not_found
from guard.sandbox.pagination import DEFAULT_PER_PAGE, MAX_PER_PAGE
from guard.sandbox.runtime import caller, current, respond
from guard.sandbox.webhooks import Delivery

blueprint = Blueprint("sandbox_hook_deliveries", __name__)

# GitHub's cursors are opaque strings; the sandbox's name the first delivery id of a page.
CURSOR_PREFIX = "v1_"
# What GitHub's log says of an attempt nobody answered (its status_code is then 0).
NO_ANSWER = "failed to connect to host"
# `status=success` means 200-399, `status=failure` 400-599 (the parameter's description).
STATUS_FILTERS = {"success": range(200, 400), "failure": range(400, 600)}


def _timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def delivery_item(delivery: Delivery) -> dict[str, Any]:
    """GitHub's `hook-delivery-item` for one attempt."""
    code = delivery.status or 0
    if delivery.status is None:
        status = NO_ANSWER
    elif 200 <= code < 300:
        status = "OK"
    else:
        status = f"Invalid HTTP Response: {code}"
    return {
        "id": delivery.id,
        "guid": delivery.guid,
        "delivered_at": _timestamp(delivery.delivered_at),
        "redelivery": delivery.redelivery,
        "duration": round(delivery.duration, 3),
        "status": status,
        "status_code": code,
        "event": delivery.event,
        "action": delivery.action or None,
        "installation_id": delivery.installation_id,
        "repository_id": delivery.repository_id,
        "throttled_at": None,
    }


def _per_page() -> int:
    try:
        wanted = int(request.args.get("per_page", DEFAULT_PER_PAGE))
    except ValueError:
        return DEFAULT_PER_PAGE
    return min(max(wanted, 1), MAX_PER_PAGE)


def _cursor() -> int | None:
    """The id the page starts at (inclusive); None for the newest page."""
    cursor = request.args.get("cursor")
    if cursor is None:
        return None
    number = cursor.removeprefix(CURSOR_PREFIX)
    if not cursor.startswith(CURSOR_PREFIX) or not number.isdigit():
        raise ApiError(400, "Invalid cursor")
    return int(number)


def _page_link(start_id: int) -> str:
    arguments = [(k, v) for k, v in request.args.items(multi=True) if k != "cursor"]
    arguments.append(("cursor", f"{CURSOR_PREFIX}{start_id}"))
    return f'<{request.base_url}?{urlencode(arguments)}>; rel="next"'


@blueprint.get("/app/hook/deliveries")
def list_deliveries() -> Response:
    app_id = require_app(caller())
    wanted = request.args.get("status")
    if wanted is not None and wanted not in STATUS_FILTERS:
        raise ApiError(400, "Invalid status")
    sender = current().webhooks
    logged = [] if sender is None else sender.logged(app_id)
    if wanted is not None:
        logged = [d for d in logged if (d.status or 0) in STATUS_FILTERS[wanted]]
    start = _cursor()
    if start is not None:
        logged = [d for d in logged if d.id <= start]
    per_page = _per_page()
    page, rest = logged[:per_page], logged[per_page:]
    headers = {"Link": _page_link(rest[0].id)} if rest else None
    return respond([delivery_item(d) for d in page], 200, headers)


@blueprint.post("/app/hook/deliveries/<int:delivery_id>/attempts")
def redeliver(delivery_id: int) -> Response:
    app_id = require_app(caller())
    runtime = current()
    sender = runtime.webhooks
    if sender is None or not sender.redeliver(delivery_id, app_id, runtime.clock.now()):
        raise not_found()
    return respond({}, 202)
