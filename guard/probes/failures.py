"""Why a request got no answer, in words: timeouts, DNS, refused connections, TLS, redirects."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import (
    ConnectTimeoutError,
    NameResolutionError,
    NewConnectionError,
    ReadTimeoutError,
)

from guard.policy.types import format_duration
from guard.probes.bodies import SlowBodyError
from guard.probes.transport import MAX_REDIRECTS

ErrorT = TypeVar("ErrorT", bound=BaseException)


@dataclass(frozen=True)
class RequestFailure:
    """A request that got no usable answer."""

    # Short, for tables: "timed out after 10s".
    summary: str
    # Follows the request in a sentence: "GET <url> " + problem + ".".
    problem: str
    # True when nothing answered (DNS, refused, reset, TLS, timeout).
    unreachable: bool


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and everything behind it: causes, contexts and urllib3's wrapped reasons."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.extend(arg for arg in current.args if isinstance(arg, BaseException))
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            pending.append(reason)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                pending.append(linked)


def _find(error: BaseException, kind: type[ErrorT]) -> ErrorT | None:
    for cause in _causes(error):
        if isinstance(cause, kind):
            return cause
    return None


def _target(error: BaseException, url: str) -> tuple[str, str]:
    """The host and host:port the failing hop was for (a redirect may have moved it)."""
    request = getattr(error, "request", None)
    hop_url = getattr(request, "url", None) or url
    parts = urlsplit(hop_url)
    host = parts.hostname or hop_url
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return host, f"{host}:{port}" if port else host


def _tls_reason(error: BaseException) -> str:
    verify = _find(error, ssl.SSLCertVerificationError)
    if verify is not None:
        return f"certificate verify failed: {verify.verify_message}"
    tls = _find(error, ssl.SSLError)
    if tls is not None and tls.reason:
        return str(tls.reason).replace("_", " ").lower()
    return str(error)


def describe_request_error(error: BaseException, url: str, timeout_s: float) -> RequestFailure:
    """Classify what went wrong with a request to `url` into a summary and a sentence part."""
    timeout = format_duration(timeout_s)
    host, host_port = _target(error, url)
    if isinstance(error, SlowBodyError):
        return RequestFailure(
            f"timed out after {timeout}",
            f"kept sending its body for more than {timeout}; expected it within {timeout}",
            unreachable=True,
        )
    if isinstance(error, requests.TooManyRedirects):
        last = error.response.url if error.response is not None else url
        return RequestFailure(
            "too many redirects",
            f"was redirected more than {MAX_REDIRECTS} times (last to {last}); expected an "
            f"answer within {MAX_REDIRECTS} redirects",
            unreachable=False,
        )
    if isinstance(error, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return RequestFailure(
            "invalid URL",
            "is not a URL that can be requested (it needs http:// or https:// and a host)",
            unreachable=False,
        )
    if isinstance(error, requests.exceptions.InvalidSchema):
        return RequestFailure("invalid URL", "is not an http:// or https:// URL", unreachable=False)
    if isinstance(error, requests.exceptions.SSLError) or _find(error, ssl.SSLError):
        return RequestFailure(
            "TLS error",
            f"failed the TLS handshake with {host_port}: {_tls_reason(error)}",
            unreachable=True,
        )
    if _find(error, NameResolutionError) or _find(error, socket.gaierror):
        return _dns_failure(host)
    if _find(error, ConnectionRefusedError):
        return RequestFailure(
            "connection refused",
            f"could not connect: {host_port} refused the connection (is the service running "
            "and listening there?)",
            unreachable=True,
        )
    if isinstance(error, requests.ConnectTimeout) or _is_connect_timeout(error):
        return RequestFailure(
            f"timed out after {timeout}",
            f"could not connect to {host_port} within {timeout} (connect timeout)",
            unreachable=True,
        )
    if isinstance(error, requests.ReadTimeout) or _find(error, ReadTimeoutError):
        return RequestFailure(
            f"timed out after {timeout}",
            f"got no answer within {timeout} (read timeout); expected one within {timeout}",
            unreachable=True,
        )
    if _find(error, ConnectionResetError) or _find(error, ConnectionAbortedError):
        return RequestFailure(
            "connection reset",
            f"failed: {host_port} reset the connection before answering",
            unreachable=True,
        )
    if isinstance(error, requests.exceptions.ChunkedEncodingError | requests.ConnectionError):
        return RequestFailure(
            "connection failed",
            f"failed: the connection to {host_port} broke off ({_last_words(error)})",
            unreachable=True,
        )
    return RequestFailure("request failed", f"failed: {_last_words(error)}", unreachable=True)


def _is_connect_timeout(error: BaseException) -> bool:
    # urllib3's NewConnectionError (refused, DNS, ...) subclasses ConnectTimeoutError.
    return any(
        isinstance(cause, ConnectTimeoutError) and not isinstance(cause, NewConnectionError)
        for cause in _causes(error)
    )


def _dns_failure(host: str) -> RequestFailure:
    return RequestFailure(
        "DNS lookup failed",
        f"could not be sent: the host name {host} does not resolve (DNS lookup failed)",
        unreachable=True,
    )


def _last_words(error: BaseException) -> str:
    """The innermost message, which is usually the one that says what happened."""
    innermost = error
    for cause in _causes(error):
        innermost = cause
    return str(innermost) or type(innermost).__name__
