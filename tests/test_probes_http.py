"""HTTP checks against real local servers: every expectation, redirect, timeout and secret path."""

from __future__ import annotations

import datetime
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from guard.outcomes import Phase, ProbeStatus
from guard.policy.models import HttpCheck
from guard.probes.bodies import EVIDENCE_LIMIT, EXPECTATION_LIMIT
from guard.probes.http import HttpProber, resolve_url


class SteppingClock:
    """A monotonic clock that says `first`, then `step` more on every later call."""

    def __init__(self, step: float, first: float = 0.0) -> None:
        self.now = first - step
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


class JumpClock:
    """0.0 on the first call, `latency` on every later one: a request that took `latency`."""

    def __init__(self, latency: float) -> None:
        self.calls = 0
        self.latency = latency

    def __call__(self) -> float:
        self.calls += 1
        return 0.0 if self.calls == 1 else self.latency


@pytest.fixture(scope="module")
def server() -> Iterator[HTTPServer]:
    httpserver = HTTPServer(host="127.0.0.1", port=0)
    httpserver.start()
    yield httpserver
    httpserver.stop()


@pytest.fixture
def web(server: HTTPServer) -> Iterator[HTTPServer]:
    server.clear()
    yield server
    server.clear()


@pytest.fixture
def prober() -> Iterator[HttpProber]:
    with HttpProber(environ={}, clock=lambda: 1000.0, monotonic=JumpClock(0.12)) as http:
        yield http


def check(**fields: Any) -> HttpCheck:
    return HttpCheck.model_validate({"name": "api health", **fields})


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_status_pass_says_what_was_asked_and_what_came_back(
    web: HTTPServer, prober: HttpProber
) -> None:
    web.expect_request("/api/health").respond_with_data("fine")
    result = prober.probe(check(get="/api/health", expect={"status": 200}), web.url_for(""))
    url = web.url_for("/api/health")
    assert result.status is ProbeStatus.PASS
    assert result.detail == f"GET {url} answered HTTP 200 in 120 ms as expected."
    assert result.summary == "HTTP 200 in 120 ms"
    assert result.status_code == 200
    assert result.latency_s == pytest.approx(0.12)
    assert result.at == 1000.0
    assert result.evidence == "fine"
    assert not result.unreachable


def test_status_fail_sentence(web: HTTPServer, prober: HttpProber) -> None:
    web.expect_request("/api/health").respond_with_data("down", status=503)
    result = prober.probe(check(get="/api/health", expect={"status": 200}), web.url_for("/"))
    url = web.url_for("/api/health")
    assert result.status is ProbeStatus.FAIL
    assert result.detail == f"GET {url} answered HTTP 503 in 120 ms; expected 200."
    assert result.summary == "HTTP 503 in 120 ms"
    assert result.status_code == 503
    assert result.evidence == "down"


@pytest.mark.parametrize(
    ("spec", "code", "words"),
    [("2xx", 404, "expected 2xx"), ([200, 201], 500, "expected one of 200, 201")],
)
def test_status_classes_and_lists(
    web: HTTPServer, prober: HttpProber, spec: object, code: int, words: str
) -> None:
    web.expect_request("/").respond_with_data("", status=code)
    result = prober.probe(check(get="/", expect={"status": spec}), web.url_for(""))
    assert result.detail.endswith(f"answered HTTP {code} in 120 ms; {words}.")


def test_default_expectation_accepts_any_2xx(web: HTTPServer, prober: HttpProber) -> None:
    web.expect_request("/").respond_with_data("", status=204)
    assert prober.probe(check(get="/"), web.url_for("")).status is ProbeStatus.PASS


@pytest.mark.parametrize("text", ["Add to cart", "Checkout"])
def test_body_contains(web: HTTPServer, prober: HttpProber, text: str) -> None:
    web.expect_request("/").respond_with_data("<button>Add to cart</button>")
    result = prober.probe(check(get="/", expect={"body_contains": text}), web.url_for(""))
    if text == "Add to cart":
        assert result.status is ProbeStatus.PASS
        return
    failing = result
    assert failing.status is ProbeStatus.FAIL
    assert failing.detail == (
        f"GET {web.url_for('/')} answered HTTP 200 in 120 ms; the body does not contain "
        '"Checkout"; expected it to contain that text.'
    )
    assert failing.summary == "HTTP 200 in 120 ms, text missing"


def test_body_contains_reads_non_ascii_as_utf8(web: HTTPServer, prober: HttpProber) -> None:
    web.expect_request("/").respond_with_data("Größe wählen".encode(), content_type="text/html")
    result = prober.probe(check(get="/", expect={"body_contains": "Größe wählen"}), web.url_for(""))
    assert result.status is ProbeStatus.PASS


def test_json_values_by_jsonpath_and_plain_key(web: HTTPServer, prober: HttpProber) -> None:
    web.expect_request("/h").respond_with_json({"status": "ok", "db": {"connected": True}})
    result = prober.probe(
        check(get="/h", expect={"json": {"$.db.connected": True, "status": "ok"}}), web.url_for("")
    )
    assert result.status is ProbeStatus.PASS, result.detail


def test_json_value_mismatch_says_what_was_found(web: HTTPServer, prober: HttpProber) -> None:
    web.expect_request("/h").respond_with_json({"status": "degraded", "db": {"connected": False}})
    result = prober.probe(
        check(get="/h", expect={"json": {"$.db.connected": True, "status": "ok"}}), web.url_for("")
    )
    assert result.status is ProbeStatus.FAIL
    assert result.detail == (
        f"GET {web.url_for('/h')} answered HTTP 200 in 120 ms; $.db.connected was false; "
        'expected true; the key "status" was "degraded"; expected "ok".'
    )
    assert result.summary == "HTTP 200 in 120 ms, JSON mismatch"


@pytest.mark.parametrize(
    ("document", "expected", "words"),
    [
        ({"db": {}}, {"$.db.connected": True}, "$.db.connected was not in the JSON body"),
        ({"db": {"connected": 1}}, {"$.db.connected": True}, "$.db.connected was 1; expected true"),
        ([{"ok": True}, {"ok": False}], {"$[*].ok": True}, "was [true, false] (2 matches)"),
        ({"a": 1}, {"$.[": 1}, "$.[ is not a JSONPath that can be read"),
        (["status"], {"status": "ok"}, 'the key "status" was not in the JSON body'),
    ],
)
def test_json_value_problems(
    web: HTTPServer, prober: HttpProber, document: Any, expected: dict[str, Any], words: str
) -> None:
    web.expect_request("/h").respond_with_json(document)
    result = prober.probe(check(get="/h", expect={"json": expected}), web.url_for(""))
    assert result.status is ProbeStatus.FAIL
    assert words in result.detail


def test_json_expected_but_body_is_not_json(web: HTTPServer, prober: HttpProber) -> None:
    web.expect_request("/h").respond_with_data("<html>maintenance</html>")
    result = prober.probe(check(get="/h", expect={"json": {"$.status": "ok"}}), web.url_for(""))
    assert result.detail == (
        f"GET {web.url_for('/h')} answered HTTP 200 in 120 ms; the body is not JSON; "
        "expected JSON with $.status."
    )
    assert result.summary == "HTTP 200 in 120 ms, not JSON"


def test_max_latency(web: HTTPServer) -> None:
    web.expect_request("/").respond_with_data("ok")
    slow = check(get="/", expect={"max_latency": "2s"})
    with HttpProber(environ={}, monotonic=JumpClock(2.5)) as http:
        failing = http.probe(slow, web.url_for(""))
    with HttpProber(environ={}, monotonic=JumpClock(1.5)) as http:
        passing = http.probe(slow, web.url_for(""))
    assert failing.detail == (
        f"GET {web.url_for('/')} answered HTTP 200 in 2.5 s; expected an answer within 2s."
    )
    assert failing.summary == "HTTP 200 in 2.5 s, too slow"
    assert failing.latency_s == pytest.approx(2.5)
    assert passing.status is ProbeStatus.PASS


def test_post_with_json_body(web: HTTPServer, prober: HttpProber) -> None:
    cart = {"items": [{"sku": "TEST-1", "qty": 1}]}
    web.expect_request("/api/cart/validate", method="POST", json=cart).respond_with_data(
        "", status=201
    )
    request = {"method": "POST", "path": "/api/cart/validate", "json": cart}
    result = prober.probe(check(request=request, expect={"status": [200, 201]}), web.url_for(""))
    assert result.status is ProbeStatus.PASS, result.detail


def test_redirects_are_followed_and_said(web: HTTPServer, prober: HttpProber) -> None:
    web.expect_request("/old").respond_with_data("", status=302, headers={"Location": "/new"})
    web.expect_request("/new").respond_with_data("here")
    result = prober.probe(check(get="/old"), web.url_for(""))
    assert result.status is ProbeStatus.PASS
    assert result.detail == (
        f"GET {web.url_for('/old')} (redirected to {web.url_for('/new')}) answered HTTP 200 "
        "in 120 ms as expected."
    )


def test_more_than_five_redirects_fail(web: HTTPServer, prober: HttpProber) -> None:
    for hop in range(8):
        web.expect_request(f"/r{hop}").respond_with_data(
            "", status=302, headers={"Location": f"/r{hop + 1}"}
        )
    result = prober.probe(check(get="/r0"), web.url_for(""))
    assert result.status is ProbeStatus.FAIL
    assert result.summary == "too many redirects"
    assert result.detail == (
        f"GET {web.url_for('/r0')} was redirected more than 5 times (last to "
        f"{web.url_for('/r5')}); expected an answer within 5 redirects."
    )
    assert not result.unreachable


def test_a_redirect_with_an_endless_body_is_not_read_to_the_end(
    web: HTTPServer, prober: HttpProber
) -> None:
    chunk = b"z" * (64 * 1024)
    total_chunks = 256  # 16 MiB
    sent: list[int] = []

    def endless() -> Iterator[bytes]:
        for number in range(total_chunks):
            sent.append(number)
            yield chunk

    web.expect_request("/big-redirect").respond_with_handler(
        lambda _request: Response(endless(), status=302, headers={"Location": "/landed"})
    )
    web.expect_request("/landed").respond_with_data("landed")
    result = prober.probe(check(get="/big-redirect"), web.url_for(""))
    assert result.status is ProbeStatus.PASS, result.detail
    assert result.evidence == "landed"
    # The guard hung up after 64 KiB; the server got no further than the socket buffers allow.
    assert len(sent) < total_chunks // 2


def test_read_timeout_is_unreachable() -> None:
    # A listening socket that never accepts: the kernel completes the handshake, no one answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/health"
        with HttpProber(environ={}) as http:
            result = http.probe(check(get=url, timeout="200ms"), None)
    assert result.status is ProbeStatus.FAIL
    assert result.unreachable
    assert result.summary == "timed out after 200ms"
    assert result.detail == (
        f"GET {url} got no answer within 200ms (read timeout); expected one within 200ms."
    )


def test_connection_refused_is_unreachable(prober: HttpProber) -> None:
    port = closed_port()
    result = prober.probe(check(get=f"http://127.0.0.1:{port}/health"), None)
    assert result.unreachable
    assert result.summary == "connection refused"
    assert result.detail == (
        f"GET http://127.0.0.1:{port}/health could not connect: 127.0.0.1:{port} refused the "
        "connection (is the service running and listening there?)."
    )


def test_dns_failure_is_unreachable(prober: HttpProber) -> None:
    # .invalid never resolves (RFC 6761).
    result = prober.probe(check(get="/"), "http://shop.invalid")
    assert result.unreachable
    assert result.summary == "DNS lookup failed"
    assert result.detail == (
        "GET http://shop.invalid/ could not be sent: the host name shop.invalid does not "
        "resolve (DNS lookup failed)."
    )


def _self_signed_context(directory: Path) -> ssl.SSLContext:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


def test_untrusted_certificate_is_a_tls_failure(tmp_path: Path, prober: HttpProber) -> None:
    tls_server = HTTPServer(host="127.0.0.1", port=0, ssl_context=_self_signed_context(tmp_path))
    tls_server.expect_request("/").respond_with_data("never seen")
    tls_server.start()
    try:
        result = prober.probe(check(get="/"), tls_server.url_for(""))
    finally:
        tls_server.stop()
    assert result.unreachable
    assert result.summary == "TLS error"
    assert (
        f"GET https://127.0.0.1:{tls_server.port}/ failed the TLS handshake with " in result.detail
    )
    assert "certificate verify failed" in result.detail


def test_evidence_is_capped_at_64_kib(web: HTTPServer, prober: HttpProber) -> None:
    body = "x" * (200 * 1024)
    web.expect_request("/").respond_with_data(body)
    result = prober.probe(check(get="/"), web.url_for(""))
    assert len(result.evidence.encode()) == EVIDENCE_LIMIT
    assert body.startswith(result.evidence)


def test_expectations_read_at_most_1_mib(web: HTTPServer, prober: HttpProber) -> None:
    web.expect_request("/").respond_with_data("a" * EXPECTATION_LIMIT + "NEEDLE")
    result = prober.probe(check(get="/", expect={"body_contains": "NEEDLE"}), web.url_for(""))
    assert result.status is ProbeStatus.FAIL
    assert 'the first 1 MiB of the body does not contain "NEEDLE"' in result.detail


def test_a_body_that_keeps_trickling_past_the_timeout_fails(web: HTTPServer) -> None:
    web.expect_request("/").respond_with_data("y" * (256 * 1024))
    # Every clock reading is a second later: the body's chunks arrive "too slowly".
    with HttpProber(environ={}, monotonic=SteppingClock(1.0)) as http:
        result = http.probe(check(get="/", timeout="2s"), web.url_for(""))
    assert result.status is ProbeStatus.FAIL
    assert result.unreachable
    assert result.detail == (
        f"GET {web.url_for('/')} kept sending its body for more than 2s; expected it within 2s."
    )


def test_secrets_are_expanded_and_never_shown(web: HTTPServer) -> None:
    secret = "s3cr3t-token-value"
    web.expect_request(
        "/api/health",
        headers={"Authorization": f"Bearer {secret}"},
        query_string={"key": secret},
        json={"token": secret},
        method="POST",
    ).respond_with_data(f"unauthorized for {secret}", status=401)
    request = {
        "method": "POST",
        "path": "/api/health?key=${GUARD_SECRET_TOKEN}",
        "headers": {"Authorization": "Bearer ${GUARD_SECRET_TOKEN}"},
        "json": {"token": "${GUARD_SECRET_TOKEN}"},
    }
    with HttpProber(environ={"GUARD_SECRET_TOKEN": secret}, monotonic=JumpClock(0.12)) as http:
        result = http.probe(check(request=request, expect={"status": 200}), web.url_for(""))
    # The 401 proves the server saw every expanded value; the result shows none of them.
    assert result.status_code == 401
    assert secret not in repr(result)
    assert result.detail == (
        f"POST {web.url_for('/api/health')}?key=*** answered HTTP 401 in 120 ms; expected 200."
    )
    assert result.evidence == "unauthorized for ***"


def test_missing_secret_fails_naming_the_variable(prober: HttpProber) -> None:
    headers = {"Authorization": "Bearer ${GUARD_SECRET_SHOP_TOKEN}"}
    result = prober.probe(check(get="/api/health", headers=headers), "https://shop.example.com")
    assert result.status is ProbeStatus.FAIL
    assert result.summary == "secret missing"
    assert result.detail == (
        "GET https://shop.example.com/api/health was not sent: the secret "
        "GUARD_SECRET_SHOP_TOKEN is not set in the guard's environment."
    )


def test_secret_headers_do_not_follow_a_redirect_to_another_origin(web: HTTPServer) -> None:
    other = HTTPServer(host="127.0.0.1", port=0)
    seen: list[dict[str, str]] = []

    def record(request: Request) -> Response:
        seen.append(dict(request.headers))
        return Response("landed")

    other.expect_request("/landing").respond_with_handler(record)
    other.start()
    try:
        web.expect_request("/go").respond_with_data(
            "", status=302, headers={"Location": other.url_for("/landing")}
        )
        headers = {
            "X-Api-Key": "${GUARD_SECRET_API_KEY}",
            "Authorization": "Basic abc",
            "X-Plain": "1",
        }
        with HttpProber(environ={"GUARD_SECRET_API_KEY": "key-0123456789"}) as http:
            result = http.probe(check(get="/go", headers=headers), web.url_for(""))
    finally:
        other.stop()
    assert result.status is ProbeStatus.PASS, result.detail
    assert len(seen) == 1
    assert "X-Api-Key" not in seen[0]
    assert "Authorization" not in seen[0]
    assert seen[0]["X-Plain"] == "1"


def test_relative_path_without_base_url_says_how_to_fix_it(prober: HttpProber) -> None:
    result = prober.probe(check(get="/health"), None)
    assert result.status is ProbeStatus.FAIL
    assert result.detail == (
        "GET /health was not sent: the path is relative and there is no base URL; set url "
        "for this environment in the policy, or pass --url."
    )


def test_phase_and_round_are_recorded(web: HTTPServer, prober: HttpProber) -> None:
    web.expect_request("/").respond_with_data("ok")
    result = prober.probe(check(get="/"), web.url_for(""), phase=Phase.WATCH, round_number=4)
    assert (result.phase, result.round) == (Phase.WATCH, 4)


@pytest.mark.parametrize(
    ("path", "base", "url"),
    [
        ("/health", "https://shop.example.com", "https://shop.example.com/health"),
        ("health", "https://shop.example.com/", "https://shop.example.com/health"),
        ("/health", "https://example.com/shop", "https://example.com/shop/health"),
        (
            "https://status.example.com/x",
            "https://shop.example.com",
            "https://status.example.com/x",
        ),
        ("https://status.example.com/x", None, "https://status.example.com/x"),
        ("/health", None, None),
    ],
)
def test_resolve_url(path: str, base: str | None, url: str | None) -> None:
    assert resolve_url(path, base) == url
