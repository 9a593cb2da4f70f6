"""Sign and POST one event to one endpoint, following no redirects.

The body bytes are fixed by the event (canonical JSON), and the ``webhook-id``
by the event and endpoint, so every attempt and replay carries the same id and
body while the timestamp and signature are fresh.
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from scf_worker.retry.policy import PermanentError, TransientError, is_retryable_status, parse_retry_after
from scf_worker.runtime.config import WebhookEndpoint
from scf_worker.webhooks.signing import decode_secret, signature_headers

RESPONSE_KEEP_BYTES = 1024


@dataclass(frozen=True)
class DeliveryResult:
    webhook_id: str
    status: int
    latency_ms: int
    response_head: str


def webhook_id_for(event: dict[str, Any], endpoint_url: str) -> str:
    digest = hashlib.sha256(f"{event['event']}\n{event['jobId']}\n{endpoint_url}".encode())
    return "msg_" + digest.hexdigest()[:32]


def body_of(event: dict[str, Any]) -> bytes:
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, allow_loopback: bool) -> tuple[str, str, int, str]:
    """Return (scheme, host, port, path) or raise PermanentError with code ``blocked``."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "http" and not (allow_loopback and _is_loopback_host(host)):
        raise PermanentError("blocked", "plain HTTP is allowed only to loopback in local runs")
    if parts.scheme not in ("http", "https") or not host:
        raise PermanentError("blocked", "webhook URL must be https://host/...")
    if _is_loopback_host(host) and not allow_loopback:
        raise PermanentError("blocked", "loopback targets are blocked")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, host, port, path


def deliver(event: dict[str, Any], endpoint: WebhookEndpoint, allow_loopback: bool,
            timeout_seconds: float, clock: Callable[[], float] = time.time,
            extra_headers: dict[str, str] | None = None) -> DeliveryResult:
    """POST the signed event; raise TransientError or PermanentError on failure."""
    scheme, host, port, path = check_url(endpoint.url, allow_loopback)
    body = body_of(event)
    webhook_id = webhook_id_for(event, endpoint.url)
    keys = [decode_secret(secret) for secret in endpoint.secrets]
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "scf-worker-webhooks/1",
        **(extra_headers or {}),
        **signature_headers(keys, webhook_id, int(clock()), body),
    }
    connection_class = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
    connection = connection_class(host, port, timeout=timeout_seconds)
    started = time.monotonic()
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        head = response.read(RESPONSE_KEEP_BYTES).decode("utf-8", "replace")
        status = response.status
        retry_after = response.getheader("Retry-After")
    except (OSError, http.client.HTTPException) as exc:
        raise TransientError("connection_failed", f"{type(exc).__name__} posting to {host}") from None
    finally:
        connection.close()
    latency_ms = int((time.monotonic() - started) * 1000)
    if 200 <= status < 300:
        return DeliveryResult(webhook_id, status, latency_ms, head)
    if is_retryable_status(status):
        retry_after_ms = parse_retry_after(retry_after, clock())
        raise TransientError(f"http_{status}", f"receiver answered {status}", retry_after_ms)
    raise PermanentError(f"http_{status}", f"receiver answered {status}")
