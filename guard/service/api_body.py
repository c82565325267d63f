"""The body of `POST /api/v1/verifications`, checked strictly: what the OpenAPI document says."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

# Shared with the OpenAPI document, so the two cannot drift apart: no control characters.
TEXT_PATTERN = r"^[^\u0000-\u001f\u007f]+$"
SHA_PATTERN = r"^[0-9a-fA-F]{40}([0-9a-fA-F]{24})?$"
# ASCII only and spelled out, never \s (whose meaning differs between regex dialects): a
# scheme, maybe user info (RFC 3986 characters), a host, maybe a port, then printable ASCII.
URL_PATTERN = (
    r"^https?://([A-Za-z0-9._~!$&'()*+,;=:%-]+@)?[A-Za-z0-9.-]+(:[0-9]{1,5})?([/?#][!-~]*)?$"
)
TEXT_LIMIT = 255
URL_LIMIT = 2048
MAX_ID = 2**63 - 1

NOT_A_URL = "{value!r} is not an http(s) URL with a host"
NOT_TEXT = "control characters and lone surrogates are not allowed"
# The same, and no lone surrogates either (JSON can spell them, UTF-8 cannot store them);
# only Python's re can name those, so the document's pattern leaves them out.
_TEXT = re.compile(r"^[^\u0000-\u001f\u007f\ud800-\udfff]+$")
# How many problems the answer names before it summarises the rest.
_SHOWN = 3


class VerificationRequest(BaseModel):
    """What a pipeline sends; types are strict, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    environment: str = Field(min_length=1, max_length=TEXT_LIMIT)
    deployment_id: int | None = Field(None, ge=1, le=MAX_ID)
    url: str | None = Field(None, max_length=URL_LIMIT, pattern=URL_PATTERN)
    sha: str | None = Field(None, pattern=SHA_PATTERN)
    ref: str | None = Field(None, min_length=1, max_length=TEXT_LIMIT)

    @field_validator("environment", "ref")
    @classmethod
    def _plain_text(cls, value: str | None) -> str | None:
        # Python's re, not pydantic's: only it can name surrogates in a character class.
        if value is not None and not _TEXT.fullmatch(value):
            raise ValueError(NOT_TEXT)
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parts = urlsplit(value)
            host = parts.hostname
        except ValueError:
            host = None
        if host is None:
            raise ValueError(NOT_A_URL.format(value=value))
        return value

    @field_validator("sha")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.lower() if value is not None else None


def describe_errors(error: ValidationError) -> str:
    """`environment: String should have at least 1 character; ...` in one line."""
    problems = error.errors(include_url=False, include_input=False)
    shown = "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or 'body'}: {problem['msg']}"
        for problem in problems[:_SHOWN]
    )
    hidden = len(problems) - _SHOWN
    return shown + (f" (and {hidden} more)" if hidden > 0 else "")
