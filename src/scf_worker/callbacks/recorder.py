"""Record an upload exactly once and schedule its work, in one SQL transaction.

The unique ``job_key`` on ``media_jobs`` (a hash of bucket, object key and
ETag) decides which delivery wins. The upload job, its ``SCF_JOB_DONE``
event, the transcode job, its ``SCF_JOB_SCHEDULED`` event and the queue
messages are written in the same transaction, so a crash can never leave a
recorded upload without its scheduled work (an outbox). A rejected upload is
recorded the same way with ``SCF_JOB_FAILED`` and no transcode job.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol

from scf_worker.idempotency.sql import Beside
from scf_worker.jobs.model import (
    EVENT_DONE,
    EVENT_FAILED,
    EVENT_SCHEDULED,
    STATUS_DONE,
    STATUS_REJECTED,
    STATUS_SCHEDULED,
    TYPE_TRANSCODE,
    TYPE_UPLOAD,
    Job,
    Resource,
    build_event,
    job_id_for,
)
from scf_worker.jobs.store import JobStore
from scf_worker.state.sql import Row, Transaction

TRANSCODE_TOPIC = "transcode"
RECORD_RECORDED = "recorded"
RECORD_REJECTED = "rejected"


@dataclass(frozen=True)
class VerifiedUpload:
    """An object that exists, with the key and ETag a HEAD confirmed."""

    bucket: str
    key: str
    etag: str
    size: int
    mime: str | None


@dataclass(frozen=True)
class RecordOutcome:
    """``status`` is ``recorded``, ``rejected`` or ``duplicate``; ``stored`` is the row's status."""

    status: str
    stored: str
    job_id: str
    transcode_job_id: str | None
    key: str
    etag: str
    reason: str | None = None


class UploadRecorder(Protocol):
    """The store of upload records: the SQL state store or Redis."""

    def find(self, bucket: str, key: str, etag: str) -> RecordOutcome | None:
        """Return the stored record as a ``duplicate`` outcome, or None."""

    def record(self, upload: VerifiedUpload, request_id: str | None) -> RecordOutcome: ...

    def reject(self, upload: VerifiedUpload, reason: str, request_id: str | None) -> RecordOutcome: ...


def job_key_for(bucket: str, key: str, etag: str) -> str:
    """Return the unique upload key: a hash, so keys of any length fit the index."""
    return hashlib.sha256(f"{bucket}\n{key}\n{etag}".encode()).hexdigest()


def job_ids_for(job_key: str) -> tuple[str, str]:
    """Return the upload and transcode job ids of an upload, stable across deliveries."""
    return job_id_for(TYPE_UPLOAD, job_key), job_id_for(TYPE_TRANSCODE, job_key)


def upload_jobs(upload: VerifiedUpload, request_id: str | None, now: float,
                reason: str | None) -> tuple[list[Job], list[dict[str, Any]], str | None]:
    """Build the jobs and events one record writes: accepted (two jobs) or rejected (one)."""
    upload_id, transcode_id = job_ids_for(job_key_for(upload.bucket, upload.key, upload.etag))
    resource = Resource(upload.bucket, upload.key, upload.mime)
    facts = {"etag": upload.etag, "size": upload.size}
    if reason is not None:
        rejected = Job(upload_id, TYPE_UPLOAD, STATUS_REJECTED, resource, attempts=1,
                       request_id=request_id, result=facts, error=reason)
        return [rejected], [build_event(EVENT_FAILED, rejected, now, data=facts, reason=reason)], None

    done = Job(upload_id, TYPE_UPLOAD, STATUS_DONE, resource, attempts=1, request_id=request_id,
               result=facts)
    transcode = Job(transcode_id, TYPE_TRANSCODE, STATUS_SCHEDULED, resource, parent_id=upload_id,
                    request_id=request_id)
    events = [build_event(EVENT_DONE, done, now, data=facts),
              build_event(EVENT_SCHEDULED, transcode, now)]
    return [done, transcode], events, transcode_id


def planned_outcome(upload: VerifiedUpload, reason: str | None) -> RecordOutcome:
    """Return what recording the upload returns when its record is the first for it."""
    upload_id, transcode_id = job_ids_for(job_key_for(upload.bucket, upload.key, upload.etag))
    status = RECORD_REJECTED if reason else RECORD_RECORDED
    return RecordOutcome(status, status, upload_id, None if reason else transcode_id,
                         upload.key, upload.etag, reason)


def _outcome_from_row(row: Row, status: str) -> RecordOutcome:
    upload_id, transcode_id = job_ids_for(row["job_key"])
    recorded = row["status"] == RECORD_RECORDED
    return RecordOutcome(status, row["status"], upload_id, transcode_id if recorded else None,
                         row["object_key"], row["etag"], row["reason"])


class SqlUploadRecorder:
    """Upload records in ``media_jobs`` next to the jobs, events and queue tables."""

    def __init__(self, jobs: JobStore) -> None:
        self.jobs = jobs

    def find(self, bucket: str, key: str, etag: str) -> RecordOutcome | None:
        rows = self.jobs.db.query(
            "SELECT job_key, object_key, etag, status, reason FROM media_jobs WHERE job_key = ?",
            (job_key_for(bucket, key, etag),),
        )
        return _outcome_from_row(rows[0], "duplicate") if rows else None

    @staticmethod
    def beside(bucket: str, key: str, etag: str) -> Beside:
        """Describe the row ``find`` reads, so an idempotency lookup can read it in its own query."""
        return Beside("media_jobs", "job_key", job_key_for(bucket, key, etag),
                      ("job_key", "object_key", "etag", "status", "reason"))

    @staticmethod
    def found(row: Row | None) -> RecordOutcome | None:
        """Return what ``find`` returns, from the row read through ``beside``."""
        return _outcome_from_row(row, "duplicate") if row is not None else None

    def record(self, upload: VerifiedUpload, request_id: str | None) -> RecordOutcome:
        return self._write(upload, None, request_id)

    def reject(self, upload: VerifiedUpload, reason: str, request_id: str | None) -> RecordOutcome:
        return self._write(upload, reason, request_id)

    def _write(self, upload: VerifiedUpload, reason: str | None,
               request_id: str | None) -> RecordOutcome:
        with self.jobs.db.transaction() as tx:
            return self.write_in(tx, upload, reason, request_id)

    def write_in(self, tx: Transaction, upload: VerifiedUpload, reason: str | None,
                 request_id: str | None) -> RecordOutcome:
        """Record the upload inside ``tx``: accepted when ``reason`` is None, else rejected.

        Four statements for a new upload: the record, then the jobs, the events and the
        queue messages, each as one multi-row INSERT.
        """
        job_key = job_key_for(upload.bucket, upload.key, upload.etag)
        upload_id, _ = job_ids_for(job_key)
        status = RECORD_REJECTED if reason else RECORD_RECORDED
        now = self.jobs.clock()
        inserted = tx.insert(
            "INSERT OR IGNORE INTO media_jobs (job_key, job_id, bucket, object_key, etag, size,"
            " mime, status, reason, request_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (job_key, upload_id, upload.bucket, upload.key, upload.etag, upload.size, upload.mime,
             status, reason, request_id, now),
        )
        if inserted is None:
            return self._existing(tx, job_key)
        jobs, events, transcode_id = upload_jobs(upload, request_id, now, reason)
        self.jobs.insert_new_jobs(tx, jobs, now)
        transcode = ([(TRANSCODE_TOPIC, {"jobId": transcode_id}, transcode_id)]
                     if transcode_id is not None else [])
        self.jobs.emit_new(tx, events, now, transcode)
        return RecordOutcome(status, status, upload_id, transcode_id, upload.key, upload.etag, reason)

    @staticmethod
    def _existing(tx: Transaction, job_key: str) -> RecordOutcome:
        row = tx.query("SELECT job_key, object_key, etag, status, reason FROM media_jobs"
                       " WHERE job_key = ?", (job_key,))[0]
        return _outcome_from_row(row, "duplicate")
