"""The one HTTP session a verification uses: the network policy enforced on every connection."""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection as urllib3_connection

import guard
from guard.probes.network import NetworkPolicy, NetworkRefusedError

MAX_REDIRECTS = 5
# requests reads a redirect's whole body before following it; more than this is cut off.
REDIRECT_BODY_LIMIT = 64 * 1024
USER_AGENT = f"deploy-guard/{guard.__version__}"


class AddressRefusedError(Exception):
    """Raised inside urllib3 when a host resolves only to addresses the policy refuses.

    Deliberately not an OSError: urllib3 and requests let it through untouched, and the
    adapter turns it into a NetworkRefusedError sentence that names the URL.
    """

    def __init__(self, address: str) -> None:
        super().__init__(address)
        self.address = address


def _open_checked_socket(conn: HTTPConnection, policy: NetworkPolicy) -> socket.socket:
    """Resolve the host, refuse denied addresses, and connect to an allowed one by its address.

    Connecting to the very address that was checked (not to the name again) closes the gap
    a DNS answer that changes between check and connect would otherwise leave open.
    """
    host = conn.host.strip("[]")
    try:
        answers = socket.getaddrinfo(
            host, conn.port, urllib3_connection.allowed_gai_family(), socket.SOCK_STREAM
        )
    except socket.gaierror as error:
        raise NameResolutionError(conn.host, conn, error) from error
    refused: str | None = None
    last_error: OSError | None = None
    for _family, _type, _proto, _canonical, sockaddr in answers:
        address = str(sockaddr[0])
        if policy.denied_label(address) is not None:
            refused = refused or address
            continue
        try:
            return urllib3_connection.create_connection(
                (address, conn.port),
                conn.timeout,
                source_address=conn.source_address,
                socket_options=conn.socket_options,
            )
        except OSError as error:
            last_error = error
    if isinstance(last_error, TimeoutError):
        raise ConnectTimeoutError(
            conn, f"Connection to {conn.host} timed out. (connect timeout={conn.timeout})"
        ) from last_error
    if last_error is not None:
        raise NewConnectionError(
            conn, f"Failed to establish a new connection: {last_error}"
        ) from last_error
    if refused is not None:
        raise AddressRefusedError(refused)
    raise NewConnectionError(conn, f"Failed to establish a new connection: {host} has no address")


def _pool_classes(policy: NetworkPolicy) -> dict[str, type[HTTPConnectionPool]]:
    """Connection pools for http and https whose connections check the address they connect to."""

    class CheckedHTTPConnection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return _open_checked_socket(self, policy)

    class CheckedHTTPSConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return _open_checked_socket(self, policy)

    class CheckedHTTPPool(HTTPConnectionPool):
        ConnectionCls = CheckedHTTPConnection

    class CheckedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = CheckedHTTPSConnection

    return {"http": CheckedHTTPPool, "https": CheckedHTTPSPool}


class PolicyAdapter(HTTPAdapter):
    """A requests adapter that applies the network policy to every request, redirects included."""

    def __init__(self, policy: NetworkPolicy) -> None:
        # HTTPAdapter.__init__ builds the pool manager, which needs the policy already.
        self._policy = policy
        super().__init__(max_retries=0)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: object
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = _pool_classes(self._policy)

    def send(  # noqa: PLR0917 (the signature is requests')
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        url = request.url or ""
        refusal = self._policy.host_refusal(urlsplit(url).hostname or "", url)
        if refusal is not None:
            raise NetworkRefusedError(refusal)
        try:
            return super().send(request, stream, timeout, verify, cert, proxies)
        except AddressRefusedError as refused:
            sentence = self._policy.address_refusal(refused.address, url)
            raise NetworkRefusedError(sentence or str(refused)) from refused


def _origin(url: str | None) -> tuple[str, str, int | None]:
    parts = urlsplit(url or "")
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or ""), parts.port or default_port


def _is_https_upgrade(
    before: tuple[str, str, int | None], after: tuple[str, str, int | None]
) -> bool:
    """http://host to https://host on the default ports: the same server, now encrypted."""
    return before == ("http", after[1], 80) and after == ("https", before[1], 443)


class PolicySession(requests.Session):
    """A session that drops credentials, and any header holding a secret, when a redirect
    leaves the origin."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if s)

    def rebuild_auth(
        self, prepared_request: requests.PreparedRequest, response: requests.Response
    ) -> None:
        # Replaces requests' own (which strips only Authorization, and reads .netrc): an API
        # key in any other header must not follow a redirect to another origin either.
        before = _origin(response.request.url if response.request else None)
        after = _origin(prepared_request.url)
        if before == after or _is_https_upgrade(before, after):
            return
        for name, value in list(prepared_request.headers.items()):
            if name.lower() == "authorization" or any(s in value for s in self._secrets):
                del prepared_request.headers[name]


def _bound_redirect_body(
    response: requests.Response, *args: object, **kwargs: object
) -> requests.Response:
    """Read at most REDIRECT_BODY_LIMIT of a redirect's body, and drop the connection if more.

    Without this, a target answering 302 with an endless body would fill the guard's memory
    before requests moved on to the Location.
    """
    if response.is_redirect:
        start = response.raw.read(REDIRECT_BODY_LIMIT + 1, decode_content=False)
        if len(start) > REDIRECT_BODY_LIMIT:
            response.raw.close()
    return response


def open_session(policy: NetworkPolicy, secrets: Iterable[str] = ()) -> requests.Session:
    """A session for one verification: policy on every connection, TLS verified, 5 redirects."""
    session = PolicySession(secrets)
    # No proxies, .netrc or CA bundles from the environment: a proxy would hide the address
    # the policy must check, and .netrc would add credentials the policy never asked for.
    session.trust_env = False
    session.max_redirects = MAX_REDIRECTS
    session.verify = True
    session.headers["User-Agent"] = USER_AGENT
    session.hooks["response"].append(_bound_redirect_body)
    adapter = PolicyAdapter(policy)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
