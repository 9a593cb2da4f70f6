"""Helpers for the batch tests: tiny media payloads, a resolver the test controls, a loopback
HTTPS media server, a clock that can jump forward, and access to the shared MariaDB.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import socket
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

# The root conftest's address; that module cannot be imported from here, because every
# test folder's conftest.py is also named "conftest".
MARIADB = ("127.0.0.1", 3306)
# The unspecified address: the guard refuses it, and a connection to it would reach this host.
UNSPECIFIED = "0.0.0.0"  # noqa: S104


def require_mariadb() -> None:
    """Skip when MariaDB is down outside CI; fail under CI=true."""
    try:
        with socket.create_connection(MARIADB, timeout=1):
            return
    except OSError:
        pass
    if os.environ.get("CI"):
        pytest.fail(f"mariadb is not reachable at {MARIADB} and CI=true requires it")
    pytest.skip(f"mariadb is not running on {MARIADB}")


BUCKET = "media-1250000000"
MEDIA_HOST = "media.import.test"

# Leading bytes that make each type recognisable by its magic numbers; the rest is filler.
MAGIC = {
    "mp4": b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2",
    "mov": b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ",
    "jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00",
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "mp3": b"ID3\x04\x00\x00\x00\x00\x00\x00",
    "txt": b"this is a plain text file, not media\n",
    "pdf": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n",
}
MIME = {"mp4": "video/mp4", "mov": "video/quicktime", "jpg": "image/jpeg", "png": "image/png",
        "mp3": "audio/mpeg"}


def media_bytes(kind: str, seed: str, size: int = 300) -> bytes:
    """Return ``size`` bytes that start with ``kind``'s magic and differ for every seed."""
    filler = hashlib.sha256(seed.encode()).digest() * (size // 32 + 1)
    return (MAGIC[kind] + filler)[:size]


@dataclass
class Resolver:
    """Name → addresses; names not listed fail as the system resolver would."""

    answers: dict[str, list[str]] = field(default_factory=dict)
    queried: list[str] = field(default_factory=list)

    def __call__(self, host: str, port: int) -> list[str]:
        self.queried.append(host)
        if host not in self.answers:
            raise OSError(f"unknown host {host}")
        return self.answers[host]


class _MediaHandler(http.server.BaseHTTPRequestHandler):
    """Routes: /gen/<kind>/<size>/<seed>, /nolength/<kind>/<size>/<seed>, /status/<code>,
    /redirect?to=<url>; and any path registered in ``server.routes``."""

    server: _MediaServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        parts = urlsplit(self.path)
        segments = parts.path.strip("/").split("/")
        if parts.path in self.server.routes:
            status, headers, body = self.server.routes[parts.path]
            self._send(status, headers, body)
        elif segments[0] == "gen" and len(segments) == 4:
            self._send(200, {"Content-Type": "application/octet-stream"},
                       media_bytes(segments[1], segments[3], int(segments[2])))
        elif segments[0] == "nolength" and len(segments) == 4:
            self._send(200, {}, media_bytes(segments[1], segments[3], int(segments[2])), length=False)
        elif segments[0] == "status" and len(segments) == 2:
            self._send(int(segments[1]), {}, b"status page")
        elif segments[0] == "redirect":
            self._send(302, {"Location": parse_qs(parts.query)["to"][0]}, b"")
        else:
            self._send(404, {}, b"not found")

    def _send(self, status: int, headers: dict[str, str], body: bytes, length: bool = True) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)


class _MediaServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _MediaHandler)
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.requests: list[str] = []


@dataclass
class MediaServer:
    """A loopback HTTPS server with a certificate for MEDIA_HOST, 127.0.0.1 and localhost."""

    server: _MediaServer
    client_context: ssl.SSLContext
    ca_file: Path

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str, host: str = MEDIA_HOST) -> str:
        return f"https://{host}:{self.port}{path}"

    @property
    def routes(self) -> dict[str, tuple[int, dict[str, str], bytes]]:
        return self.server.routes

    @property
    def requests(self) -> list[str]:
        return self.server.requests



class OffsetClock:
    """Wall-clock time plus an offset the test moves forward; time keeps flowing."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


GOOD_KINDS = ("mp4", "jpg", "png", "mp3", "mov")
BAD_KINDS = ("missing_source", "too_large", "not_media", "blocked_url")
EXTENSIONS = {"mp4": "mp4", "jpg": "jpg", "png": "png", "mp3": "mp3", "mov": "mov"}


@dataclass
class SeededManifest:
    """A generated manifest with what each row should become."""

    csv: str
    expected: dict[int, tuple[str, str | None]]
    targets: dict[int, tuple[str | None, bytes]]

    def count(self, status: str, reason: str | None = None) -> int:
        return sum(1 for s, r in self.expected.values() if s == status and (reason is None or r == reason))


def seed_manifest(store: Any, bucket: str, server: MediaServer, rows: int = 1000, bad_every: int = 20,
                  host: str = MEDIA_HOST, blocked_hosts: tuple[str, ...] = ()) -> SeededManifest:
    """Write source objects and return a CSV manifest mixing every source shape and bad-row kind.

    Every ``bad_every``-th row is bad, cycling through BAD_KINDS. Good rows
    cycle through: object copied to a new key, object recorded in place, URL
    with a default key, URL with an explicit key. ``blocked_hosts`` are extra
    host names (resolved by the test's resolver) for blocked-URL rows.
    """
    port = server.port
    base = f"https://{host}:{port}"
    blocked = [
        f"http://{host}:{port}/gen/mp4/300/{{i}}",
        f"https://user:pw@{host}:{port}/gen/mp4/300/{{i}}",
        f"https://[::ffff:127.0.0.1]:{port}/gen/mp4/300/{{i}}",
        f"https://{UNSPECIFIED}:{port}/gen/mp4/300/{{i}}",
        *(f"https://{name}:{port}/gen/mp4/300/{{i}}" for name in blocked_hosts),
    ]
    lines = ["source,key,id,title"]
    expected: dict[int, tuple[str, str | None]] = {}
    targets: dict[int, tuple[str | None, bytes]] = {}
    for i in range(1, rows + 1):
        title = f"第{i}条"
        if i % bad_every == 0:
            bad = i // bad_every - 1
            kind = BAD_KINDS[bad % len(BAD_KINDS)]
            variant = bad // len(BAD_KINDS)
            if kind == "missing_source":
                lines.append(f",imports/t/{i}.mp4,,{title}")
            elif kind == "too_large":
                if variant % 3 == 0:
                    store.put_bytes(bucket, f"legacy/big-{i}.mp4", media_bytes("mp4", str(i), 3000))
                    lines.append(f"legacy/big-{i}.mp4,imports/t/{i}.mp4,,{title}")
                elif variant % 3 == 1:
                    lines.append(f"{base}/gen/mp4/5000/{i},,,{title}")
                else:
                    lines.append(f"{base}/nolength/mp4/9000/{i},,,{title}")
            elif kind == "not_media":
                if variant % 2 == 0:
                    store.put_bytes(bucket, f"legacy/notes-{i}.mp4", media_bytes("txt", str(i)))
                    lines.append(f"legacy/notes-{i}.mp4,imports/t/{i}.mp4,,{title}")
                else:
                    lines.append(f"{base}/gen/pdf/300/{i},,,{title}")
            else:
                lines.append(blocked[variant % len(blocked)].format(i=i) + f",,,{title}")
            expected[i] = ("rejected", kind)
            continue

        kind = GOOD_KINDS[i % len(GOOD_KINDS)]
        ext = EXTENSIONS[kind]
        content = media_bytes(kind, str(i))
        shape = i % 4
        if shape == 1:
            store.put_bytes(bucket, f"legacy/{i}.{ext}", content)
            key: str | None = f"uploads/imported/{i}.{ext}"
            lines.append(f"legacy/{i}.{ext},{key},,{title}")
        elif shape == 2:
            key = f"uploads/legacy/{i}.{ext}"
            store.put_bytes(bucket, key, content)
            lines.append(f"{key},,,{title}")
        elif shape == 3:
            key = None
            lines.append(f"{base}/gen/{kind}/300/{i},,clip-{i},{title}")
        else:
            key = f"uploads/web/{i}.{ext}"
            lines.append(f"{base}/gen/{kind}/300/{i},{key},,{title}")
        expected[i] = ("imported", None)
        targets[i] = (key, content)
    return SeededManifest("\n".join(lines) + "\n", expected, targets)


class CountingDeadline:
    """A deadline that expires after it has been asked ``limit`` times."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.calls = 0

    def expired(self) -> bool:
        self.calls += 1
        return self.calls > self.limit
