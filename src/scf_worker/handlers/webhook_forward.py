"""webhook-forward (queue or async): deliver one SCF_JOB_* event to the configured endpoints."""

from __future__ import annotations

from typing import Any

from scf_worker.app import Services
from scf_worker.jobs.entry import job_function
from scf_worker.runtime.invocation import Invocation
from scf_worker.webhooks.forwarder import Forwarder

JOB_TYPE = "webhook.forward"


def event_key(payload: Any) -> str | None:
    """One event of one job is one piece of work: ``SCF_JOB_DONE:<jobId>``."""
    if isinstance(payload, dict) and payload.get("event") and payload.get("jobId"):
        return f"{payload['event']}:{payload['jobId']}"
    return None


def run(services: Services, payload: Any, invocation: Invocation) -> dict[str, Any]:
    return Forwarder(services.settings, services.idempotency, services.clock).forward(payload)


main_handler = job_function("webhook-forward", JOB_TYPE, run, key_of=event_key)
