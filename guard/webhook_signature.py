"""Checks that a webhook delivery was signed by GitHub with our secret (X-Hub-Signature-256)."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_DIGEST_HEX_LENGTH = hashlib.sha256().digest_size * 2


def sign(secret: bytes, body: bytes) -> str:
    """The header value GitHub sends for `body`: `sha256=` and the HMAC-SHA256 hex digest."""
    return _PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    """True only when `header` is the SHA-256 signature of exactly these raw body bytes.

    The body must be the bytes as received: re-serialised JSON differs in whitespace and
    key order and would never match. An empty secret verifies nothing, so a service started
    without one cannot be made to accept unsigned deliveries.
    """
    if not secret or header is None or not header.startswith(_PREFIX):
        return False
    given = header[len(_PREFIX) :]
    if len(given) != _DIGEST_HEX_LENGTH or not _HEX_DIGITS.issuperset(given):
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    # Constant time, so response timing does not reveal how much of a forged digest matched.
    return hmac.compare_digest(expected, given.lower())
