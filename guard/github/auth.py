"""Credentials for GitHub, one switch: an App's cached installation tokens, or one plain token."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from guard.github.errors import GitHubError
from guard.github.retry import Retrier
from guard.github.transport import DEFAULT_API_URL, CallObserver, HeaderAuth, build_requester

# GitHub: iat 60 s in the past against clock drift; exp at most 10 min ahead (we keep a margin).
JWT_BACKDATE_S = 60
JWT_LIFETIME_S = 9 * 60
# Refresh an installation token this long before it expires (tokens live one hour).
REFRESH_MARGIN_S = 5 * 60
# Used only if GitHub's answer has no parsable expires_at: its documented token lifetime.
ASSUMED_TOKEN_LIFETIME_S = 60 * 60


class GitHubAuth(Protocol):
    """Where a client gets the token for an installation."""

    def token_for(self, installation_id: int | None) -> str:
        """A token valid for at least a few minutes for calls on behalf of the installation."""
        ...

    def invalidate(self, installation_id: int | None) -> bool:
        """Forget a token GitHub rejected; True when the next `token_for` gets a new one."""
        ...


class TokenAuth:
    """A personal access token or GITHUB_TOKEN: the same token whatever the installation."""

    def __init__(self, token: str) -> None:
        if not token.strip():
            raise ValueError("the GitHub token is empty")
        self._token = token.strip()

    def token_for(self, installation_id: int | None = None) -> str:
        return self._token

    def invalidate(self, installation_id: int | None = None) -> bool:
        # A plain token cannot be renewed by us: a 401 stays a 401.
        return False

    def __repr__(self) -> str:
        return "TokenAuth(token=<hidden>)"


@dataclass(frozen=True)
class _CachedToken:
    token: str = ""
    refresh_at: float = 0.0

    def __repr__(self) -> str:
        return f"_CachedToken(refresh_at={self.refresh_at})"


class AppAuth:
    """A GitHub App: JWTs signed RS256, exchanged for installation tokens, cached thread-safely."""

    def __init__(
        self,
        app_id: int | str,
        private_key: str,
        *,
        api_url: str = DEFAULT_API_URL,
        clock: Callable[[], float] = time.time,
        refresh_margin_s: float = REFRESH_MARGIN_S,
        retrier: Retrier | None = None,
        observer: CallObserver | None = None,
        timeout_s: int = 15,
    ) -> None:
        self.app_id = str(app_id).strip()
        if not self.app_id.isdigit():
            raise ValueError("the GitHub App id must be a number")
        self._key = _load_private_key(private_key)
        self._clock = clock
        self._refresh_margin_s = refresh_margin_s
        self._retrier = retrier or Retrier(clock=clock)
        self._requester = build_requester(
            HeaderAuth(self.app_jwt, token_type="Bearer"),  # noqa: S106 - a scheme name
            api_url,
            observer=observer,
            timeout_s=timeout_s,
        )
        self._lock = threading.Lock()
        self._cache: dict[int, _CachedToken] = {}
        self._fetching: dict[int, threading.Lock] = {}

    def __repr__(self) -> str:
        return f"AppAuth(app_id={self.app_id}, private_key=<hidden>)"

    def app_jwt(self) -> str:
        """A fresh JWT that authenticates as the App itself (for /app endpoints)."""
        now = int(self._clock())
        claims = {"iat": now - JWT_BACKDATE_S, "exp": now + JWT_LIFETIME_S, "iss": self.app_id}
        return jwt.encode(claims, self._key, algorithm="RS256")

    def token_for(self, installation_id: int | None) -> str:
        """The installation's token, from the cache unless it is close to expiry."""
        if installation_id is None:
            raise GitHubError("a GitHub App needs an installation id to act on a repository")
        cached = self._fresh(installation_id)
        if cached is not None:
            return cached
        with self._lock:
            fetching = self._fetching.setdefault(installation_id, threading.Lock())
        # One fetch per installation at a time; other threads wait and then read the cache.
        with fetching:
            cached = self._fresh(installation_id)
            if cached is not None:
                return cached
            entry = self._fetch(installation_id)
            with self._lock:
                self._cache[installation_id] = entry
            return entry.token

    def invalidate(self, installation_id: int | None) -> bool:
        if installation_id is None:
            return False
        with self._lock:
            self._cache.pop(installation_id, None)
        return True

    def _fresh(self, installation_id: int) -> str | None:
        with self._lock:
            entry = self._cache.get(installation_id)
        if entry is not None and self._clock() < entry.refresh_at:
            return entry.token
        return None

    def _fetch(self, installation_id: int) -> _CachedToken:
        url = f"/app/installations/{installation_id}/access_tokens"

        def post() -> Any:
            _headers, data = self._requester.requestJsonAndCheck("POST", url)
            return data

        # Asking twice only mints a second token, so a lost answer can simply be asked again.
        data = self._retrier.run(f"installation token for {installation_id}", post)
        token = data.get("token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise GitHubError(f"GitHub sent no token for installation {installation_id}")
        # No assumption about the token's length or format: stateless ghs_APPID_JWT exist.
        now = self._clock()
        expires_at = _parse_time(data.get("expires_at")) or now + ASSUMED_TOKEN_LIFETIME_S
        lifetime = max(0.0, expires_at - now)
        # A short-lived token (a test, a sandbox) is refreshed halfway rather than never cached.
        margin = min(self._refresh_margin_s, lifetime / 2)
        return _CachedToken(token=token, refresh_at=expires_at - margin)


def _parse_time(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def _load_private_key(pem: str) -> RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.strip().encode(), password=None)
    except (ValueError, TypeError) as error:
        # Never echo the key; the exception text could quote it.
        raise ValueError("the GitHub App private key is not a readable PEM key") from error
    if not isinstance(key, RSAPrivateKey):
        raise ValueError("the GitHub App private key must be an RSA key (GitHub signs RS256)")
    return key


def auth_from_settings(
    *,
    app_id: int | str | None,
    private_key: str | None,
    token: str | None,
    api_url: str = DEFAULT_API_URL,
    observer: CallObserver | None = None,
) -> GitHubAuth:
    """The one switch: App credentials when both are set, else a plain token, else an error."""
    if app_id and private_key:
        return AppAuth(app_id, private_key, api_url=api_url, observer=observer)
    if app_id or private_key:
        raise ValueError("a GitHub App needs both GUARD_GITHUB_APP_ID and its private key")
    if token:
        return TokenAuth(token)
    raise ValueError("set GUARD_GITHUB_APP_ID with GUARD_GITHUB_PRIVATE_KEY, or GUARD_GITHUB_TOKEN")
