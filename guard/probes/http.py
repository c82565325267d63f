"""HTTP checks: send the request a policy describes, and say in a sentence how the answer did."""

from __future__ import annotations

import http.client
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

from guard.outcomes import Phase, ProbeResult, ProbeStatus
from guard.policy.models import HttpCheck
from guard.policy.secrets import SecretError, expand_secrets, secret_values
from guard.probes.bodies import Body, SlowBodyError, read_body
from guard.probes.expectations import Verdict, judge
from guard.probes.failures import describe_request_error
from guard.probes.network import ALLOW_ALL, NetworkPolicy, NetworkRefusedError
from guard.probes.transport import open_session
from guard.probes.wording import format_latency, without_secrets

DEFAULT_TIMEOUT_S = 10.0
NO_BASE_URL_HINT = "set url for this environment in the policy, or pass --url"

# Everything a target can make the HTTP stack raise; anything else is a bug of ours.
REQUEST_ERRORS: tuple[type[BaseException], ...] = (
    requests.RequestException,
    SlowBodyError,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
    UnicodeError,
)


@dataclass(frozen=True)
class PreparedCall:
    """A check's request with its secrets filled in, ready to send."""

    method: str
    url: str
    headers: dict[str, str]
    json_body: Any
    body: str | None


def resolve_url(path: str, base_url: str | None) -> str | None:
    """The URL a check asks for: its own when absolute, else appended to the base URL."""
    parts = urlsplit(path)
    if parts.scheme and parts.netloc:
        return path
    if base_url is None:
        return None
    # Appended, not urljoin'ed: "relative to the environment URL" keeps the base's own path.
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def _expand_json(value: Any, environ: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return expand_secrets(value, environ)
    if isinstance(value, list):
        return [_expand_json(item, environ) for item in value]
    if isinstance(value, dict):
        return {key: _expand_json(item, environ) for key, item in value.items()}
    return value


def prepare_call(check: HttpCheck, url: str, environ: Mapping[str, str]) -> PreparedCall:
    """Fill the `${GUARD_SECRET_*}` placeholders; raises SecretError naming a missing one."""
    request = check.request
    return PreparedCall(
        method=check.method,
        url=expand_secrets(url, environ),
        headers={name: expand_secrets(value, environ) for name, value in check.all_headers.items()},
        json_body=_expand_json(request.json_body, environ) if request else None,
        body=expand_secrets(request.body, environ) if request and request.body else None,
    )


class ReusedSessions:
    """One probe session per thread and network policy, reused from one step to the next.

    Making a session (its policy-checking connection pools) cost more than a round's probe.
    Nothing of one step reaches the next: after each, its cookies are dropped and its
    connections closed, so every step connects afresh, as with a new session: the connected
    address is checked each time, and a kept-alive connection the target closes between two
    rounds can never fail a probe.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    @contextmanager
    def session(self, network: NetworkPolicy, secrets: Iterable[str]) -> Iterator[requests.Session]:
        sessions: dict[tuple[NetworkPolicy, tuple[str, ...]], requests.Session]
        sessions = self._local.__dict__.setdefault("sessions", {})
        key = (network, tuple(secrets))
        session = sessions.get(key)
        if session is None:
            session = sessions[key] = open_session(network, key[1])
        try:
            yield session
        finally:
            session.cookies.clear()
            session.close()


class HttpProber:
    """Runs HTTP checks over one session for one verification; close it when done.

    Given a `session` (shared with the metric probes), the prober uses it as it is, network
    policy included, and leaves closing it to its owner; otherwise it opens its own.
    """

    def __init__(
        self,
        *,
        network: NetworkPolicy = ALLOW_ALL,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        session: requests.Session | None = None,
        default_timeout_s: float = DEFAULT_TIMEOUT_S,
        no_base_url_hint: str = NO_BASE_URL_HINT,
    ) -> None:
        self._environ: Mapping[str, str] = os.environ if environ is None else environ
        self._secrets = secret_values(self._environ)
        self._clock = clock
        self._monotonic = monotonic
        self._owns_session = session is None
        self.session = session or open_session(network, self._secrets)
        self._default_timeout_s = default_timeout_s
        self._no_base_url_hint = no_base_url_hint

    def __enter__(self) -> HttpProber:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_session:
            self.session.close()

    def probe(
        self,
        check: HttpCheck,
        base_url: str | None,
        *,
        phase: Phase = Phase.SMOKE,
        round_number: int = 0,
    ) -> ProbeResult:
        """One request for `check`, judged against its expectations. Never raises for the target."""
        started_at = self._clock()

        def result(status: ProbeStatus, summary: str, detail: str, **extra: Any) -> ProbeResult:
            outcome = ProbeResult(
                name=check.name,
                phase=phase,
                status=status,
                at=started_at,
                round=round_number,
                summary=summary,
                detail=detail,
                **extra,
            )
            return without_secrets(outcome, self._secrets)

        url = resolve_url(check.path, base_url)
        if url is None:
            return result(
                ProbeStatus.FAIL,
                "no base URL",
                f"{check.method} {check.path} was not sent: the path is relative and there is "
                f"no base URL; {self._no_base_url_hint}.",
            )
        try:
            call = prepare_call(check, url, self._environ)
        except SecretError as missing:
            return result(
                ProbeStatus.FAIL,
                "secret missing",
                f"{check.method} {url} was not sent: {missing}.",
            )
        timeout_s = check.timeout or self._default_timeout_s
        asked = f"{call.method} {call.url}"
        try:
            final_url, code, body, latency_s = self._exchange(call, timeout_s)
        except NetworkRefusedError as refused:
            return result(ProbeStatus.FAIL, "refused by network policy", refused.sentence)
        except REQUEST_ERRORS as error:
            failure = describe_request_error(error, call.url, timeout_s)
            return result(
                ProbeStatus.FAIL,
                failure.summary,
                f"{asked} {failure.problem}.",
                unreachable=failure.unreachable,
            )
        if final_url != call.url:
            asked += f" (redirected to {final_url})"
        verdict: Verdict = judge(check.expect, code, body, latency_s)
        answered = f"HTTP {code} in {format_latency(latency_s)}"
        summary = answered + (f", {verdict.tag}" if verdict.tag else "")
        if verdict.problems:
            detail = f"{asked} answered {answered}; " + "; ".join(verdict.problems) + "."
            status = ProbeStatus.FAIL
        else:
            detail = f"{asked} answered {answered} as expected."
            status = ProbeStatus.PASS
        return result(
            status,
            summary,
            detail,
            latency_s=latency_s,
            status_code=code,
            evidence=body.evidence,
        )

    def _exchange(self, call: PreparedCall, timeout_s: float) -> tuple[str, int, Body, float]:
        """Send the call and read the body: the final URL, status, body and latency."""
        started = self._monotonic()
        response = self.session.request(
            call.method,
            call.url,
            headers=call.headers,
            json=call.json_body,
            data=call.body.encode("utf-8") if call.body is not None else None,
            timeout=(timeout_s, timeout_s),
            allow_redirects=True,
            stream=True,
        )
        try:
            body = read_body(response, monotonic=self._monotonic, budget_s=timeout_s)
        finally:
            response.close()
        return response.url, response.status_code, body, self._monotonic() - started
