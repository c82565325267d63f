"""Which hosts and addresses probes may reach, so a policy cannot aim the guard at its network."""

from __future__ import annotations

import fnmatch
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

PRIVATE_NETWORKS_HINT = (
    "the service refuses private networks unless GUARD_ALLOW_PRIVATE_NETWORKS is set"
)
ALLOWED_HOSTS_HINT = "add it to GUARD_ALLOWED_HOSTS to let checks reach it"

REFUSED_ADDRESS = "refused to connect to {address} ({label}) for {url}: {hint}."
REFUSED_HOST = (
    "refused to connect to {host} for {url}: it matches none of the allowed hosts "
    "({patterns}); {hint}."
)


@dataclass(frozen=True)
class DeniedNetwork:
    """A block of addresses probes must not connect to, with the words that name it."""

    network: IPNetwork
    label: str

    @classmethod
    def of(cls, cidr: str, label: str) -> DeniedNetwork:
        return cls(ipaddress.ip_network(cidr), label)


CLOUD_METADATA = "cloud metadata"

# Where a request from inside a cloud can read credentials or reach what the internet cannot.
DEFAULT_DENIED_NETWORKS: tuple[DeniedNetwork, ...] = (
    # Metadata endpoints first in intent; the most specific match names the address anyway.
    DeniedNetwork.of("169.254.169.254/32", CLOUD_METADATA),  # AWS, GCP, Azure, OCI, ...
    DeniedNetwork.of("169.254.170.2/32", CLOUD_METADATA),  # ECS task credentials
    DeniedNetwork.of("100.100.100.200/32", CLOUD_METADATA),  # Alibaba Cloud
    DeniedNetwork.of("192.0.0.192/32", CLOUD_METADATA),  # Oracle Cloud (legacy)
    DeniedNetwork.of("fd00:ec2::254/128", CLOUD_METADATA),  # AWS over IPv6
    DeniedNetwork.of("fd20:ce::254/128", CLOUD_METADATA),  # GCP over IPv6
    DeniedNetwork.of("0.0.0.0/8", "unspecified address"),
    DeniedNetwork.of("10.0.0.0/8", "private network"),
    DeniedNetwork.of("100.64.0.0/10", "carrier-grade NAT network"),
    DeniedNetwork.of("127.0.0.0/8", "loopback"),
    DeniedNetwork.of("169.254.0.0/16", "link-local"),
    DeniedNetwork.of("172.16.0.0/12", "private network"),
    DeniedNetwork.of("192.0.0.0/24", "reserved"),
    DeniedNetwork.of("192.0.2.0/24", "reserved"),
    DeniedNetwork.of("192.168.0.0/16", "private network"),
    DeniedNetwork.of("198.18.0.0/15", "reserved"),
    DeniedNetwork.of("198.51.100.0/24", "reserved"),
    DeniedNetwork.of("203.0.113.0/24", "reserved"),
    DeniedNetwork.of("224.0.0.0/4", "multicast"),
    DeniedNetwork.of("240.0.0.0/4", "reserved"),
    DeniedNetwork.of("::/128", "unspecified address"),
    DeniedNetwork.of("::1/128", "loopback"),
    # The rest of ::/8 (IPv4-compatible and other legacy forms); mapped forms are decoded first.
    DeniedNetwork.of("::/8", "reserved"),
    DeniedNetwork.of("100::/64", "reserved"),
    DeniedNetwork.of("2001:db8::/32", "reserved"),
    DeniedNetwork.of("fc00::/7", "private network (IPv6 unique local)"),
    DeniedNetwork.of("fe80::/10", "link-local"),
    DeniedNetwork.of("fec0::/10", "reserved"),
    DeniedNetwork.of("ff00::/8", "multicast"),
)

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, NAT64, 6to4, Teredo): where it really goes."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def parse_address(text: str) -> IPAddress | None:
    """An IP address from a socket address or URL host (brackets and zone ids allowed)."""
    candidate = text.strip().strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(candidate)
    except ValueError:
        return None


@dataclass(frozen=True)
class NetworkPolicy:
    """Where checks may go: host name globs, and whether private addresses are off limits."""

    deny_private: bool
    # Glob patterns of host names (`*.example.com`); empty means any host.
    allowed_hosts: tuple[str, ...] = ()
    denied_networks: Sequence[DeniedNetwork] = field(default=DEFAULT_DENIED_NETWORKS)
    # The caller's words for how to lift a refusal: the service and the CLI say it differently.
    private_hint: str = PRIVATE_NETWORKS_HINT
    allowed_hosts_hint: str = ALLOWED_HOSTS_HINT

    def denied_label(self, address: str | IPAddress) -> str | None:
        """Why connecting to `address` is refused ("loopback", ...), or None when it is allowed."""
        if not self.deny_private:
            return None
        parsed = parse_address(address) if isinstance(address, str) else address
        if parsed is None:
            # Not an address at all: nothing safe can be said about it, so refuse.
            return "not an IP address"
        return self.classify(parsed)

    def classify(self, address: IPAddress) -> str | None:
        """The label of the most specific denied network holding `address`, or None."""
        if isinstance(address, ipaddress.IPv6Address):
            inner = embedded_ipv4(address)
            if inner is not None:
                return self.classify(inner)
        best: DeniedNetwork | None = None
        for denied in self.denied_networks:
            if address.version != denied.network.version or address not in denied.network:
                continue
            if best is None or denied.network.prefixlen > best.network.prefixlen:
                best = denied
        return best.label if best else None

    def host_allowed(self, host: str) -> bool:
        """Whether the host name matches the allowed globs (always, when there are none)."""
        if not self.allowed_hosts:
            return True
        name = host.strip("[]").rstrip(".").lower()
        return any(fnmatch.fnmatchcase(name, pattern.lower()) for pattern in self.allowed_hosts)

    def host_refusal(self, host: str, url: str) -> str | None:
        """The sentence refusing `host` for `url`, or None when the host may be reached."""
        if self.host_allowed(host):
            return None
        return REFUSED_HOST.format(
            host=host,
            url=url,
            patterns=", ".join(self.allowed_hosts),
            hint=self.allowed_hosts_hint,
        )

    def address_refusal(self, address: str, url: str) -> str | None:
        """The sentence refusing a connection to `address` for `url`, or None when allowed."""
        label = self.denied_label(address)
        if label is None:
            return None
        return REFUSED_ADDRESS.format(address=address, label=label, url=url, hint=self.private_hint)


ALLOW_ALL = NetworkPolicy(deny_private=False)


class NetworkRefusedError(Exception):
    """A request the network policy stopped before it left; `sentence` says why."""

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence
