"""Errors to Sentry, only when SENTRY_DSN is set: no personal data, every secret redacted."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, cast

from guard import __version__
from guard.observability.redaction import REDACTED, Redactor
from guard.settings import Settings

# Request headers that authenticate a caller or sign a body: never sent, whatever the redactor
# knows. (A signature is not a secret, but with the body it lets someone test secret guesses.)
_SENSITIVE_HEADERS: Final = frozenset(
    {"authorization", "cookie", "set-cookie", "x-hub-signature", "x-hub-signature-256"}
)

Event = dict[str, Any]
BeforeSend = Callable[[Event, Mapping[str, Any]], Event | None]


def make_before_send(redactor: Redactor) -> BeforeSend:
    """Sentry's `before_send`: drop request bodies and credentials, redact every string."""

    def before_send(event: Event, hint: Mapping[str, Any]) -> Event | None:
        request = event.get("request")
        if isinstance(request, dict):
            # A webhook body is GitHub's data about someone's repository; it stays with us.
            request.pop("data", None)
            request.pop("cookies", None)
            headers = request.get("headers")
            if isinstance(headers, dict):
                request["headers"] = {
                    name: REDACTED if name.lower() in _SENSITIVE_HEADERS else value
                    for name, value in headers.items()
                }
        return cast("Event", redactor.value(event))

    return before_send


def init_sentry(settings: Settings, redactor: Redactor) -> bool:
    """Start reporting errors to Sentry when SENTRY_DSN is set; False (and nothing) when not."""
    if settings.sentry_dsn is None:
        return False
    import sentry_sdk

    before_send = make_before_send(redactor)
    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        release=f"deploy-guard@{__version__}",
        send_default_pii=False,
        max_request_body_size="never",
        before_send=cast("Any", before_send),
        before_breadcrumb=cast("Any", lambda crumb, _hint: redactor.value(crumb)),
    )
    return True
