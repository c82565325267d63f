"""How probe results put numbers and values into words, and how secrets are kept out of them."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable

from guard.outcomes import ProbeResult, format_latency
from guard.policy.secrets import redact

__all__ = ["format_latency", "format_number", "format_value", "shorten", "without_secrets"]


def format_value(value: object) -> str:
    """A JSON value as it is written in JSON: true, "ok", 3, null."""
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


def format_number(value: float) -> str:
    """A metric value, short: 0.12, 1.5e+06, NaN, +Inf."""
    if math.isnan(value):
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:g}"


def shorten(text: str, limit: int = 160) -> str:
    """`text` cut to `limit` characters, marked when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def without_secrets(result: ProbeResult, secrets: Iterable[str]) -> ProbeResult:
    """The result with every secret value replaced by *** in its words and evidence."""
    values = list(secrets)
    if not values:
        return result
    return dataclasses.replace(
        result,
        name=redact(result.name, values),
        summary=redact(result.summary, values),
        detail=redact(result.detail, values),
        evidence=redact(result.evidence, values),
    )
