"""`POST /webhook`: verify the signature, parse the event, record the delivery as its own job.

Nothing slow happens here: GitHub waits 10 s for an answer and never retries by itself. The
handler runs in the jobs process (guard.jobs.deliveries); a 202 means the delivery is
durably recorded and queued, not yet handled.

The route is a plain WSGI callable in front of the Flask app (`WebhookIntake`): Flask's
request context, routing and response objects cost a quarter of a delivery's CPU, and this
one route needs none of them. Every other path goes on to Flask.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy.exc import OperationalError

from guard.events import SUBSCRIBED_EVENTS, EventShapeError, Ignored, ParsedEvent, Ping, parse_event
from guard.handlers.ping import PONG
from guard.observability.logs import add_context, bound, error_summary, get_logger
from guard.observability.metrics import WEBHOOK_SECONDS, count_delivery, known
from guard.service.errors import DATABASE_DOWN, MAX_BODY_BYTES, SERVER_FAULT, TOO_LARGE
from guard.service.intake import record_delivery_once, record_queued, repository_of
from guard.service.state import ServiceState
from guard.store.models import DeliveryOutcome
from guard.webhook_signature import SIGNATURE_HEADER, verify_signature

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

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
NOT_POST: Final = "only POST is accepted at /webhook: GitHub delivers events with POST"
BAD_LENGTH: Final = "Content-Length is not a number of bytes"
CUT_SHORT: Final = "the body ended before its Content-Length: the delivery was cut off"
QUEUED: Final = (
    "queued: delivery {delivery} ({key}) is recorded and will be handled by the guard's "
    "workers; its outcome is kept on the delivery"
)

PATH: Final = "/webhook"
# The headers this route reads, by their WSGI environ keys.
_EVENT_KEY: Final = "HTTP_X_GITHUB_EVENT"
_DELIVERY_KEY: Final = "HTTP_X_GITHUB_DELIVERY"
_SIGNATURE_KEY: Final = "HTTP_" + SIGNATURE_HEADER.upper().replace("-", "_")
_READ_CHUNK: Final = 64 * 1024
_JSON_HEADER: Final = ("Content-Type", "application/json")

log = get_logger(__name__)


@dataclass(frozen=True)
class Answer:
    """An HTTP answer, and the outcome it is counted under."""

    http_status: int
    status: str
    reason: str
    outcome: str

    def send(
        self, start_response: StartResponse, headers: Iterable[tuple[str, str]] = ()
    ) -> list[bytes]:
        """Start the WSGI response with this answer as its JSON body, as Flask's would be."""
        body = json.dumps({"status": self.status, "reason": self.reason}).encode() + b"\n"
        status = f"{self.http_status} {HTTPStatus(self.http_status).phrase}"
        start_response(status, [_JSON_HEADER, ("Content-Length", str(len(body))), *headers])
        return [body]


class WebhookIntake:
    """WSGI middleware: answers `POST /webhook` itself and hands every other request to `app`."""

    def __init__(self, app: WSGIApplication, state: ServiceState) -> None:
        self._app = app
        self._state = state

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            return self._app(environ, start_response)
        if environ.get("REQUEST_METHOD") != "POST":
            # Not a delivery: answered like Flask's other errors and not counted.
            answer = Answer(405, "rejected", NOT_POST, "rejected")
            return answer.send(start_response, [("Allow", "POST")])
        return receive_webhook(self._state, environ).send(start_response)


def receive_webhook(state: ServiceState, environ: WSGIEnvironment) -> Answer:
    """One delivery: its answer, logged and counted."""
    started = time.perf_counter()
    event = environ.get(_EVENT_KEY, "")
    delivery = environ.get(_DELIVERY_KEY, "")
    with bound(delivery=delivery if _DELIVERY_ID.fullmatch(delivery) else None):
        try:
            answer = _receive(state, environ, event, delivery)
        except Exception:
            # The traceback goes to the log (and to Sentry, through its logging integration);
            # the caller learns only that the guard failed, and the count sees it, or the
            # `outcome="error"` alert could never fire.
            log.exception("webhook.error", github_event=_event_label(event))
            answer = Answer(500, "error", SERVER_FAULT, "error")
        else:
            level = log.warning if answer.http_status >= 400 else log.info
            level(
                f"webhook.{answer.outcome}",
                github_event=_event_label(event),
                status=answer.http_status,
                reason=answer.reason,
            )
    count_delivery(event, answer.outcome, subscribed=SUBSCRIBED_EVENTS)
    WEBHOOK_SECONDS.labels(event=known(event, SUBSCRIBED_EVENTS)).observe(
        time.perf_counter() - started
    )
    return answer


def _event_label(event: str) -> str | None:
    return event if _EVENT_NAME.fullmatch(event) else None


def _receive(
    state: ServiceState, environ: WSGIEnvironment, event_name: str, delivery_id: str
) -> Answer:
    body = _read_body(environ)
    if isinstance(body, Answer):
        return body
    signature: str | None = environ.get(_SIGNATURE_KEY)
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


def _read_body(environ: WSGIEnvironment) -> bytes | Answer:
    """The body, or the answer refusing it: over 25 MB (413, before reading any of it when
    Content-Length says so), a Content-Length that is not a number or a body cut short (400).

    A request without Content-Length has a body only when the server says it ends (chunked
    transfer: `wsgi.input_terminated`, as gunicorn sets); the rest of WSGI has none then.
    """
    stream: Any = environ["wsgi.input"]
    length_text = environ.get("CONTENT_LENGTH") or ""
    if length_text:
        # ASCII digits only: int() would take others (a latin-1 "\xb2" is a digit to str).
        if not (length_text.isascii() and length_text.isdigit()):
            return Answer(400, "rejected", BAD_LENGTH, "rejected")
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            return Answer(413, "rejected", TOO_LARGE, "too_large")
        body = _read(stream.read, length)
        return body if len(body) == length else Answer(400, "rejected", CUT_SHORT, "rejected")
    if not environ.get("wsgi.input_terminated"):
        return b""
    body = _read(stream.read, MAX_BODY_BYTES + 1)
    return body if len(body) <= MAX_BODY_BYTES else Answer(413, "rejected", TOO_LARGE, "too_large")


def _read(read: Callable[[int], bytes], most: int) -> bytes:
    """Up to `most` bytes: a stream may return fewer than asked before its end."""
    first = read(most)
    if len(first) == most or not first:
        return first
    parts = [first]
    left = most - len(first)
    while left > 0:
        part = read(min(left, _READ_CHUNK))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


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
