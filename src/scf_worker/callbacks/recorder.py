"""Record an upload exactly once and schedule its work, in one transaction.

The unique ``job_key`` (bucket, object key and ETag) on ``media_jobs`` decides
which delivery wins; the upload job, its ``SCF_JOB_DONE`` event, the transcode
job and its queue message are written in the same transaction, so a crash can
never leave a recorded upload without its scheduled work (an outbox).
"""

from __future__ import annotations

from dataclasses import dataclass

from scf_worker.callbacks.notices import UploadNotice
from scf_worker.jobs.model import (
    EVENT_DONE,
    EVENT_SCHEDULED,
    STATUS_DONE,
    STATUS_SCHEDULED,
    TYPE_TRANSCODE,
    TYPE_UPLOAD,
    Job,
    Resource,
    build_event,
    job_id_for,
)
from scf_worker.jobs.store import JobStore

TRANSCODE_TOPIC = "transcode"


@dataclass(frozen=True)
class RecordOutcome:
    """``recorded`` for the first delivery, ``duplicate`` for any later one."""

    status: str
    job_id: str
    transcode_job_id: str | None
    key: str
    etag: str


def job_key_of(notice: UploadNotice) -> str:
    return f"{notice.bucket}/{notice.key}#{notice.etag}"


def record_upload(jobs: JobStore, notice: UploadNotice, request_id: str | None) -> RecordOutcome:
    if notice.etag is None:
        raise ValueError("notice has no ETag; HEAD the object first")
    job_key = job_key_of(notice)
    upload_id = job_id_for(TYPE_UPLOAD, job_key)
    transcode_id = job_id_for(TYPE_TRANSCODE, job_key)
    resource = Resource(notice.bucket, notice.key, notice.mime)
    now = jobs.clock()

    with jobs.db.transaction() as tx:
        inserted = tx.insert(
            "INSERT OR IGNORE INTO media_jobs (job_key, job_id, bucket, object_key, etag, size,"
            " mime, status, request_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'recorded', ?, ?)",
            (job_key, upload_id, notice.bucket, notice.key, notice.etag, notice.size, notice.mime,
             request_id, now),
        )
        if inserted is None:
            return RecordOutcome("duplicate", upload_id, transcode_id, notice.key, notice.etag)

        upload = Job(upload_id, TYPE_UPLOAD, STATUS_DONE, resource, attempts=1,
                     request_id=request_id, result={"size": notice.size, "etag": notice.etag})
        jobs.insert_job(tx, upload)
        jobs.emit(tx, build_event(EVENT_DONE, upload, now, data={"etag": notice.etag,
                                                                  "size": notice.size}))

        transcode = Job(transcode_id, TYPE_TRANSCODE, STATUS_SCHEDULED, resource,
                        parent_id=upload_id, request_id=request_id)
        jobs.insert_job(tx, transcode)
        jobs.emit(tx, build_event(EVENT_SCHEDULED, transcode, now))
        jobs.enqueue(tx, TRANSCODE_TOPIC, {"jobId": transcode_id}, dedupe_key=transcode_id)
    return RecordOutcome("recorded", upload_id, transcode_id, notice.key, notice.etag)
