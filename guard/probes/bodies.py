"""Reading a response body with bounds on size and time, and keeping its start as evidence."""

from __future__ import annotations

import codecs
from collections.abc import Callable
from dataclasses import dataclass

import requests

# Expectations look at no more than this; a health endpoint that sends more is not one.
EXPECTATION_LIMIT = 1024 * 1024
# What a result keeps of the body, so stored runs and incidents stay small.
EVIDENCE_LIMIT = 64 * 1024
_CHUNK = 16 * 1024


class SlowBodyError(Exception):
    """The body kept arriving past the time allowed for it."""


@dataclass(frozen=True)
class Body:
    """The start of a response body: at most `EXPECTATION_LIMIT` bytes, decoded content."""

    data: bytes
    # True when the body went on past the limit and the rest was not read.
    truncated: bool
    encoding: str

    @property
    def text(self) -> str:
        return self.data.decode(self.encoding, errors="replace")

    @property
    def evidence(self) -> str:
        return evidence_text(self.data, self.encoding)


def read_body(
    response: requests.Response,
    *,
    monotonic: Callable[[], float],
    budget_s: float,
    limit: int = EXPECTATION_LIMIT,
) -> Body:
    """Read up to `limit` bytes; raise SlowBodyError when that takes longer than `budget_s`.

    The read timeout bounds each wait for data; the budget bounds the whole body, so a
    server sending a byte every few seconds cannot hold a probe for hours.
    """
    started = monotonic()
    chunks: list[bytes] = []
    size = 0
    truncated = False
    for chunk in response.iter_content(chunk_size=_CHUNK):
        if size >= limit:
            truncated = True
            break
        chunks.append(chunk[: limit - size])
        size += len(chunks[-1])
        if len(chunk) > len(chunks[-1]):
            truncated = True
            break
        if monotonic() - started > budget_s:
            raise SlowBodyError
    return Body(b"".join(chunks), truncated, declared_charset(response) or "utf-8")


def declared_charset(response: requests.Response) -> str | None:
    """The charset the Content-Type names, when Python knows it.

    Without one we read UTF-8, not requests' ISO-8859-1 default for text/*: that is what
    services send today, and it keeps `body_contains` with non-ASCII text working.
    """
    content_type = response.headers.get("Content-Type", "")
    for parameter in content_type.split(";")[1:]:
        key, _, value = parameter.strip().partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip("\"'")
            try:
                codecs.lookup(charset)
            except LookupError:
                return None
            return charset
    return None


def evidence_text(data: bytes, encoding: str) -> str:
    """The start of the body as text, no more than EVIDENCE_LIMIT bytes once UTF-8 encoded."""
    text = data[:EVIDENCE_LIMIT].decode(encoding, errors="replace")
    encoded = text.encode("utf-8")
    if len(encoded) <= EVIDENCE_LIMIT:
        return text
    # Replacement characters and other charsets can grow in UTF-8: cut on a character edge.
    return encoded[:EVIDENCE_LIMIT].decode("utf-8", errors="ignore")
