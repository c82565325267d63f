"""Removes secrets from text bound for logs or Sentry: known values and credential shapes."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Final
from urllib.parse import urlsplit

from guard.settings import Settings, SettingsError, redact_url

REDACTED: Final = "[redacted]"
SECRET_VARIABLE_PREFIX: Final = "GUARD_SECRET_"  # noqa: S105 - a variable name prefix
# Shorter values are not searched for: a one-letter "secret" would blank out every log line,
# and would not have protected anything anyway.
MIN_SECRET_LENGTH: Final = 4
# Lines of a PEM key body this long are redacted on their own, should one be logged alone.
_MIN_KEY_LINE_LENGTH: Final = 16

# Shapes of credentials worth hiding even when the guard was never told their value.
_PATTERNS: Final = (
    # PEM private keys, including one cut off before its END line.
    re.compile(
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
        re.DOTALL,
    ),
    # GitHub tokens: personal (ghp_), OAuth (gho_), user (ghu_), installation (ghs_, including
    # the newer ghs_APPID_JWT form), refresh (ghr_) and fine-grained (github_pat_).
    re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9_.\-]{16,}|github_pat_[A-Za-z0-9_]{16,})"),
    # JSON Web Tokens: App JWTs and Actions OIDC tokens.
    re.compile(r"\beyJ[A-Za-z0-9_\-]+\.eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"),
)
_AUTHORIZATION: Final = re.compile(
    r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?(?:bearer|token|basic)\s+)[^\s\"',;]+"
)
# What every one of the patterns above (and a URL's password) needs to find: text without any
# of these is left as it is after one search, rather than five (most log lines hold none).
_MAY_HOLD_CREDENTIAL: Final = re.compile(
    r"PRIVATE KEY-----|\bgh[pousr]_|\bgithub_pat_|\beyJ|(?i:authorization)|://[^:/@\s]*:"
)


class Redactor:
    """Replaces every known secret value, and anything shaped like a credential, by [redacted]."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = {secret for secret in secrets if len(secret) >= MIN_SECRET_LENGTH}
        # Longest first, so a secret that contains another is removed whole.
        self._secrets = tuple(sorted(values, key=len, reverse=True))

    @property
    def secret_count(self) -> int:
        return len(self._secrets)

    def text(self, text: str) -> str:
        """`text` with secrets and credential-shaped strings replaced."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        if _MAY_HOLD_CREDENTIAL.search(text) is None:
            return text
        for pattern in _PATTERNS:
            text = pattern.sub(REDACTED, text)
        text = _AUTHORIZATION.sub(lambda match: match.group(1) + REDACTED, text)
        return redact_url(text)

    def value(self, value: object) -> object:
        """Any JSON-like value (dicts, lists, strings, ...) with every string in it redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {key: self.value(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(item) for item in value]
        return value


def secrets_from_settings(
    settings: Settings | None, environ: Mapping[str, str] | None = None
) -> tuple[str, ...]:
    """The values that must never be logged: the webhook secret, GitHub credentials, the
    passwords in database and queue URLs, the Sentry DSN and every GUARD_SECRET_* value."""
    source = os.environ if environ is None else environ
    found: list[str] = [
        value for name, value in source.items() if name.startswith(SECRET_VARIABLE_PREFIX)
    ]
    if settings is None:
        return tuple(found)
    given = (
        settings.webhook_secret,
        settings.github_token,
        settings.github_private_key_pem,
        settings.sentry_dsn,
    )
    for secret in given:
        if secret is not None:
            found.append(secret.get_secret_value())
    for url in (settings.database_url, settings.queue_url):
        password = urlsplit(url).password
        if password:
            found.append(password)
    try:
        key = settings.github_private_key()
    except SettingsError:
        # An unreadable key file: start-up reports it; there is nothing to hide.
        key = None
    if key:
        found.append(key.strip())
        found.extend(
            line.strip()
            for line in key.splitlines()
            if len(line.strip()) >= _MIN_KEY_LINE_LENGTH and not line.startswith("-----")
        )
    return tuple(found)
