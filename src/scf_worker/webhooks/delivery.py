"""Messages and attempts: what is sent to an endpoint, and what one try of it gave.

The body bytes are fixed by the event (canonical JSON) and the ``webhook-id``
by the event and endpoint, so every attempt and replay carries the same id and
body; only ``webhook-timestamp`` and the signatures are made fresh per attempt.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from scf_worker.retry.policy import is_retryable_status

RESPONSE_KEEP_BYTES = 1024

DELIVERED = "delivered"
FAILED = "failed"            # the receiver answered a retryable status
REJECTED = "rejected"        # the receiver answered a status retrying cannot fix
GONE = "gone"                # 410: the endpoint is disabled
TIMEOUT = "timeout"
CONNECTION_FAILED = "connection_failed"
BLOCKED = "blocked"          # the SSRF guard refused the host; nothing was sent
CIRCUIT_OPEN = "circuit_open"  # skipped: the endpoint's circuit breaker is open
DISABLED = "disabled"        # skipped: the endpoint is disabled
# Outcomes where a request reached (or tried to reach) the receiver; these move the breaker.
SENT_OUTCOMES = frozenset({DELIVERED, FAILED, REJECTED, GONE, TIMEOUT, CONNECTION_FAILED})
RETRYABLE_OUTCOMES = frozenset({FAILED, TIMEOUT, CONNECTION_FAILED, CIRCUIT_OPEN})


def webhook_id_for(event: dict[str, Any], endpoint_url: str) -> str:
    digest = hashlib.sha256(f"{event['event']}\n{event['jobId']}\n{endpoint_url}".encode())
    return "msg_" + digest.hexdigest()[:32]


# One encoder for every body: json.dumps with options builds a new encoder per call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def body_of(event: dict[str, Any]) -> bytes:
    return _CANONICAL.encode(event).encode()


@dataclass(frozen=True)
class Message:
    """One event for one endpoint: the id and body bytes every attempt reuses."""

    webhook_id: str
    event_name: str
    job_id: str | None
    body: bytes
    body_sha256: str
    request_id: str | None = None

    @classmethod
    def for_event(cls, event: dict[str, Any], endpoint_url: str, body: bytes | None = None) -> Message:
        data = body_of(event) if body is None else body
        return cls(webhook_id_for(event, endpoint_url), str(event["event"]), event.get("jobId"), data,
                   hashlib.sha256(data).hexdigest(), event.get("requestId"))


@dataclass(frozen=True)
class Attempt:
    """One try at delivering a message, as stored in ``webhook_deliveries``.

    ``response_head`` holds at most the first 1 KB of the response body, with
    the signatures of this attempt and any registered secret masked out.
    """

    webhook_id: str
    endpoint_id: str
    event_name: str
    job_id: str | None
    outcome: str
    body_sha256: str
    attempted_at: float
    status: int | None = None
    code: str | None = None
    latency_ms: int | None = None
    response_head: str | None = None
    signed_at: int | None = None
    retry_after_ms: int | None = None
    detail: str = ""

    @classmethod
    def begin(cls, endpoint_id: str, message: Message, attempted_at: float) -> Attempt:
        """Return an attempt with no outcome yet; ``finish`` fills in what happened."""
        return cls(message.webhook_id, endpoint_id, message.event_name, message.job_id, "pending",
                   message.body_sha256, attempted_at)

    def finish(self, outcome: str, **fields: Any) -> Attempt:
        return dataclasses.replace(self, outcome=outcome, **fields)

    @property
    def delivered(self) -> bool:
        return self.outcome == DELIVERED

    @property
    def retryable(self) -> bool:
        return self.outcome in RETRYABLE_OUTCOMES


def outcome_for_status(status: int) -> str:
    if 200 <= status < 300:
        return DELIVERED
    if status == 410:
        return GONE
    if is_retryable_status(status):
        return FAILED
    return REJECTED
