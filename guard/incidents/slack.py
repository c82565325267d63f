"""Incident events to a Slack incoming webhook: one message each, best effort, never raising."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import requests

from guard.observability.logs import get_logger
from guard.policy.models import Notify
from guard.policy.secrets import PLACEHOLDER, SecretError, expand_secrets

log = get_logger(__name__)

TIMEOUT_S = 5.0
# Slack's limit for a message's text; longer text is cut.
TEXT_LIMIT = 3_000


def slack_escape(text: str) -> str:
    """Text for Slack's mrkdwn: &, < and > are its control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackNotifier:
    """Posts `{"text": ...}` to one incoming webhook. The URL is a secret: it is never logged."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = TIMEOUT_S,
        session: requests.Session | None = None,
    ) -> None:
        self._url = url
        self._timeout_s = timeout_s
        self._session = session

    def post(self, text: str) -> bool:
        """Send one message; False (and a log line) when Slack did not take it."""
        payload = {"text": text[:TEXT_LIMIT]}
        try:
            if self._session is not None:
                answer = self._session.post(self._url, json=payload, timeout=self._timeout_s)
            else:
                answer = requests.post(self._url, json=payload, timeout=self._timeout_s)
        except requests.RequestException as error:
            # The exception's text may hold the URL, the secret: log its kind only.
            log.warning("incident.slack_failed", error=type(error).__name__)
            return False
        if answer.status_code >= 300:
            log.warning("incident.slack_refused", status=answer.status_code)
            return False
        return True


def slack_notifier(notify: Notify, environ: Mapping[str, str]) -> SlackNotifier | None:
    """The notifier the policy asks for, or None (a misconfiguration is logged, not raised).

    The webhook must come from a `${GUARD_SECRET_*}` placeholder: a URL written in the
    repository's policy would let any repository aim the guard's requests anywhere.
    """
    configured = notify.slack_webhook
    if not configured:
        return None
    if not PLACEHOLDER.search(configured):
        log.warning("incident.slack_not_a_secret")
        return None
    try:
        url = expand_secrets(configured, environ)
    except SecretError as error:
        log.warning("incident.slack_unavailable", error=str(error))
        return None
    if urlsplit(url).scheme not in ("http", "https"):
        log.warning("incident.slack_not_a_url")
        return None
    return SlackNotifier(url)
