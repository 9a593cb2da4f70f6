"""The SSRF guard as a pure policy: URLs, spellings and resolved addresses."""

from __future__ import annotations

import ipaddress

import pytest

from scf_worker.webhooks.errors import BlockedTarget
from scf_worker.webhooks.guard import (
    GuardPolicy,
    address_category,
    check_addresses,
    check_url,
    parse_ipv4_spelling,
    parse_networks,
)

STRICT = GuardPolicy()
LOOPBACK_ON = GuardPolicy(allow_loopback=True)


@pytest.mark.parametrize(("url", "category"), [
    ("https://127.0.0.1/hook", "loopback"),
    ("https://127.8.9.10/hook", "loopback"),
    ("https://localhost/hook", "loopback"),
    ("https://LOCALHOST./hook", "loopback"),
    ("https://api.localhost/hook", "loopback"),
    ("https://[::1]/hook", "loopback"),
    ("https://[::ffff:127.0.0.1]/hook", "ipv4_mapped"),
    ("https://[::ffff:7f00:1]/hook", "ipv4_mapped"),
    ("https://[::ffff:8.8.8.8]/hook", "ipv4_mapped"),
    ("https://2130706433/hook", "ip_spelling"),
    ("https://0x7f.1/hook", "ip_spelling"),
    ("https://017700000001/hook", "ip_spelling"),
    ("https://0177.0.0.1/hook", "ip_spelling"),
    ("https://127.1/hook", "ip_spelling"),
    ("https://0x7f000001/hook", "ip_spelling"),
    ("https://127.000.000.001/hook", "ip_spelling"),
    ("https://3232235521/hook", "ip_spelling"),
    ("https://08.1.2.3/hook", "ip_spelling"),
    ("https://1.2.3.256/hook", "ip_spelling"),
    ("https://10.0.0.5/hook", "private"),
    ("https://172.16.3.4/hook", "private"),
    ("https://192.168.1.1/hook", "private"),
    ("https://[fd00:ec2::254]/hook", "private"),
    ("https://100.64.0.1/hook", "cgnat"),
    ("https://100.100.100.200/hook", "cgnat"),
    ("https://169.254.169.254/latest", "link_local"),
    ("https://169.254.0.23/latest", "link_local"),
    ("https://[fe80::1]/hook", "link_local"),
    ("https://224.0.0.1/hook", "multicast"),
    ("https://[ff02::1]/hook", "multicast"),
    ("https://0.0.0.0/hook", "reserved"),
    ("https://240.0.0.1/hook", "reserved"),
    ("https://255.255.255.255/hook", "reserved"),
    ("https://192.0.2.10/hook", "reserved"),
    ("https://[2001:db8::1]/hook", "reserved"),
    ("https://[64:ff9b::7f00:1]/hook", "reserved"),
    ("https://[2002:7f00:1::]/hook", "reserved"),
    ("https://[::]/hook", "reserved"),
    ("https://metadata.tencentyun.com/latest/meta-data/", "metadata"),
    ("https://metadata.google.internal/computeMetadata/v1/", "metadata"),
    ("https://instance-data/latest", "metadata"),
    ("https://cms.internal/hook", "internal_name"),
    ("https://printer.local/hook", "internal_name"),
    ("https://backend/hook", "internal_name"),
    ("ftp://example.com/hook", "invalid_url"),
    ("https:///hook", "invalid_url"),
    ("https://user:pass@example.com/hook", "invalid_url"),
    ("https://example.com@127.0.0.1/hook", "invalid_url"),
    ("http://example.com/hook", "plain_http"),
])
def test_check_url_blocks(url: str, category: str) -> None:
    with pytest.raises(BlockedTarget) as caught:
        check_url(url, STRICT)

    assert caught.value.category == category


def test_check_url_accepts_public_https() -> None:
    target = check_url("https://hooks.example.com:8443/cms/hook?x=1", STRICT)

    assert target.host == "hooks.example.com"
    assert target.port == 8443
    assert target.literal is None


def test_check_url_accepts_public_literal() -> None:
    assert check_url("https://8.8.8.8/hook", STRICT).literal == ipaddress.ip_address("8.8.8.8")


def test_loopback_switch_allows_loopback_only() -> None:
    assert check_url("http://127.0.0.1:8080/hook", LOOPBACK_ON).port == 8080
    assert check_url("http://[::1]:8080/hook", LOOPBACK_ON).host == "::1"
    assert check_url("http://localhost:8080/hook", LOOPBACK_ON).host == "localhost"
    for url in ("https://10.0.0.5/hook", "https://169.254.169.254/", "https://[::ffff:127.0.0.1]/",
                "https://2130706433/", "https://0x7f.1/", "http://8.8.8.8/hook"):
        with pytest.raises(BlockedTarget):
            check_url(url, LOOPBACK_ON)


def test_message_names_host_not_url() -> None:
    with pytest.raises(BlockedTarget) as caught:
        check_url("https://127.0.0.1/hook?token=abcdef123456", STRICT)

    assert "127.0.0.1" in str(caught.value)
    assert "abcdef123456" not in str(caught.value)


@pytest.mark.parametrize(("spelling", "address"), [
    ("2130706433", "127.0.0.1"),
    ("0x7f.1", "127.0.0.1"),
    ("017700000001", "127.0.0.1"),
    ("127.1", "127.0.0.1"),
    ("127.0.1", "127.0.0.1"),
    ("0xc0.0xa8.0x1.0x1", "192.168.1.1"),
    ("8.8.8.8", "8.8.8.8"),
])
def test_parse_ipv4_spelling(spelling: str, address: str) -> None:
    assert parse_ipv4_spelling(spelling) == ipaddress.IPv4Address(address)


def test_parse_ipv4_spelling_ignores_names() -> None:
    assert parse_ipv4_spelling("example.com") is None
    assert parse_ipv4_spelling("1.2.3.example") is None


def test_check_addresses_refuses_any_blocked_answer() -> None:
    with pytest.raises(BlockedTarget) as caught:
        check_addresses("hooks.example.com", ["8.8.8.8", "127.0.0.1"], STRICT)

    assert caught.value.category == "loopback"
    assert "hooks.example.com" in str(caught.value)


def test_check_addresses_plain_http_needs_loopback() -> None:
    assert check_addresses("hooks.test", ["127.0.0.1"], LOOPBACK_ON, scheme="http")
    with pytest.raises(BlockedTarget) as caught:
        check_addresses("hooks.test", ["8.8.8.8"], LOOPBACK_ON, scheme="http")

    assert caught.value.category == "plain_http"


def test_check_addresses_empty_answer() -> None:
    with pytest.raises(BlockedTarget) as caught:
        check_addresses("hooks.example.com", [], STRICT)

    assert caught.value.category == "unresolved"


def test_allowlist_opens_private_range_only() -> None:
    policy = GuardPolicy(allowed_networks=parse_networks(["10.1.0.0/16"]))

    assert check_addresses("cms.example.com", ["10.1.2.3"], policy)
    with pytest.raises(BlockedTarget):
        check_addresses("cms.example.com", ["10.2.0.1"], policy)


@pytest.mark.parametrize("cidr", ["127.0.0.0/8", "169.254.0.0/16", "8.8.8.0/24", "10.0.0.0/7"])
def test_allowlist_rejects_unsafe_ranges(cidr: str) -> None:
    with pytest.raises(ValueError, match="private or CGNAT"):
        parse_networks([cidr])


def test_address_category_public() -> None:
    assert address_category(ipaddress.ip_address("1.1.1.1")) is None
    assert address_category(ipaddress.ip_address("2606:4700:4700::1111")) is None


@pytest.mark.parametrize("url", ["https://127.0.0.%31/hook", "https://ex%61mple.com/hook",
                                 "https://exa mple.com/hook", "https://[fe80::1%25eth0]/hook"])
def test_check_url_refuses_encoded_hosts(url: str) -> None:
    with pytest.raises(BlockedTarget):
        check_url(url, STRICT)


def test_check_url_converts_idna() -> None:
    assert check_url("https://bücher.example/hook", STRICT).host == "xn--bcher-kva.example"
