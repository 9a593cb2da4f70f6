"""The SSRF guard: which webhook URLs and resolved addresses may be contacted.

Everything here is a pure function over strings and addresses, so the policy is
tested without a network. ``check_url`` rejects what the URL alone gives away:
scheme, credentials, IP literals, alternative IPv4 spellings, metadata and
internal names. ``check_addresses`` judges what DNS returned at send time. The
HTTP client connects only to addresses that passed ``check_addresses`` (see
``client.GuardedResolver``), so DNS rebinding cannot switch the target after
the check.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from scf_worker.webhooks.errors import BlockedTarget

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

LOOPBACK = "loopback"
PRIVATE = "private"
CGNAT = "cgnat"
LINK_LOCAL = "link_local"
MULTICAST = "multicast"
RESERVED = "reserved"
IPV4_MAPPED = "ipv4_mapped"
METADATA = "metadata"
INTERNAL_NAME = "internal_name"
IP_SPELLING = "ip_spelling"

# Categories an operator may open with WEBHOOK_ALLOW_CIDRS; the others never open.
ALLOWLISTABLE = frozenset({PRIVATE, CGNAT})


def _networks(category: str, *cidrs: str) -> list[tuple[IPNetwork, str]]:
    return [(ipaddress.ip_network(cidr), category) for cidr in cidrs]


# IANA IPv4 and IPv6 special-purpose registries, grouped by the reason we give.
BLOCKED_NETWORKS: list[tuple[IPNetwork, str]] = [
    *_networks(LOOPBACK, "127.0.0.0/8", "::1/128"),
    *_networks(PRIVATE, "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "fec0::/10"),
    *_networks(CGNAT, "100.64.0.0/10"),
    *_networks(LINK_LOCAL, "169.254.0.0/16", "fe80::/10"),
    *_networks(MULTICAST, "224.0.0.0/4", "ff00::/8"),
    *_networks(IPV4_MAPPED, "::ffff:0:0/96"),
    *_networks(
        RESERVED,
        "0.0.0.0/8", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "198.18.0.0/15",
        "198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4",
        "::/128", "::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32",
        "3fff::/20", "5f00::/16",
    ),
]

# Cloud instance metadata services; their addresses are link-local or CGNAT and
# blocked anyway, but the names are refused before any DNS query is made.
METADATA_HOSTS = frozenset({
    "metadata.tencentyun.com",      # Tencent Cloud CVM and SCF
    "metadata.google.internal",
    "metadata.goog",
    "metadata.azure.com",
    "instance-data",
    "instance-data.ec2.internal",
    "metadata",
})
# Names that only ever resolve inside a private network (RFC 6761, RFC 6762,
# RFC 8375 and the ICANN-reserved ".internal").
INTERNAL_SUFFIXES = (".internal", ".local", ".localdomain", ".home.arpa", ".lan")

_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_HOST_NAME = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$")


@dataclass(frozen=True)
class GuardPolicy:
    """Exceptions the guard allows beyond public unicast addresses."""

    allow_loopback: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()


@dataclass(frozen=True)
class Target:
    """A webhook URL that passed the static checks."""

    url: str
    scheme: str
    host: str
    port: int
    literal: IPAddress | None


def address_category(address: IPAddress) -> str | None:
    """Return why an address is not a public unicast address, or None when it is."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return IPV4_MAPPED
        embedded = _embedded_ipv4(address)
        if embedded is not None and address_category(embedded) is not None:
            return RESERVED
    for network, category in BLOCKED_NETWORKS:
        if address.version == network.version and address in network:
            return category
    if not address.is_global:
        return RESERVED
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """Return the IPv4 address inside a NAT64 (64:ff9b::/96) or 6to4 (2002::/16) address."""
    if address in ipaddress.ip_network("64:ff9b::/96"):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    return None


def is_allowed_address(address: IPAddress, policy: GuardPolicy) -> str | None:
    """Return the blocking category of an address under a policy, or None when allowed."""
    category = address_category(address)
    if category is None:
        return None
    if category == LOOPBACK and policy.allow_loopback:
        return None
    if category in ALLOWLISTABLE and any(
        address.version == network.version and address in network
        for network in policy.allowed_networks
    ):
        return None
    return category


def parse_ipv4_spelling(host: str) -> ipaddress.IPv4Address | None:
    """Parse the inet_aton forms of an IPv4 address (``2130706433``, ``0x7f.1``, ``0177.0.0.1``).

    Return None when the host is not numeric at all. Raise BlockedTarget for a
    numeric host that no resolver should see: C libraries turn these spellings
    into addresses, so a name check alone would miss them.
    """
    labels = host.split(".")
    if not 1 <= len(labels) <= 4 or not all(_NUMERIC_LABEL.match(label) for label in labels):
        return None
    try:
        values = [_parse_ipv4_label(label) for label in labels]
    except ValueError:
        raise BlockedTarget(host, IP_SPELLING, "is a malformed numeric IPv4 address") from None
    *leading, last = values
    if any(value > 0xFF for value in leading) or last >= 1 << (8 * (5 - len(values))):
        raise BlockedTarget(host, IP_SPELLING, "is a numeric IPv4 address out of range")
    number = last
    for index, value in enumerate(leading):
        number |= value << (8 * (3 - index))
    return ipaddress.IPv4Address(number)


def _parse_ipv4_label(label: str) -> int:
    if label.startswith("0x"):
        return int(label[2:] or "0", 16)
    if len(label) > 1 and label.startswith("0"):
        return int(label, 8)
    return int(label, 10)


def check_url(url: str, policy: GuardPolicy) -> Target:
    """Check a webhook URL before any DNS query; raise BlockedTarget when it must not be used."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        raw_host = parts.hostname or ""
        port = parts.port
    except ValueError:
        raise BlockedTarget(parts.netloc, "invalid_url", "has an invalid port") from None
    host = raw_host.lower().rstrip(".")
    if scheme not in ("https", "http") or not host:
        raise BlockedTarget(host or url[:40], "invalid_url", "is not an absolute https:// URL")
    if parts.username is not None or parts.password is not None:
        raise BlockedTarget(host, "invalid_url", "carries user credentials in the URL")

    literal = _literal_address(host)
    if literal is None:
        host = _ascii_name(host)
    if literal is not None:
        category = is_allowed_address(literal, policy)
        if category is not None:
            raise BlockedTarget(host, category, f"is in a blocked address range ({category})")
    else:
        _check_name(host, policy)
    if scheme == "http" and not (policy.allow_loopback and _may_be_loopback(host, literal)):
        raise BlockedTarget(host, "plain_http",
                            "uses plain HTTP; only https:// is allowed (http:// only to loopback"
                            " with WEBHOOK_ALLOW_LOOPBACK=true)")
    return Target(url, scheme, host, port or (443 if scheme == "https" else 80), literal)


def _literal_address(host: str) -> IPAddress | None:
    """Return the address a host spells, or None for a name; reject non-canonical spellings."""
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise BlockedTarget(host, IP_SPELLING, "is a malformed IPv6 address") from None
    spelled = parse_ipv4_spelling(host)
    if spelled is None:
        return None
    if host != str(spelled):
        raise BlockedTarget(host, IP_SPELLING,
                            f"is a non-canonical spelling of {spelled}; write the dotted-quad form")
    return spelled


def _ascii_name(host: str) -> str:
    """Return the IDNA (punycode) form of a name, the form DNS and the HTTP client use.

    Percent signs and other characters outside DNS names are refused, so no
    later decoding step can turn the checked name into another host.
    """
    try:
        ascii_host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        raise BlockedTarget(host, "invalid_url", "is not a valid internationalised name") from None
    if not _HOST_NAME.match(ascii_host):
        raise BlockedTarget(host, "invalid_url", "contains characters not allowed in a host name")
    if len(ascii_host) > 253 or any(len(label) > 63 for label in ascii_host.split(".")):
        raise BlockedTarget(host[:80], "invalid_url",
                            "is too long for DNS (labels up to 63 characters, names up to 253)")
    return ascii_host


def _check_name(host: str, policy: GuardPolicy) -> None:
    if host == "localhost" or host.endswith(".localhost"):
        if not policy.allow_loopback:
            raise BlockedTarget(host, LOOPBACK, "is a loopback name")
        return
    if host in METADATA_HOSTS:
        raise BlockedTarget(host, METADATA, "is a cloud metadata service")
    if host.endswith(INTERNAL_SUFFIXES) or "." not in host:
        raise BlockedTarget(host, INTERNAL_NAME, "is a name that only resolves inside a private network")


def _may_be_loopback(host: str, literal: IPAddress | None) -> bool:
    """Tell whether plain HTTP can still go ahead; ``check_addresses`` settles it for names."""
    if literal is not None:
        return address_category(literal) == LOOPBACK
    return True


def check_addresses(host: str, addresses: Iterable[str], policy: GuardPolicy,
                    scheme: str = "https") -> list[IPAddress]:
    """Check every address DNS returned for a host; raise BlockedTarget if any is refused.

    One blocked address rejects the whole result, because mixing a public and
    an internal address is how rebinding attacks reach the internal one later.
    """
    checked: list[IPAddress] = []
    for raw in addresses:
        try:
            address = ipaddress.ip_address(raw.split("%", 1)[0])
        except ValueError:
            raise BlockedTarget(host, "invalid_address", "resolved to a malformed address") from None
        category = is_allowed_address(address, policy)
        if category is not None:
            raise BlockedTarget(host, category,
                                f"resolves to {address}, in a blocked address range ({category})")
        if scheme == "http" and address_category(address) != LOOPBACK:
            raise BlockedTarget(host, "plain_http",
                                f"resolves to {address}; plain HTTP is allowed only to loopback")
        checked.append(address)
    if not checked:
        raise BlockedTarget(host, "unresolved", "resolved to no address")
    return checked


def parse_networks(values: Sequence[str]) -> tuple[IPNetwork, ...]:
    """Parse CIDRs for ``WEBHOOK_ALLOW_CIDRS``; raise ValueError naming the bad one."""
    networks = []
    for value in values:
        network = ipaddress.ip_network(value.strip(), strict=False)
        category = address_category(network.network_address)
        if category not in ALLOWLISTABLE or address_category(network.broadcast_address) != category:
            raise ValueError(f"{value} is not inside a private or CGNAT range")
        networks.append(network)
    return tuple(networks)
