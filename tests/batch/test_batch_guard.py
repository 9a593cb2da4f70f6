"""The import SSRF guard: address rules as pure data, and URL admission with a test resolver.

No test here opens a connection, because the guard only classifies addresses
and calls the resolver it was given.
"""

from __future__ import annotations

import ipaddress

import pytest

from scf_worker.batch import BlockedUrl, ResolvingUrlGuard, SourceUnavailable, blocked_category
from scf_worker.batch.guard import system_resolver

from .batch_support import UNSPECIFIED, Resolver


@pytest.mark.parametrize(("address", "category"), [
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("::1", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("fc00::1", "private"),
    ("169.254.169.254", "link_local"),
    ("fe80::1", "link_local"),
    ("100.64.0.1", "reserved"),
    (UNSPECIFIED, "unspecified"),
    ("::", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("::ffff:127.0.0.1", "ipv4_mapped"),
    ("64:ff9b::a00:1", "embedded_ipv4"),
    ("2002:7f00:1::", "embedded_ipv4"),
    ("8.8.8.8", None),
    ("2001:4860:4860::8888", None),
])
def test_address_categories(address: str, category: str | None) -> None:
    assert blocked_category(ipaddress.ip_address(address), allow_loopback=False) == category


def test_loopback_switch_opens_only_loopback() -> None:
    assert blocked_category(ipaddress.ip_address("127.0.0.1"), allow_loopback=True) is None
    assert blocked_category(ipaddress.ip_address("::1"), allow_loopback=True) is None
    assert blocked_category(ipaddress.ip_address("::ffff:127.0.0.1"), allow_loopback=True) == "ipv4_mapped"
    assert blocked_category(ipaddress.ip_address("10.0.0.1"), allow_loopback=True) == "private"


def test_name_resolving_to_loopback_is_blocked() -> None:
    guard = ResolvingUrlGuard(False, Resolver({"cdn.import.test": ["127.0.0.1"]}))
    with pytest.raises(BlockedUrl) as caught:
        guard.admit("https://cdn.import.test/a.mp4")
    assert caught.value.category == "loopback"
    assert caught.value.reason == "blocked_url"


@pytest.mark.parametrize(("url", "category"), [
    ("https://127.0.0.1/a.mp4", "loopback"),
    ("https://[::1]/a.mp4", "loopback"),
    ("https://localhost/a.mp4", "loopback"),
    ("http://cdn.import.test/a.mp4", "scheme"),
    ("ftp://cdn.import.test/a.mp4", "scheme"),
    ("file:///etc/passwd", "scheme"),
    ("https://user:pw@cdn.import.test/a.mp4", "credentials"),
    ("https://cdn.import.test:99999/a.mp4", "invalid_url"),
])
def test_url_rules_apply_before_resolution(url: str, category: str) -> None:
    resolver = Resolver({"cdn.import.test": ["127.0.0.1"]})
    with pytest.raises(BlockedUrl) as caught:
        ResolvingUrlGuard(False, resolver).admit(url)
    assert caught.value.category == category
    assert resolver.queried == []


@pytest.mark.parametrize(("answers", "category"), [
    (["127.0.0.1", UNSPECIFIED], "reserved"),
    (["::ffff:127.0.0.1"], "ipv4_mapped"),
    (["::"], "reserved"),
    (["not-an-address"], "invalid_address"),
])
def test_any_refused_address_refuses_the_answer(answers: list[str], category: str) -> None:
    guard = ResolvingUrlGuard(True, Resolver({"mixed.import.test": answers}))
    with pytest.raises(BlockedUrl) as caught:
        guard.admit("https://mixed.import.test/a.mp4")
    assert caught.value.category == category


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "0177.0.0.1"])
def test_numeric_ipv4_spellings_are_blocked(host: str) -> None:
    # The system resolver parses these spellings itself; no DNS query is sent.
    with pytest.raises(BlockedUrl) as caught:
        ResolvingUrlGuard(False, system_resolver).admit(f"https://{host}/a.mp4")
    assert caught.value.category == "ip_spelling"


def test_admitted_url_pins_resolved_addresses() -> None:
    guard = ResolvingUrlGuard(True, Resolver({"cdn.import.test": ["127.0.0.1", "::1"]}))
    admitted = guard.admit("https://cdn.import.test:8443/v/a.mp4?sig=abc")
    assert admitted.host == "cdn.import.test"
    assert admitted.port == 8443
    assert admitted.target == "/v/a.mp4?sig=abc"
    assert admitted.addresses == ("127.0.0.1", "::1")


def test_target_percent_encodes_non_ascii() -> None:
    guard = ResolvingUrlGuard(True, Resolver({"cdn.import.test": ["127.0.0.1"]}))
    admitted = guard.admit("https://cdn.import.test/视频/第 1 集.mp4?sign=a%2Fb&t=1")
    assert admitted.target == "/%E8%A7%86%E9%A2%91/%E7%AC%AC%201%20%E9%9B%86.mp4?sign=a%2Fb&t=1"


def test_unknown_host_is_unavailable_not_blocked() -> None:
    with pytest.raises(SourceUnavailable) as caught:
        ResolvingUrlGuard(True, Resolver()).admit("https://gone.import.test/a.mp4")
    assert caught.value.reason == "fetch_failed"


def test_blocked_message_names_host_not_query() -> None:
    guard = ResolvingUrlGuard(False, Resolver({"cdn.import.test": ["127.0.0.1"]}))
    with pytest.raises(BlockedUrl) as caught:
        guard.admit("https://cdn.import.test/a.mp4?sign=q-signature-SECRETVALUE")
    assert "SECRETVALUE" not in str(caught.value)
    assert "cdn.import.test" in str(caught.value)
