"""webhook-forward (queue, async or timer): deliver one SCF_JOB_* event to the configured endpoints."""

from __future__ import annotations

from typing import Any

from scf_worker.app import Services
from scf_worker.jobs.entry import job_function
from scf_worker.runtime.invocation import Invocation
from scf_worker.webhooks.forwarder import Forwarder

JOB_TYPE = "webhook.forward"
EXTENSION_KEY = "webhooks.forwarder"


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


main_handler = job_function("webhook-forward", JOB_TYPE, run, key_of=event_key)
