"""reconcile: find uploads the pipeline lost and jobs that stopped moving, and drive them on.

Two kinds of findings:

- orphans: objects under the upload prefix with no upload record, because the
  COS event never reached cos-callback (SCF drops an async event after its
  retries when no dead-letter target is set). Each is recorded through
  the upload recorder (``SqlUploadRecorder.record``), the path a delivered event takes, so a late event or a
  second reconcile run records nothing more.
- stuck transcode jobs: ``scheduled`` with no queue message, ``running`` with
  no queue message for longer than a transcode may run, or leased to a
  consumer whose lease expired. The first two kinds get a new queue message,
  or are failed and dead-lettered when their attempts are spent. An expired
  lease is released, so the message is delivered again. Running a job twice
  is harmless, because the transcode function skips jobs that already finished.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scf_worker.batch.config import MANIFEST_SUFFIXES, REPORT_SUFFIX, BatchSettings
from scf_worker.batch.control import NO_DEADLINE, Deadline, NullProgress, Progress, run_bounded
from scf_worker.batch.manifest import key_problem
from scf_worker.callbacks.recorder import TRANSCODE_TOPIC, SqlUploadRecorder, VerifiedUpload
from scf_worker.jobs.model import (
    EVENT_FAILED,
    STATUS_FAILED,
    STATUS_RUNNING,
    STATUS_SCHEDULED,
    TYPE_TRANSCODE,
    build_event,
)
from scf_worker.jobs.store import JobStore
from scf_worker.observability.logging import get_logger
from scf_worker.retry.classify import PERMANENT, Failure
from scf_worker.retry.deadletter import DeadLetter
from scf_worker.retry.dlq_sql import SqlDeadLetterStore
from scf_worker.retry.policy import RetryPolicy
from scf_worker.runtime.config import Settings
from scf_worker.storage.base import ObjectStore

log = get_logger(__name__)
# Keys per ``IN (...)`` lookup of upload records.
LOOKUP_BATCH = 500

LOST_MESSAGE = "lost_message"
STALE_RUNNING = "stale_running"
LEASE_EXPIRED = "lease_expired"
ATTEMPTS_EXHAUSTED = "attempts_exhausted"


@dataclass(frozen=True)
class StuckJob:
    """A transcode job that will not move on by itself, and why."""

    job_id: str
    kind: str
    status: str
    attempts: int
    updated_at: float
    message_id: int | None = None


@dataclass
class ReconcileSummary:
    """Counts and findings of one reconcile run."""

    dry_run: bool
    scanned_objects: int = 0
    orphans: int = 0
    recorded: int = 0
    raced: int = 0
    deleted: int = 0
    stuck_jobs: int = 0
    requeued: int = 0
    released: int = 0
    failed_jobs: int = 0
    complete: bool = True
    duration_ms: int = 0
    orphan_keys: list[str] = field(default_factory=list)
    stuck: list[StuckJob] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Return the numbers only, flat, as the metric line carries them."""
        return {"scannedObjects": self.scanned_objects, "orphans": self.orphans,
                "recorded": self.recorded, "raced": self.raced, "deleted": self.deleted,
                "stuckJobs": self.stuck_jobs, "requeued": self.requeued, "released": self.released,
                "failedJobs": self.failed_jobs, "complete": int(self.complete),
                "dryRun": int(self.dry_run), "durationMs": self.duration_ms}

    def as_json(self) -> dict[str, Any]:
        return {**self.counts(), "complete": self.complete, "dryRun": self.dry_run,
                "orphanKeys": self.orphan_keys,
                "stuck": [{"jobId": s.job_id, "kind": s.kind, "status": s.status,
                           "attempts": s.attempts} for s in self.stuck]}


class Reconciler:
    """Scan the bucket and the job tables; record orphans and move stuck jobs."""

    def __init__(self, settings: Settings, batch: BatchSettings, jobs: JobStore, store: ObjectStore,
                 retry_policy: RetryPolicy, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.batch = batch
        self.jobs = jobs
        self.store = store
        self.retry_policy = retry_policy
        self.clock = clock
        self._lock = " FOR UPDATE" if jobs.db.dialect == "mysql" else ""

    @property
    def bucket(self) -> str:
        return self.settings.cos_bucket

    # Finding

    def find_orphans(self) -> tuple[int, list[str]]:
        """Return how many objects were scanned and the keys that have no upload record."""
        # NOTE: every run lists the whole prefix. That suits buckets up to some hundred
        # thousand uploads; beyond that, narrow RECONCILE_PREFIX (for example by day).
        keys = [key for key in self.store.list_keys(self.bucket, self.batch.reconcile_prefix)
                if self._is_upload(key)]
        recorded: set[str] = set()
        for start in range(0, len(keys), LOOKUP_BATCH):
            part = keys[start:start + LOOKUP_BATCH]
            marks = ", ".join("?" for _ in part)
            rows = self.jobs.db.query(
                # marks holds only placeholders; the keys travel as parameters.
                "SELECT DISTINCT object_key FROM media_jobs WHERE bucket = ?"  # noqa: S608
                f" AND object_key IN ({marks})",
                (self.bucket, *part),
            )
            recorded.update(row["object_key"] for row in rows)
        return len(keys), [key for key in keys if key not in recorded]

    def _is_upload(self, key: str) -> bool:
        """Leave out what the pipeline writes itself, and keys cos-callback would reject."""
        if key.startswith((self.settings.output_prefix, self.batch.manifest_prefix)):
            return False
        if key.endswith(REPORT_SUFFIX) or (key.startswith(self.batch.manifest_prefix)
                                           and key.endswith(MANIFEST_SUFFIXES)):
            return False
        return key_problem(key) is None

    def find_stuck(self) -> list[StuckJob]:
        """Return transcode jobs that need a push, by the rules in the module docstring."""
        now = self.clock()
        live = self._queue_messages()
        stuck = []
        rows = self.jobs.db.query(
            "SELECT id, status, attempts, updated_at FROM jobs WHERE type = ? AND status IN (?, ?)"
            " ORDER BY created_at, id",
            (TYPE_TRANSCODE, STATUS_SCHEDULED, STATUS_RUNNING),
        )
        for row in rows:
            kind, message_id = self._classify(row, live.get(row["id"], []), now)
            if kind is not None:
                stuck.append(StuckJob(row["id"], kind, row["status"], row["attempts"], row["updated_at"],
                                      message_id))
        return stuck

    def _queue_messages(self) -> dict[str, list[dict[str, Any]]]:
        """Group the transcode topic's ready and leased messages by the job they carry."""
        rows = self.jobs.db.query(
            "SELECT id, payload, status, lease_until FROM queue"
            " WHERE topic = ? AND status IN ('ready', 'leased')",
            (TRANSCODE_TOPIC,),
        )
        by_job: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            try:
                job_id = json.loads(row["payload"]).get("jobId")
            except (ValueError, AttributeError):
                continue
            if isinstance(job_id, str):
                by_job.setdefault(job_id, []).append(row)
        return by_job

    def _classify(self, job: dict[str, Any], messages: list[dict[str, Any]],
                  now: float) -> tuple[str | None, int | None]:
        if any(m["status"] == "ready" or (m["lease_until"] or 0) > now for m in messages):
            return None, None
        if messages:
            return LEASE_EXPIRED, int(messages[0]["id"])
        if job["status"] == STATUS_SCHEDULED:
            return LOST_MESSAGE, None
        if now - job["updated_at"] < self.batch.running_lease_seconds:
            return None, None
        if not self.retry_policy.should_retry(job["attempts"]):
            return ATTEMPTS_EXHAUSTED, None
        return STALE_RUNNING, None

    # Running

    def run(self, dry_run: bool = False, deadline: Deadline = NO_DEADLINE, progress: Progress | None = None,
            concurrency: int | None = None, request_id: str | None = None) -> ReconcileSummary:
        """Find orphans and stuck jobs and, unless ``dry_run``, drive each on once."""
        started = time.monotonic()
        progress = progress or NullProgress()
        summary = ReconcileSummary(dry_run=dry_run)
        summary.scanned_objects, summary.orphan_keys = self.find_orphans()
        summary.stuck = self.find_stuck()
        summary.orphans, summary.stuck_jobs = len(summary.orphan_keys), len(summary.stuck)

        if not dry_run:
            progress.start(summary.orphans + summary.stuck_jobs)
            outcomes = run_bounded(lambda key: self._record_orphan(key, deadline, progress, request_id),
                                   summary.orphan_keys, concurrency or self.batch.reconcile_concurrency)
            for outcome in outcomes:
                self._count(summary, outcome)
            for job in summary.stuck:
                self._count(summary, self._push(job, deadline, progress))
            progress.finish()

        summary.duration_ms = int((time.monotonic() - started) * 1000)
        counts: dict[str, Any] = summary.counts()
        log.info("reconcile_finished", **counts)
        return summary

    @staticmethod
    def _count(summary: ReconcileSummary, outcome: str | None) -> None:
        if outcome is None:
            summary.complete = False
            return
        if outcome == "failed":
            summary.failed_jobs += 1
        else:
            setattr(summary, outcome, getattr(summary, outcome) + 1)

    def _record_orphan(self, key: str, deadline: Deadline, progress: Progress,
                       request_id: str | None) -> str | None:
        """Record one orphan; return ``recorded``, ``raced``, ``deleted``, or None when out of time."""
        if deadline.expired():
            return None
        info = self.store.head(self.bucket, key)
        if info is None:
            log.info("orphan_deleted", key=key)
            outcome = "deleted"
        else:
            upload = VerifiedUpload(self.bucket, key, info.etag, info.size, info.content_type)
            recorded = SqlUploadRecorder(self.jobs).record(upload, request_id)
            outcome = "recorded" if recorded.status == "recorded" else "raced"
            log.info("orphan_recorded", key=key, outcome=recorded.status, jobId=recorded.job_id,
                     transcodeJobId=recorded.transcode_job_id)
        progress.advance(outcome)
        return outcome

    def _push(self, job: StuckJob, deadline: Deadline, progress: Progress) -> str | None:
        """Move one stuck job on; return ``requeued``, ``released``, ``failed``, ``raced`` or None."""
        if deadline.expired():
            return None
        if job.kind == LEASE_EXPIRED:
            outcome = self._release(job)
        elif job.kind == ATTEMPTS_EXHAUSTED:
            outcome = self._fail(job)
        else:
            outcome = self._requeue(job)
        log.info("stuck_job_pushed", jobId=job.job_id, kind=job.kind, status=job.status,
                 attempts=job.attempts, outcome=outcome)
        progress.advance(outcome)
        return outcome

    def _release(self, job: StuckJob) -> str:
        now = self.clock()
        released = self.jobs.db.execute(
            "UPDATE queue SET status = 'ready', lease_until = NULL, due_at = ?"
            " WHERE id = ? AND status = 'leased' AND lease_until <= ?",
            (now, job.message_id, now),
        )
        return "released" if released else "raced"

    def _unchanged(self, tx: Any, job: StuckJob) -> bool:
        """Tell whether the job is still as found, inside the transaction that acts on it."""
        rows = tx.query("SELECT status, updated_at FROM jobs WHERE id = ?" + self._lock,  # noqa: S608
                        (job.job_id,))
        return bool(rows) and rows[0]["status"] == job.status and rows[0]["updated_at"] == job.updated_at

    def _requeue(self, job: StuckJob) -> str:
        # The dedupe key names the job's state version, so two reconcilers that found
        # the same stuck job insert one message between them.
        dedupe_key = f"{job.job_id}:recover:{job.updated_at:.6f}"
        with self.jobs.db.transaction() as tx:
            if not self._unchanged(tx, job):
                return "raced"
            inserted = self.jobs.enqueue(tx, TRANSCODE_TOPIC, {"jobId": job.job_id}, dedupe_key=dedupe_key,
                                         attempts_made=job.attempts)
        return "requeued" if inserted else "raced"

    def _fail(self, job: StuckJob) -> str:
        stored = self.jobs.get_job(job.job_id)
        if stored is None:
            return "raced"
        reason = (f"attempts exhausted: attempt {job.attempts} stopped without recording a result"
                  " (timeout or crash)")
        stored.status, stored.error = STATUS_FAILED, reason
        with self.jobs.db.transaction() as tx:
            if not self._unchanged(tx, job):
                return "raced"
            self.jobs.update_job(tx, stored)
            self.jobs.emit(tx, build_event(EVENT_FAILED, stored, self.clock(), reason=reason))
            failure = Failure(PERMANENT, "attempts_exhausted", "StuckJob", reason, at=self.clock())
            # NOTE: written to the scf_dlq table in the same transaction as the job's failure;
            # with QUEUE_URL=amqp:// the replay CLI reads the AMQP dead-letter queue instead.
            SqlDeadLetterStore(self.jobs.db, self.clock).add_in(tx, DeadLetter(
                TRANSCODE_TOPIC, TYPE_TRANSCODE, job.job_id, {"jobId": job.job_id}, job.attempts,
                failure, failure))
        return "failed"
