"""How policy values appear inside error messages: as the user would write them in YAML."""

from __future__ import annotations

import json

# A multi-line query or body quoted in full would bury the message that explains it.
MAX_QUOTED_CHARS = 80
ELLIPSIS = "…"


def quote_value(value: object) -> str:
    """`"fast"` for text, `true`/`null` for YAML's words, numbers and small lists as written."""
    if isinstance(value, str):
        text = json.dumps(_shorten(value), ensure_ascii=False)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, int | float):
        text = repr(value)
    elif isinstance(value, list | dict):
        text = _shorten(json.dumps(value, ensure_ascii=False, default=str))
    else:
        text = json.dumps(_shorten(str(value)), ensure_ascii=False)
    return text


def describe_value(value: object) -> str:
    """What was found where something else was expected: `"fast"`, `a list`, `nothing`."""
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return quote_value(value)


def _shorten(text: str) -> str:
    if len(text) <= MAX_QUOTED_CHARS:
        return text
    return text[: MAX_QUOTED_CHARS - 1] + ELLIPSIS
