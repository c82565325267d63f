"""PyGithub's requester, set up once: our credentials, no hidden retries, every call observed."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

from github.Auth import Auth
from github.Requester import HTTPRequestsConnectionClass, HTTPSRequestsConnectionClass, Requester

import guard
from guard.github.errors import GitHubError

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
USER_AGENT = f"deploy-guard/{guard.__version__}"
OTHER_ROUTE = "other"

# The routes we call, as GitHub's OpenAPI names them: observer labels stay few and stable.
ROUTE_TEMPLATES = (
    "/app",
    "/app/hook/deliveries",
    "/app/hook/deliveries/{delivery_id}/attempts",
    "/app/installations/{installation_id}/access_tokens",
    "/graphql",
    "/rate_limit",
    "/repos/{owner}/{repo}",
    "/repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule",
    "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches",
    "/repos/{owner}/{repo}/check-runs",
    "/repos/{owner}/{repo}/check-runs/{check_run_id}",
    "/repos/{owner}/{repo}/collaborators/{username}/permission",
    # Before commits/{ref}: a ref may hold slashes, so that one would match this path too.
    "/repos/{owner}/{repo}/commits/{ref}/check-runs",
    "/repos/{owner}/{repo}/commits/{ref}",
    "/repos/{owner}/{repo}/compare/{basehead}",
    "/repos/{owner}/{repo}/contents/{path}",
    "/repos/{owner}/{repo}/deployments",
    "/repos/{owner}/{repo}/deployments/{deployment_id}",
    "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses",
    "/repos/{owner}/{repo}/git/commits",
    "/repos/{owner}/{repo}/git/commits/{commit_sha}",
    "/repos/{owner}/{repo}/git/ref/{ref}",
    "/repos/{owner}/{repo}/git/refs",
    "/repos/{owner}/{repo}/git/refs/{ref}",
    "/repos/{owner}/{repo}/issues",
    "/repos/{owner}/{repo}/issues/{issue_number}",
    "/repos/{owner}/{repo}/issues/{issue_number}/comments",
    "/repos/{owner}/{repo}/labels",
    "/repos/{owner}/{repo}/labels/{name}",
    "/repos/{owner}/{repo}/pulls",
)
# Parameters that may hold slashes: file paths, branch names, "base...head".
_MULTI_SEGMENT = {"path", "ref", "basehead"}


def _compile(template: str) -> re.Pattern[str]:
    def segment(match: re.Match[str]) -> str:
        return ".+" if match.group(1) in _MULTI_SEGMENT else "[^/]+"

    return re.compile(re.sub(r"\\\{(\w+)\\\}", segment, re.escape(template)))


_ROUTES = tuple((_compile(t), t) for t in ROUTE_TEMPLATES)


def route_template(path: str) -> str:
    """The OpenAPI route a request path belongs to, or "other"."""
    for pattern, template in _ROUTES:
        if pattern.fullmatch(path):
            return template
    return OTHER_ROUTE


_TOKEN_IN_JSON = re.compile(r'("token"\s*:\s*")[^"]*(")')


class _RedactTokens(logging.Filter):
    """PyGithub logs every answer at DEBUG, body and all: an installation token's included."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _TOKEN_IN_JSON.sub(r"\1<redacted>\2", a) if isinstance(a, str) else a
                for a in record.args
            )
        return True


logging.getLogger("github.Requester").addFilter(_RedactTokens())


class CallObserver(Protocol):
    """Told about every HTTP call; the service wires it to Prometheus metrics.

    `status` is None when no answer came (connection error, timeout);
    `rate_limit_remaining` is None when GitHub sent no `x-ratelimit-remaining` header.
    """

    def __call__(
        self, method: str, route: str, status: int | None, rate_limit_remaining: int | None
    ) -> None: ...


class HeaderAuth(Auth):
    """Hands PyGithub a token fetched afresh for every request (cached by `guard.github.auth`)."""

    def __init__(
        self,
        token: Callable[[], str],
        token_type: str = "token",  # noqa: S107 - the Authorization scheme, not a secret
    ) -> None:
        self._token = token
        self._token_type = token_type

    @property
    def token_type(self) -> str:
        return self._token_type

    @property
    def token(self) -> str:
        return self._token()

    @property
    def _masked_token(self) -> str:
        return f"{self._token_type} (removed)"


class ObservedRequester(Requester):
    """PyGithub's requester, reporting each answer (or its absence) to a `CallObserver`."""

    def __init__(self, *, observer: CallObserver | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._observer = observer
        self._path_prefix = urlsplit(self.base_url).path.rstrip("/")

    def requestJson(  # noqa: N802, PLR0917 - PyGithub's method, overridden as it is
        self,
        verb: str,
        url: str,
        parameters: dict[str, Any] | None = None,
        headers: dict[str, Any] | None = None,
        input: Any | None = None,
        cnx: HTTPRequestsConnectionClass | HTTPSRequestsConnectionClass | None = None,
        follow_302_redirect: bool = False,
    ) -> tuple[int, dict[str, Any], str]:
        try:
            status, response_headers, output = super().requestJson(
                verb, url, parameters, headers, input, cnx, follow_302_redirect
            )
        except GitHubError:
            # Our own failure before sending (no installation token): nothing went out.
            raise
        except Exception:
            self._notify(verb, url, None, None)
            raise
        remaining = response_headers.get("x-ratelimit-remaining")
        self._notify(verb, url, status, _as_int(remaining))
        return status, response_headers, output

    def _notify(self, verb: str, url: str, status: int | None, remaining: int | None) -> None:
        if self._observer is None:
            return
        path = urlsplit(url).path
        if self._path_prefix and path.startswith(self._path_prefix + "/"):
            path = path[len(self._path_prefix) :]
        try:
            self._observer(verb, route_template(path), status, remaining)
        except Exception:
            # Metrics must never break a rollback.
            log.exception("github_observer_failed")


def _as_int(value: object) -> int | None:
    try:
        return int(float(str(value))) if value is not None else None
    except ValueError:
        return None


def build_requester(
    auth: Auth,
    base_url: str,
    *,
    observer: CallObserver | None = None,
    timeout_s: int = 15,
    seconds_between_requests: float | None = None,
    seconds_between_writes: float | None = None,
    per_page: int = 100,
) -> ObservedRequester:
    """A requester with `retry=None`: retries belong to `guard.github.retry` alone."""
    return ObservedRequester(
        observer=observer,
        auth=auth,
        base_url=base_url.rstrip("/"),
        timeout=timeout_s,
        user_agent=USER_AGENT,
        per_page=per_page,
        verify=True,
        retry=None,
        pool_size=None,
        seconds_between_requests=seconds_between_requests,
        seconds_between_writes=seconds_between_writes,
        lazy=True,
        api_version=API_VERSION,
    )
