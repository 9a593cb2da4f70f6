"""Fetching https:// sources from a loopback server: limits, statuses, redirects and TLS."""

from __future__ import annotations

from pathlib import Path

import pytest

from scf_worker.batch import BlockedUrl, ResolvingUrlGuard, RowRejected, SourceUnavailable
from scf_worker.batch.fetch import HttpsFetcher, describe_url

from .batch_support import MEDIA_HOST, UNSPECIFIED, MediaServer, Resolver, media_bytes


def fetcher(server: MediaServer, resolver: Resolver, max_bytes: int = 2048,
            max_redirects: int = 3) -> HttpsFetcher:
    return HttpsFetcher(ResolvingUrlGuard(True, resolver), max_bytes, 5, 10, max_redirects,
                        ssl_context=server.client_context)


def test_fetch_stores_body(media_server: MediaServer, resolver: Resolver, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    fetched = fetcher(media_server, resolver).fetch(media_server.url("/gen/mp4/700/s1"), dest)
    assert dest.read_bytes() == media_bytes("mp4", "s1", 700)
    assert fetched.size == 700
    assert fetched.declared_type == "application/octet-stream"


def test_declared_length_over_limit_stops_before_body(media_server: MediaServer, resolver: Resolver,
                                                      tmp_path: Path) -> None:
    with pytest.raises(RowRejected) as caught:
        fetcher(media_server, resolver).fetch(media_server.url("/gen/mp4/5000/s1"), tmp_path / "out")
    assert caught.value.reason == "too_large"
    assert "declares 5000 bytes" in caught.value.detail


def test_undeclared_length_over_limit_stops_streaming(media_server: MediaServer, resolver: Resolver,
                                                      tmp_path: Path) -> None:
    with pytest.raises(RowRejected) as caught:
        fetcher(media_server, resolver, max_bytes=100_000).fetch(
            media_server.url("/nolength/mp4/300000/s1"), tmp_path / "out")
    assert caught.value.reason == "too_large"


@pytest.mark.parametrize(("status", "error", "reason"), [
    (404, RowRejected, "source_not_found"),
    (410, RowRejected, "source_not_found"),
    (403, RowRejected, "source_rejected"),
    (503, SourceUnavailable, "fetch_failed"),
    (429, SourceUnavailable, "fetch_failed"),
])
def test_error_statuses(media_server: MediaServer, resolver: Resolver, tmp_path: Path, status: int,
                        error: type[Exception], reason: str) -> None:
    with pytest.raises(error) as caught:
        fetcher(media_server, resolver).fetch(media_server.url(f"/status/{status}"), tmp_path / "out")
    assert caught.value.reason == reason  # type: ignore[attr-defined]


def test_redirect_followed_through_guard(media_server: MediaServer, resolver: Resolver,
                                         tmp_path: Path) -> None:
    target = media_server.url("/gen/jpg/400/r1")
    fetcher(media_server, resolver).fetch(media_server.url(f"/redirect?to={target}"), tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == media_bytes("jpg", "r1", 400)


def test_redirect_to_blocked_address_is_not_followed(media_server: MediaServer, resolver: Resolver,
                                                     tmp_path: Path) -> None:
    resolver.answers["inner.import.test"] = [UNSPECIFIED]
    start = media_server.url("/redirect?to=https://inner.import.test/secret")
    with pytest.raises(BlockedUrl) as caught:
        fetcher(media_server, resolver).fetch(start, tmp_path / "out")
    assert caught.value.category == "reserved"
    assert len(media_server.requests) == 1


def test_redirect_to_plain_http_is_blocked(media_server: MediaServer, resolver: Resolver,
                                           tmp_path: Path) -> None:
    start = media_server.url(f"/redirect?to=http://{MEDIA_HOST}:{media_server.port}/gen/mp4/300/x")
    with pytest.raises(BlockedUrl) as caught:
        fetcher(media_server, resolver).fetch(start, tmp_path / "out")
    assert caught.value.category == "scheme"


def test_redirect_limit(media_server: MediaServer, resolver: Resolver, tmp_path: Path) -> None:
    hop2 = media_server.url("/redirect?to=" + media_server.url("/gen/mp4/300/x"))
    start = media_server.url("/redirect?to=" + hop2.replace("?", "%3F").replace("=", "%3D"))
    with pytest.raises(RowRejected) as caught:
        fetcher(media_server, resolver, max_redirects=1).fetch(start, tmp_path / "out")
    assert caught.value.reason == "source_rejected"
    assert "redirects" in caught.value.detail


def test_non_ascii_path_is_requested_encoded(media_server: MediaServer, resolver: Resolver,
                                              tmp_path: Path) -> None:
    media_server.routes["/%E7%89%87%E5%A4%B4.mp4"] = (200, {}, media_bytes("mp4", "intro"))
    fetcher(media_server, resolver).fetch(media_server.url("/片头.mp4"), tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == media_bytes("mp4", "intro")


def test_certificate_for_other_name_fails(media_server: MediaServer, resolver: Resolver,
                                          tmp_path: Path) -> None:
    resolver.answers["other.import.test"] = ["127.0.0.1"]
    url = f"https://other.import.test:{media_server.port}/gen/mp4/300/x"
    with pytest.raises(SourceUnavailable) as caught:
        fetcher(media_server, resolver).fetch(url, tmp_path / "out")
    assert "TLS certificate" in caught.value.detail
    assert media_server.requests == []


def test_errors_and_description_leave_out_query(media_server: MediaServer, resolver: Resolver,
                                                tmp_path: Path) -> None:
    url = media_server.url("/status/404?q-signature=SECRETVALUE&token=T0KEN")
    with pytest.raises(RowRejected) as caught:
        fetcher(media_server, resolver).fetch(url, tmp_path / "out")
    assert "SECRETVALUE" not in str(caught.value)
    assert describe_url(url) == f"https://{MEDIA_HOST}:{media_server.port}/status/404"
    assert describe_url("https://u:p@[::1]:8443/a?b#c") == "https://[::1]:8443/a"
