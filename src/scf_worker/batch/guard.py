"""The SSRF guard seam for import sources: which URLs may be fetched, and at which addresses.

The fetcher calls a ``UrlGuard`` before every request, redirects included, and
connects only to the addresses the guard returned, so a DNS answer cannot
change between the check and the connection.

``ResolvingUrlGuard`` is this capability's own guard: it applies the webhook
capability's ``check_url`` and then resolves the host and rejects any address
that is not public unicast. Any object with the same ``admit`` method can
replace it, such as one built on the webhook capability's full SSRF policy.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote, urlsplit

from scf_worker.batch.errors import BlockedUrl, SourceUnavailable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Characters a request target keeps as written; anything else (non-ASCII, spaces)
# is percent-encoded as UTF-8, the way browsers send such links.
_TARGET_SAFE = "/%:@!$&'()*+,;=~?"


@dataclass(frozen=True)
class AdmittedUrl:
    """A URL the guard let through, with the only addresses the fetcher may connect to."""

    host: str
    port: int
    target: str
    addresses: tuple[str, ...]


class UrlGuard(Protocol):
    """Decide whether a source URL may be fetched; raise BlockedUrl when it may not."""

    def admit(self, url: str) -> AdmittedUrl: ...


def describe_url(url: str) -> str:
    """Return the URL without user info, query or fragment, for reports and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}"[:300]


def system_resolver(host: str, port: int) -> list[str]:
    """Resolve a host name with the system resolver; raise OSError when it cannot."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def blocked_category(address: IPAddress, allow_loopback: bool) -> str | None:
    """Return why an address must not be contacted, or None for a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return "ipv4_mapped"
        embedded = _embedded_ipv4(address)
        if embedded is not None and blocked_category(embedded, allow_loopback=False) is not None:
            return "embedded_ipv4"
    if address.is_loopback:
        return None if allow_loopback else "loopback"
    if address.is_unspecified:
        return "unspecified"
    if address.is_link_local:
        return "link_local"
    if address.is_multicast:
        return "multicast"
    if address.is_reserved:
        return "reserved"
    if address.is_private:
        return "private"
    if not address.is_global:
        return "reserved"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """Return the IPv4 address a NAT64 (64:ff9b::/96) or 6to4 (2002::/16) address carries."""
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


class ResolvingUrlGuard:
    """Allow https:// URLs whose host resolves only to public unicast addresses.

    ``allow_loopback`` (IMPORT_ALLOW_LOOPBACK) also admits loopback addresses,
    for local runs and tests against a server on 127.0.0.1.
    """

    def __init__(self, allow_loopback: bool = False, resolver: Resolver = system_resolver) -> None:
        self.allow_loopback = allow_loopback
        self.resolver = resolver

    def admit(self, url: str) -> AdmittedUrl:
        parts = urlsplit(url)
        try:
            host = (parts.hostname or "").rstrip(".")
            port = parts.port or 443
        except ValueError:
            raise BlockedUrl(parts.netloc[:80], "invalid_url", "has an invalid port") from None
        if parts.scheme.lower() != "https":
            raise BlockedUrl(host, "scheme", "is not an https:// URL")
        if parts.username is not None or parts.password is not None:
            raise BlockedUrl(host, "credentials", "carries user credentials in the URL")
        # One rule set for every outbound fetch: the webhook capability's SSRF guard checks
        # the URL (odd IP spellings, metadata and internal names) and every resolved address.
        from scf_worker.webhooks.errors import BlockedTarget
        from scf_worker.webhooks.guard import GuardPolicy, check_addresses, check_url

        policy = GuardPolicy(allow_loopback=self.allow_loopback)
        try:
            check_url(url, policy)
            addresses = self._resolve(host, port)
            check_addresses(host, addresses, policy, "https")
        except BlockedTarget as exc:
            raise BlockedUrl(host, exc.category, str(exc).removeprefix(f"webhook host {exc.host} ")) from None
        for raw in addresses:
            category = blocked_category(ipaddress.ip_address(raw), self.allow_loopback)
            if category is not None:
                # One blocked address blocks the whole answer, because a mixed answer is
                # how DNS rebinding reaches an internal address on a later connection.
                kind = f"a {category.replace('_', '-')} address that imports may not reach"
                detail = f"is {kind}" if addresses == [host] else f"resolves to {raw}, {kind}"
                raise BlockedUrl(host, category, detail)
        target = quote((parts.path or "/") + (f"?{parts.query}" if parts.query else ""), safe=_TARGET_SAFE)
        return AdmittedUrl(host, port, target, tuple(addresses))

    def _resolve(self, host: str, port: int) -> list[str]:
        try:
            return [str(ipaddress.ip_address(host))]
        except ValueError:
            pass
        try:
            answers = list(self.resolver(host, port))
        except OSError as exc:
            raise SourceUnavailable("fetch_failed", f"could not resolve {host}: {exc}") from None
        addresses = []
        for raw in answers:
            try:
                addresses.append(str(ipaddress.ip_address(raw.split("%", 1)[0])))
            except ValueError:
                raise BlockedUrl(host, "invalid_address", "resolves to a malformed address") from None
        if not addresses:
            raise SourceUnavailable("fetch_failed", f"{host} resolves to no address")
        return addresses
