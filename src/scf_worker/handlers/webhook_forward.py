"""webhook-forward (queue, async or timer): deliver one SCF_JOB_* event to the configured endpoints."""

from __future__ import annotations

from typing import Any

from scf_worker.app import Services
from scf_worker.jobs.entry import job_function
from scf_worker.observability.logging import get_logger
from scf_worker.runtime.invocation import Invocation
from scf_worker.state.errors import StateError
from scf_worker.webhooks.forwarder import Forwarder

JOB_TYPE = "webhook.forward"
EXTENSION_KEY = "webhooks.forwarder"
log = get_logger(__name__)


def forwarder_for(services: Services) -> Forwarder:
    """Return the instance's forwarder, built on first use so its connection pool stays warm."""
    forwarder = services.extensions.get(EXTENSION_KEY)
    if forwarder is None:
        forwarder = Forwarder(services.settings, services.db, services.idempotency, services.clock)
        services.extensions[EXTENSION_KEY] = forwarder
    assert isinstance(forwarder, Forwarder)
    return forwarder


def event_key(payload: Any) -> str | None:
    """One event of one job is one piece of work: ``SCF_JOB_DONE:<jobId>``."""
    if isinstance(payload, dict) and payload.get("event") and payload.get("jobId"):
        return f"{payload['event']}:{payload['jobId']}"
    return None


def run(services: Services, payload: Any, invocation: Invocation) -> dict[str, Any]:
    return forwarder_for(services).forward(payload)


def prune_deliveries(services: Services) -> None:
    """Delete delivery attempts older than WEBHOOK_DELIVERIES_RETENTION_DAYS, a batch per tick."""
    days = services.settings.webhook_deliveries_retention_days
    if days == 0:
        return
    from scf_worker.webhooks.deliveries import DeliveryLog

    try:
        deleted = DeliveryLog(services.db).prune(services.clock() - days * 86_400)
    except StateError as exc:
        # Housekeeping only: the next tick tries again, and deliveries are unaffected.
        log.warning("webhook_deliveries_prune_failed", error=str(exc))
        return
    if deleted:
        log.info("webhook_deliveries_pruned", deleted=deleted, retentionDays=days)


main_handler = job_function("webhook-forward", JOB_TYPE, run, key_of=event_key, on_timer=prune_deliveries)
