"""The OIDC issuer's signing keys: found by discovery, cached, fetched again for new key ids."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import requests
from jwt import PyJWK, PyJWKClient
from jwt.exceptions import PyJWKClientConnectionError, PyJWKClientError, PyJWKError

from guard.github.oidc_errors import IssuerUnavailableError, UnknownKeyError

# How long the JWK set is served from the cache before it is fetched again.
JWKS_LIFESPAN_S = 300.0
# The least time between two fetches forced by unknown key ids: a caller inventing key ids
# must not make the guard hammer the issuer.
REFRESH_COOLDOWN_S = 30.0
FETCH_TIMEOUT_S = 10.0
DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/.well-known/jwks"

UNKNOWN_KEY = "the token is signed with key {kid}, which the issuer's key set does not hold"
ISSUER_UNAVAILABLE = "the issuer's keys could not be fetched from {url}: {why}"


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


class KeySet:
    """The issuer's signing keys: discovered once, cached, refetched on unknown key ids."""

    def __init__(
        self,
        issuer: str,
        *,
        clock: Callable[[], float] = time.time,
        cooldown_s: float = REFRESH_COOLDOWN_S,
        timeout_s: float = FETCH_TIMEOUT_S,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self._clock = clock
        self._cooldown_s = cooldown_s
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._client: PyJWKClient | None = None
        self._last_forced: float | None = None

    def jwks_url(self) -> str:
        """Where the keys are: the discovery document's jwks_uri, else {issuer}/.well-known/jwks."""
        url = self.issuer + DISCOVERY_PATH
        try:
            answer = requests.get(url, timeout=self._timeout_s, allow_redirects=False)
        except requests.RequestException as error:
            raise IssuerUnavailableError(
                ISSUER_UNAVAILABLE.format(url=url, why=type(error).__name__)
            ) from None
        if answer.status_code == 200:
            try:
                document = answer.json()
            except ValueError:
                document = None
            jwks_uri = document.get("jwks_uri") if isinstance(document, dict) else None
            # The key set must live where the issuer does: a discovery document pointing
            # elsewhere would let whoever controls that place mint tokens.
            if isinstance(jwks_uri, str) and _origin(jwks_uri) == _origin(self.issuer):
                return jwks_uri
        elif answer.status_code >= 500:
            raise IssuerUnavailableError(
                ISSUER_UNAVAILABLE.format(url=url, why=f"HTTP {answer.status_code}")
            )
        return self.issuer + JWKS_PATH

    def _jwks(self) -> PyJWKClient:
        if self._client is None:
            # The cooldown is ours (on the injected clock), so PyJWT's own is switched off.
            self._client = PyJWKClient(
                self.jwks_url(),
                cache_jwk_set=True,
                lifespan=JWKS_LIFESPAN_S,
                timeout=self._timeout_s,
                cooldown_duration=0,
            )
        return self._client

    def key(self, kid: str) -> PyJWK:
        """The signing key `kid`; UnknownKeyError when the issuer does not hold it."""
        with self._lock:
            client = self._jwks()
            found = _match(self._signing_keys(client, refresh=False), kid)
            now = self._clock()
            may_refresh = self._last_forced is None or now - self._last_forced >= self._cooldown_s
            if found is None and may_refresh:
                self._last_forced = now
                found = _match(self._signing_keys(client, refresh=True), kid)
        if found is None:
            raise UnknownKeyError(UNKNOWN_KEY.format(kid=kid))
        return found

    def _signing_keys(self, client: PyJWKClient, *, refresh: bool) -> list[PyJWK]:
        try:
            return client.get_signing_keys(refresh=refresh)
        except PyJWKClientConnectionError as error:
            raise IssuerUnavailableError(
                ISSUER_UNAVAILABLE.format(url=client.uri, why=first_line(error))
            ) from None
        except (PyJWKClientError, PyJWKError) as error:
            # A key set without usable keys: no token can be verified against it.
            raise IssuerUnavailableError(
                ISSUER_UNAVAILABLE.format(url=client.uri, why=first_line(error))
            ) from None


def _match(keys: list[PyJWK], kid: str) -> PyJWK | None:
    return next((key for key in keys if key.key_id == kid), None)


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
