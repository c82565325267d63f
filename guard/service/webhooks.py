"""`POST /webhook`: verify the signature, parse the event, record the delivery as its own job.

Nothing slow happens here: GitHub waits 10 s for an answer and never retries by itself. The
handler runs in the jobs process (guard.jobs.deliveries); a 202 means the delivery is
durably recorded and queued, not yet handled.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Final

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import RequestEntityTooLarge

from guard.events import SUBSCRIBED_EVENTS, EventShapeError, Ignored, ParsedEvent, Ping, parse_event
from guard.handlers.ping import PONG
from guard.observability.logs import add_context, bound, error_summary, get_logger
from guard.observability.metrics import WEBHOOK_SECONDS, count_delivery, known
from guard.service.errors import DATABASE_DOWN, TOO_LARGE
from guard.service.intake import record_delivery_once, record_queued, repository_of
from guard.service.state import ServiceState, service_state
from guard.store.models import DeliveryOutcome
from guard.webhook_signature import SIGNATURE_HEADER, verify_signature

EVENT_HEADER: Final = "X-GitHub-Event"
DELIVERY_HEADER: Final = "X-GitHub-Delivery"
# Event names are GitHub's snake_case words; the column holding them is 64 wide.
_EVENT_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
# A GUID in practice; any visible ASCII up to the column's 100 characters is kept.
_DELIVERY_ID: Final = re.compile(r"[\x21-\x7e]{1,100}")

NO_SIGNATURE: Final = f"{SIGNATURE_HEADER} is missing: deliveries must be signed with the secret"
BAD_SIGNATURE: Final = (
    f"{SIGNATURE_HEADER} does not match the body: check that GitHub and the guard "
    "share the same webhook secret"
)
NO_EVENT: Final = f"{EVENT_HEADER} is missing: the delivery does not say which event it is"
BAD_EVENT: Final = f"{EVENT_HEADER} is not a GitHub event name"
NO_DELIVERY: Final = f"{DELIVERY_HEADER} is missing: the delivery has no id"
BAD_DELIVERY: Final = f"{DELIVERY_HEADER} is not a delivery id (up to 100 visible characters)"
DUPLICATE: Final = "delivery {delivery} was received before; nothing was started again"
QUEUED: Final = (
    "queued: delivery {delivery} ({key}) is recorded and will be handled by the guard's "
    "workers; its outcome is kept on the delivery"
)

blueprint = Blueprint("webhooks", __name__)
log = get_logger(__name__)


@dataclass(frozen=True)
class Answer:
    """An HTTP answer, and the outcome it is counted under."""

    http_status: int
    status: str
    reason: str
    outcome: str

    def response(self) -> tuple[Response, int]:
        return jsonify(status=self.status, reason=self.reason), self.http_status


@blueprint.post("/webhook")
def receive_webhook() -> tuple[Response, int]:
    started = time.perf_counter()
    event = request.headers.get(EVENT_HEADER, "")
    delivery = request.headers.get(DELIVERY_HEADER, "")
    with bound(delivery=delivery if _DELIVERY_ID.fullmatch(delivery) else None):
        try:
            answer = _receive(service_state(), event, delivery)
        except Exception:
            # Flask's error handler answers 500 and logs the traceback; the count must see it
            # too, or the `outcome="error"` alert could never fire.
            count_delivery(event, "error", subscribed=SUBSCRIBED_EVENTS)
            raise
        level = log.warning if answer.http_status >= 400 else log.info
        level(
            f"webhook.{answer.outcome}",
            github_event=event if _EVENT_NAME.fullmatch(event) else None,
            status=answer.http_status,
            reason=answer.reason,
        )
    count_delivery(event, answer.outcome, subscribed=SUBSCRIBED_EVENTS)
    WEBHOOK_SECONDS.labels(event=known(event, SUBSCRIBED_EVENTS)).observe(
        time.perf_counter() - started
    )
    return answer.response()


def _receive(state: ServiceState, event_name: str, delivery_id: str) -> Answer:
    try:
        body = request.get_data(cache=False)
    except RequestEntityTooLarge:
        return Answer(413, "rejected", TOO_LARGE, "too_large")
    signature = request.headers.get(SIGNATURE_HEADER)
    # Before anything else is looked at: an unsigned caller learns nothing about the rest.
    if not verify_signature(state.webhook_secret, body, signature):
        reason = NO_SIGNATURE if signature is None else BAD_SIGNATURE
        return Answer(401, "rejected", reason, "unauthorized")
    problem = _header_problem(event_name, delivery_id)
    if problem is not None:
        return Answer(400, "rejected", problem, "rejected")
    try:
        parsed = parse_event(event_name, body)
    except EventShapeError as error:
        _record_rejected(state, delivery_id, event_name, str(error))
        return Answer(400, "rejected", str(error), "rejected")
    try:
        return _record(state, event_name, delivery_id, parsed)
    except OperationalError as error:
        log.error("webhook.database_unavailable", error=error_summary(error))
        return Answer(503, "unavailable", DATABASE_DOWN, "unavailable")


def _record(
    state: ServiceState, event_name: str, delivery_id: str, parsed: ParsedEvent | Ignored
) -> Answer:
    """The delivery's one INSERT, and the answer it makes."""
    duplicate = Answer(200, "duplicate", DUPLICATE.format(delivery=delivery_id), "duplicate")
    if isinstance(parsed, Ignored):
        fresh = record_delivery_once(
            state.engine,
            delivery_id,
            event=parsed.event,
            action=parsed.action,
            outcome=DeliveryOutcome.IGNORED,
            detail=parsed.reason,
        )
        return Answer(200, "ignored", parsed.reason, "ignored") if fresh else duplicate
    # Until the request's `bound` block ends: the answer's log line carries them too.
    add_context(installation=parsed.installation_id, repository=repository_of(parsed))
    if isinstance(parsed, Ping):
        # Nothing to run: GitHub's check that the hook reaches the guard is answered now.
        pong = PONG.format(hook=parsed.hook_id)
        fresh = record_delivery_once(
            state.engine,
            delivery_id,
            event=event_name,
            action=None,
            outcome=DeliveryOutcome.ACCEPTED,
            detail=pong,
            installation_id=parsed.installation_id,
        )
        return Answer(200, "pong", pong, "pong") if fresh else duplicate
    if not record_queued(state.engine, delivery_id, parsed):
        return duplicate
    reason = QUEUED.format(delivery=delivery_id, key=".".join(filter(None, parsed.key)))
    return Answer(202, "accepted", reason, "accepted")


def _header_problem(event_name: str, delivery_id: str) -> str | None:
    if not event_name:
        return NO_EVENT
    if not _EVENT_NAME.fullmatch(event_name):
        return BAD_EVENT
    if not delivery_id:
        return NO_DELIVERY
    if not _DELIVERY_ID.fullmatch(delivery_id):
        return BAD_DELIVERY
    return None


def _record_rejected(state: ServiceState, delivery_id: str, event_name: str, reason: str) -> None:
    try:
        record_delivery_once(
            state.engine,
            delivery_id,
            event=event_name,
            action=None,
            outcome=DeliveryOutcome.REJECTED,
            detail=reason,
        )
    except OperationalError as error:
        # The caller's fault is answered either way; the log keeps what the row would have.
        log.warning("webhook.rejection_not_recorded", error=type(error).__name__)
