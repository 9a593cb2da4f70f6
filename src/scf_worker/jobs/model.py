"""Jobs and the ``SCF_JOB_*`` event contract."""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = 1

EVENT_SCHEDULED = "SCF_JOB_SCHEDULED"
EVENT_DONE = "SCF_JOB_DONE"
EVENT_FAILED = "SCF_JOB_FAILED"
EVENT_NAMES = (EVENT_SCHEDULED, EVENT_DONE, EVENT_FAILED)

TYPE_UPLOAD = "media.upload"
TYPE_TRANSCODE = "media.transcode"

STATUS_SCHEDULED = "scheduled"
STATUS_RUNNING = "running"
STATUS_DONE = "done"
STATUS_FAILED = "failed"
STATUS_REJECTED = "rejected"


@dataclass(frozen=True)
class Resource:
    """The object a job works on."""

    bucket: str
    key: str
    mime: str | None = None


@dataclass
class Job:
    """One unit of work with its status and attempt count."""

    id: str
    type: str
    status: str
    resource: Resource
    attempts: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: str | None = None
    parent_id: str | None = None
    request_id: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0


def job_id_for(job_type: str, idempotency_key: str) -> str:
    """Derive a stable job id, so the same work always gets the same id."""
    digest = hashlib.sha256(f"{job_type}\n{idempotency_key}".encode()).hexdigest()[:20]
    return f"{job_type.replace('.', '-')}-{digest}"


def iso_utc(epoch_seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_seconds))


def build_event(
    name: str,
    job: Job,
    at: float,
    duration_ms: int | None = None,
    data: dict[str, Any] | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """Build an ``SCF_JOB_*`` event; see docs/scf-contracts.md for every field."""
    if name not in EVENT_NAMES:
        raise ValueError(f"unknown event name {name!r}")
    event: dict[str, Any] = {
        "schemaVersion": SCHEMA_VERSION,
        "event": name,
        "jobId": job.id,
        "type": job.type,
        "status": job.status,
        "resource": asdict(job.resource),
        "metrics": {"durationMs": duration_ms or 0, "attempts": job.attempts},
        "at": iso_utc(at),
    }
    if job.request_id:
        event["requestId"] = job.request_id
    if job.parent_id:
        event["parentJobId"] = job.parent_id
    if reason:
        event["reason"] = reason
    if data:
        event["data"] = data
    return event
