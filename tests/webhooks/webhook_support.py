"""Loopback receivers, an injected clock and reference checks for the webhook tests."""

from __future__ import annotations

import base64
import hashlib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import standardwebhooks

from scf_worker.app import Services
from scf_worker.jobs.model import EVENT_DONE, STATUS_DONE, Job, Resource, build_event
from scf_worker.webhooks.forwarder import Forwarder


class FakeClock:
    """A wall clock that moves only when advanced; ``sleep`` advances it instead of waiting."""

    def __init__(self, start: float | None = None) -> None:
        self.now = float(int(time.time()) if start is None else start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)


@dataclass
class Reply:
    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    hold: bool = False  # wait for Receiver.release before responding


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    path: str
    received_at: float

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def timestamp(self) -> int:
        return int(self.headers["webhook-timestamp"])

    @property
    def body_sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


class Receiver:
    """An HTTP server on a loopback address that responds from a script and records requests."""

    def __init__(self, clock: Callable[[], float], host: str = "127.0.0.1", port: int = 0,
                 tls: ssl.SSLContext | None = None) -> None:
        self.clock = clock
        self.host = host
        self.script: list[Reply] = []
        self.default = Reply(204)
        self.requests: list[Received] = []
        self.processed_ids: list[str] = []
        self.release = threading.Event()
        self._lock = threading.Lock()
        server_class = _IPv6Server if ":" in host else ThreadingHTTPServer
        self._server = server_class((host, port), self._handler_class())
        self.scheme = "https" if tls is not None else "http"
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/hook") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{path}"

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def _reply_for(self, received: Received) -> Reply:
        with self._lock:
            index = len(self.requests)
            self.requests.append(received)
            reply = self.script[index] if index < len(self.script) else self.default
            if 200 <= reply.status < 300 and received.headers.get("webhook-id") not in self.processed_ids:
                self.processed_ids.append(received.headers.get("webhook-id", ""))
        return reply

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = receiver._reply_for(Received(headers, body, self.path, receiver.clock()))
                if reply.hold:
                    receiver.release.wait(10)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


# Secrets of the endpoints configured in the current test; the autouse fixture in
# conftest.py checks every request a receiver got against them after each test.
KNOWN_SECRETS: list[str] = []


def reference_signs(secret: str, received: Received) -> bool:
    """Tell whether the reference library, signing at the request's own timestamp, matches it."""
    expected = standardwebhooks.Webhook(secret).sign(
        received.webhook_id, datetime.fromtimestamp(received.timestamp, tz=timezone.utc), received.body)
    return expected in received.headers["webhook-signature"].split(" ")


def reference_verify(secret: str, received: Received, now: float) -> None:
    """Check a request with the standardwebhooks reference library, at the clock's ``now``.

    The library reads the real clock for its 5-minute window, so its full
    ``verify`` runs only when the injected clock is near real time. In every
    case the library's ``sign`` must produce one of the signatures sent, and
    the timestamp must be within 300 s of ``now``.
    """
    webhook = standardwebhooks.Webhook(secret)
    assert abs(now - received.timestamp) <= 300, "webhook-timestamp outside the 300 s tolerance"
    expected = webhook.sign(received.webhook_id,
                            datetime.fromtimestamp(received.timestamp, tz=timezone.utc), received.body)
    assert expected in received.headers["webhook-signature"].split(" ")
    if abs(time.time() - received.timestamp) <= 240:
        webhook.verify(received.body, received.headers)


def sample_event(job_id: str = "media-transcode-0001", data: dict[str, Any] | None = None) -> dict[str, Any]:
    job = Job(id=job_id, type="media.transcode", status=STATUS_DONE,
              resource=Resource("media-1250000000", "uploads/u1/clip.mp4", "video/mp4"), attempts=1,
              request_id="req-1")
    return build_event(EVENT_DONE, job, time.time(), 1234,
                       data=data or {"outputs": [{"kind": "mp4", "key": "outputs/u1/clip-720p.mp4"}]})


@dataclass
class Stack:
    """Services with the injected clock, plus the forwarder the handler will use."""

    services: Services
    forwarder: Forwarder
    secret: str


def emit(services: Services, event: dict[str, Any]) -> None:
    """Store the event in the outbox, which queues it for webhook-forward."""
    with services.db.transaction() as tx:
        services.jobs.emit(tx, event)


def signatures(received: Received) -> list[bytes]:
    return [base64.b64decode(entry.partition(",")[2])
            for entry in received.headers["webhook-signature"].split(" ")]
