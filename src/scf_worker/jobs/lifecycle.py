"""Job state changes with their ``SCF_JOB_*`` events, each in one transaction."""

from __future__ import annotations

import time
from typing import Any

from scf_worker.jobs.ledger import effect_transaction
from scf_worker.jobs.model import (
    EVENT_DONE,
    EVENT_FAILED,
    STATUS_DONE,
    STATUS_FAILED,
    STATUS_RUNNING,
    Job,
    build_event,
)
from scf_worker.jobs.store import JobStore
from scf_worker.retry.policy import PermanentError


def begin(jobs: JobStore, job_id: str) -> Job | None:
    """Mark a job running and count the attempt; return None when it already finished."""
    job = jobs.get_job(job_id)
    if job is None:
        raise PermanentError("job_not_found", f"job {job_id} does not exist")
    if job.status in (STATUS_DONE, STATUS_FAILED):
        return None
    job.status = STATUS_RUNNING
    job.attempts += 1
    with jobs.db.transaction() as tx:
        jobs.update_job(tx, job)
    return job


def finish(jobs: JobStore, job: Job, result: dict[str, Any], started_monotonic: float) -> None:
    """Mark the job done and emit SCF_JOB_DONE, completing the work claim in the same transaction."""
    job.status = STATUS_DONE
    job.result = result
    job.error = None
    duration_ms = int((time.monotonic() - started_monotonic) * 1000)
    with effect_transaction(jobs.db) as tx:
        jobs.update_job(tx, job)
        jobs.emit(tx, build_event(EVENT_DONE, job, jobs.clock(), duration_ms, data=result))


def fail(jobs: JobStore, job_id: str, reason: str) -> None:
    """Mark a job failed with its reason and emit SCF_JOB_FAILED (once)."""
    job = jobs.get_job(job_id)
    if job is None or job.status == STATUS_DONE:
        return
    job.status = STATUS_FAILED
    job.error = reason
    with jobs.db.transaction() as tx:
        jobs.update_job(tx, job)
        jobs.emit(tx, build_event(EVENT_FAILED, job, jobs.clock(), reason=reason))
