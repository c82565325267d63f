"""Safe Markdown pieces for issue bodies: table cells, code fences, UTC times and durations."""

from __future__ import annotations

import html
import math
import re
from datetime import datetime

from guard.incidents.context import as_utc

CELL_LIMIT = 300
ELLIPSIS = "…"
# "@name" in text we quote (commit subjects, response bodies) would notify that person or
# team on every incident; a zero-width space after the @ keeps the text and drops the ping.
_MENTION = re.compile(r"@(?=[A-Za-z0-9])")
_NO_PING = "@&#8203;"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BACKTICKS = re.compile(r"`+")


def cut(text: str, limit: int) -> str:
    """`text` in at most `limit` characters, an ellipsis marking a cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)].rstrip() + ELLIPSIS


def quiet(text: str) -> str:
    """Quoted text without the @mentions that would notify people."""
    return _MENTION.sub(_NO_PING, text)


def cell(value: object, limit: int = CELL_LIMIT) -> str:
    """One table cell: one line, pipes escaped, HTML tags shown as text, mentions silenced."""
    text = " ".join(str(value).split())
    text = cut(text, limit)
    # "<" alone opens HTML; ">" and "&" read fine in a cell and stay legible in the source.
    text = text.replace("<", "&lt;").replace("|", "\\|")
    return quiet(text) if text else " "


def inline_code(value: str) -> str:
    """`value` as inline code, even when it holds backticks itself."""
    text = " ".join(value.split())
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def fence_for(text: str) -> str:
    """A code fence longer than any run of backticks in `text`, so it cannot be closed early."""
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    return "`" * max(3, longest + 1)


def printable(text: str) -> str:
    """Response bytes fit for a code block: CRLF as LF, control characters as U+FFFD."""
    return _CONTROL.sub("\ufffd", text.replace("\r\n", "\n").replace("\r", "\n"))


def html_text(value: str) -> str:
    """Text for inside an HTML element such as <summary>."""
    return quiet(html.escape(" ".join(value.split()), quote=False))


def utc(moment: datetime) -> str:
    """2026-11-22 14:03:07 UTC."""
    return as_utc(moment).strftime("%Y-%m-%d %H:%M:%S UTC")


def utc_time(moment: datetime) -> str:
    """2026-11-22 14:03:07, for a column headed UTC."""
    return as_utc(moment).strftime("%Y-%m-%d %H:%M:%S")


def duration(seconds: float) -> str:
    """45 s, 4 min 12 s, 1 h 3 min, 2 d 4 h: how long something took, as people say it."""
    if not math.isfinite(seconds) or seconds < 0:
        return "unknown"
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def link(text: str, url: str | None) -> str:
    """A Markdown link, or just the text when there is no URL."""
    label = text.replace("[", "\\[").replace("]", "\\]")
    return f"[{label}]({url})" if url else label
