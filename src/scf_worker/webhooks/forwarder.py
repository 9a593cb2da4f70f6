"""webhook-forward: send one ``SCF_JOB_*`` event to every endpoint that wants it.

Each (event, endpoint) delivery is claimed in the idempotency store, so a
retry after a partial success re-sends only to the endpoints that failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from scf_worker.idempotency.base import IdempotencyStore, fingerprint
from scf_worker.idempotency.errors import AlreadyCompleted
from scf_worker.jobs.model import EVENT_NAMES
from scf_worker.observability import metrics
from scf_worker.observability.logging import get_logger
from scf_worker.retry.policy import PermanentError, TransientError
from scf_worker.runtime.config import Settings
from scf_worker.webhooks.delivery import deliver, webhook_id_for

log = get_logger(__name__)
CLAIM_LEASE_SECONDS = 60


def check_event(event: Any) -> dict[str, Any]:
    if not isinstance(event, dict) or event.get("event") not in EVENT_NAMES or not event.get("jobId"):
        raise PermanentError("invalid_event", "payload is not an SCF_JOB_* event")
    return event


class Forwarder:
    def __init__(self, settings: Settings, idempotency: IdempotencyStore,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.idempotency = idempotency
        self.clock = clock

    def forward(self, event: dict[str, Any]) -> dict[str, Any]:
        check_event(event)
        delivered, skipped = [], []
        failure: Exception | None = None
        for endpoint in self.settings.webhook_endpoints:
            if not endpoint.wants(event["event"]):
                continue
            webhook_id = webhook_id_for(event, endpoint.url)
            try:
                self.idempotency.claim(webhook_id, fingerprint(event), CLAIM_LEASE_SECONDS)
            except AlreadyCompleted:
                skipped.append(webhook_id)
                continue
            try:
                extra = {"x-scf-request-id": event["requestId"]} if event.get("requestId") else None
                result = deliver(event, endpoint, self.settings.webhook_allow_loopback,
                                 self.settings.webhook_timeout_seconds, self.clock, extra)
            except (TransientError, PermanentError) as exc:
                self.idempotency.release(webhook_id)
                log.warning("webhook_failed", webhookId=webhook_id, code=exc.code, error=str(exc))
                # Keep going so one failing endpoint does not hold back the others.
                failure = failure if isinstance(failure, TransientError) else exc
                continue
            self.idempotency.complete(webhook_id, {"status": result.status})
            log.info("webhook_delivered", webhookId=webhook_id, status=result.status,
                     latencyMs=result.latency_ms)
            delivered.append(webhook_id)
        if skipped:
            metrics.note(duplicates=len(skipped))
        if failure is not None:
            raise failure
        return {"delivered": len(delivered), "skipped": len(skipped)}
