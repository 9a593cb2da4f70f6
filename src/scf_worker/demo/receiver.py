"""A backend stand-in on 127.0.0.1 that verifies every webhook it receives."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from scf_worker.webhooks.errors import VerificationError
from scf_worker.webhooks.signing import decode_secret, verify


@dataclass
class ReceivedWebhook:
    webhook_id: str
    verified: bool
    event: dict[str, Any] | None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class WebhookReceiver:
    """Accept POSTs, verify their Standard Webhooks signature and keep what arrived."""

    def __init__(self, secret: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.key = decode_secret(secret)
        self.received: list[ReceivedWebhook] = []
        self.seen_ids: set[str] = set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/webhooks"

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _record(self, headers: dict[str, str], body: bytes) -> int:
        try:
            webhook_id = verify(headers, body, [self.key])
            verified = True
        except VerificationError:
            webhook_id, verified = headers.get("webhook-id", ""), False
        try:
            event = json.loads(body) if verified else None
        except json.JSONDecodeError:
            event = None
        with self._lock:
            self.received.append(ReceivedWebhook(webhook_id, verified, event, headers, body))
            self.seen_ids.add(webhook_id)
        return 204 if verified else 401

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                self.send_response(receiver._record(headers, body))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler
