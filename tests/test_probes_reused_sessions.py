"""The job workers' probe sessions are reused, yet each step starts as a new session would."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from guard.probes.http import ReusedSessions
from guard.probes.network import NetworkPolicy, NetworkRefusedError


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        # The cookie the client sent back, and the client's port (a new connection, a new port).
        body = f"{self.headers.get('Cookie', '-')} {self.client_address[1]}".encode()
        self.send_response(200)
        self.send_header("Set-Cookie", "session=abc")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def target() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_a_step_sees_no_cookie_and_no_connection_of_the_step_before(target: str) -> None:
    sessions = ReusedSessions()
    network = NetworkPolicy(deny_private=False)
    with sessions.session(network, ()) as first:
        cookie, port = first.get(target, timeout=5).text.split()
        # Within a step, the session behaves as one: the cookie comes back, the connection stays.
        again_cookie, again_port = first.get(target, timeout=5).text.split()
    assert (cookie, again_cookie) == ("-", "session=abc")
    assert again_port == port
    with sessions.session(network, ()) as second:
        later_cookie, later_port = second.get(target, timeout=5).text.split()
    assert second is first
    assert later_cookie == "-"
    assert later_port != port


def test_the_network_policy_still_refuses_on_a_reused_session(target: str) -> None:
    sessions = ReusedSessions()
    strict = NetworkPolicy(deny_private=True)
    with sessions.session(NetworkPolicy(deny_private=False), ()) as open_one:
        assert open_one.get(target, timeout=5).status_code == 200
    with sessions.session(strict, ()) as strict_one:
        assert strict_one is not open_one
        with pytest.raises(NetworkRefusedError, match="loopback"):
            strict_one.get(target, timeout=5)
