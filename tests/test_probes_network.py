"""The network policy: address classification, and refusals on the address actually connected to."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from guard.outcomes import ProbeStatus
from guard.policy.models import HttpCheck
from guard.probes.http import HttpProber
from guard.probes.network import DeniedNetwork, NetworkPolicy

DENY = NetworkPolicy(deny_private=True)
HINT = "the service refuses private networks unless GUARD_ALLOW_PRIVATE_NETWORKS is set"


@pytest.fixture(scope="module")
def server() -> Iterator[HTTPServer]:
    # One server for the module: starting and stopping one costs half a second each time.
    httpserver = HTTPServer(host="127.0.0.1", port=0)
    httpserver.start()
    yield httpserver
    httpserver.stop()


@pytest.fixture
def web(server: HTTPServer) -> Iterator[HTTPServer]:
    server.clear()
    yield server
    server.clear()


def get(url: str) -> HttpCheck:
    return HttpCheck(name="health", get=url)


def probe(policy: NetworkPolicy, url: str) -> tuple[ProbeStatus, str]:
    with HttpProber(network=policy, environ={}) as http:
        result = http.probe(get(url), None)
    assert not result.unreachable
    return result.status, result.detail


@pytest.mark.parametrize(
    ("address", "label"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.5", "private network"),
        ("172.16.3.4", "private network"),
        ("192.168.1.1", "private network"),
        ("100.64.0.1", "carrier-grade NAT network"),
        ("fd12:3456::1", "private network (IPv6 unique local)"),
        ("169.254.10.10", "link-local"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified address"),
        ("::", "unspecified address"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("169.254.169.254", "cloud metadata"),
        ("169.254.170.2", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        # IPv6 forms that carry an IPv4 address are judged by that address.
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.5", "private network"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("::ffff:a9fe:a9fe", "cloud metadata"),
        ("64:ff9b::a9fe:a9fe", "cloud metadata"),
        ("2002:0a00:0005::1", "private network"),
        ("::10.0.0.5", "reserved"),
        ("[::1]", "loopback"),
    ],
)
def test_denied_addresses_are_named(address: str, label: str) -> None:
    assert DENY.denied_label(address) == label


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert DENY.denied_label(address) is None


def test_nothing_is_denied_without_deny_private() -> None:
    assert NetworkPolicy(deny_private=False).denied_label("169.254.169.254") is None


def test_a_host_name_where_an_address_belongs_is_refused() -> None:
    assert DENY.denied_label("metadata.google.internal") == "not an IP address"


@given(st.ip_addresses(v=4))
def test_ipv4_mapped_forms_are_classified_like_the_address(address: ipaddress.IPv4Address) -> None:
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    assert DENY.denied_label(str(mapped)) == DENY.denied_label(str(address))


@given(st.ip_addresses(network="10.0.0.0/8") | st.ip_addresses(network="192.168.0.0/16"))
def test_every_rfc1918_address_is_denied(address: ipaddress.IPv4Address) -> None:
    assert DENY.denied_label(str(address)) == "private network"


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("shop.example.com", True),
        ("SHOP.Example.com.", True),
        ("status.internal", True),
        ("example.com", False),
        ("shop.example.com.evil.test", False),
        ("evil.test", False),
    ],
)
def test_allowed_hosts_globs(host: str, allowed: bool) -> None:
    policy = NetworkPolicy(deny_private=False, allowed_hosts=("*.example.com", "status.internal"))
    assert policy.host_allowed(host) is allowed


def test_loopback_is_refused_before_any_request(web: HTTPServer) -> None:
    web.expect_request("/health").respond_with_data("ok")
    url = web.url_for("/health")
    status, detail = probe(DENY, url)
    assert status is ProbeStatus.FAIL
    assert detail == f"refused to connect to 127.0.0.1 (loopback) for {url}: {HINT}."
    assert web.log == []


def test_a_name_that_resolves_to_loopback_is_refused(web: HTTPServer) -> None:
    url = f"http://localhost:{web.port}/health"
    status, detail = probe(DENY, url)
    assert status is ProbeStatus.FAIL
    assert re.fullmatch(
        rf"refused to connect to (127\.0\.0\.1|::1) \(loopback\) for {url}: .*", detail
    )


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("https://169.254.169.254/", "169.254.169.254"),
        ("http://[fd00:ec2::254]/latest/", "fd00:ec2::254"),
        ("http://[::ffff:169.254.169.254]/", "::ffff:169.254.169.254"),
    ],
)
def test_metadata_addresses_are_refused(url: str, address: str) -> None:
    status, detail = probe(DENY, url)
    assert status is ProbeStatus.FAIL
    assert detail == f"refused to connect to {address} (cloud metadata) for {url}: {HINT}."


def test_the_caller_supplies_the_hint(web: HTTPServer) -> None:
    policy = NetworkPolicy(deny_private=True, private_hint="pass --allow-private to reach it")
    _, detail = probe(policy, web.url_for("/"))
    assert detail.endswith(": pass --allow-private to reach it.")


def test_a_redirect_to_a_denied_address_is_refused_on_connect(web: HTTPServer) -> None:
    # Only 127.0.0.2 is denied, so the first hop on 127.0.0.1 goes through.
    policy = NetworkPolicy(
        deny_private=True, denied_networks=(DeniedNetwork.of("127.0.0.2/32", "loopback"),)
    )
    target = HTTPServer(host="127.0.0.2", port=0)
    target.expect_request("/inside").respond_with_data("secret things")
    target.start()
    try:
        inside = target.url_for("/inside")
        web.expect_request("/go").respond_with_data("", status=302, headers={"Location": inside})
        web.expect_request("/stay").respond_with_data("", status=302, headers={"Location": "/ok"})
        web.expect_request("/ok").respond_with_data("fine")
        status, detail = probe(policy, web.url_for("/go"))
        control, _ = probe(policy, web.url_for("/stay"))
        seen_by_target = list(target.log)
    finally:
        target.stop()
    assert status is ProbeStatus.FAIL
    assert detail == f"refused to connect to 127.0.0.2 (loopback) for {inside}: {HINT}."
    assert seen_by_target == []
    assert control is ProbeStatus.PASS


def test_a_host_outside_the_allowed_hosts_is_refused(web: HTTPServer) -> None:
    policy = NetworkPolicy(deny_private=False, allowed_hosts=("*.example.com",))
    url = web.url_for("/health")
    status, detail = probe(policy, url)
    assert status is ProbeStatus.FAIL
    assert detail == (
        f"refused to connect to 127.0.0.1 for {url}: it matches none of the allowed hosts "
        "(*.example.com); add it to GUARD_ALLOWED_HOSTS to let checks reach it."
    )
    assert web.log == []


def test_a_redirect_to_a_host_outside_the_allowed_hosts_is_refused(web: HTTPServer) -> None:
    policy = NetworkPolicy(deny_private=False, allowed_hosts=("127.0.0.1",))
    elsewhere = f"http://localhost:{web.port}/elsewhere"
    web.expect_request("/go").respond_with_data("", status=302, headers={"Location": elsewhere})
    status, detail = probe(policy, web.url_for("/go"))
    assert status is ProbeStatus.FAIL
    assert detail.startswith(f"refused to connect to localhost for {elsewhere}: it matches none")
