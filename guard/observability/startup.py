"""One call for a process that starts: logs configured, secrets known to the redactor, Sentry."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TextIO

from guard.observability.logs import configure_logging
from guard.observability.redaction import Redactor, secrets_from_settings
from guard.observability.sentry import init_sentry
from guard.settings import Settings


def start_observability(
    settings: Settings,
    *,
    environ: Mapping[str, str] | None = None,
    level: int = logging.INFO,
    stream: TextIO | None = None,
) -> Redactor:
    """Configure logging (GUARD_LOG_FORMAT) and Sentry (SENTRY_DSN) for this process.

    `deploy-guard serve` and `deploy-guard worker` call this once, before they start work.
    """
    redactor = Redactor(secrets_from_settings(settings, environ))
    configure_logging(settings.log_format, redactor, level=level, stream=stream)
    init_sentry(settings, redactor)
    return redactor
