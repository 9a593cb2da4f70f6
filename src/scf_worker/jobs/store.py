"""Job records and the event outbox on the SQL state store."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from scf_worker.jobs.model import Job, Resource
from scf_worker.queue.sql import insert_message, insert_messages
from scf_worker.state.sql import Database, Row, Transaction

Clock = Callable[[], float]
WEBHOOK_TOPIC = "webhook-forward"


def _job_from_row(row: Row) -> Job:
    return Job(
        id=row["id"],
        type=row["type"],
        status=row["status"],
        resource=Resource(**json.loads(row["resource"])),
        attempts=row["attempts"],
        params=json.loads(row["params"] or "{}"),
        result=json.loads(row["result"]) if row["result"] else None,
        error=row["error"],
        parent_id=row["parent_id"],
        request_id=row["request_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


_INSERT_JOBS = ("INSERT OR IGNORE INTO jobs (id, type, status, attempts, resource, params, result,"
                " error, parent_id, request_id, created_at, updated_at) VALUES ")
_JOB_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


def _job_values(job: Job, now: float) -> list[Any]:
    """Return a job's row for ``_INSERT_JOBS`` and stamp it as created at ``now``."""
    job.created_at = job.updated_at = now
    return [job.id, job.type, job.status, job.attempts, json.dumps(asdict(job.resource)),
            json.dumps(job.params), json.dumps(job.result) if job.result else None, job.error,
            job.parent_id, job.request_id, now, now]


class JobStore:
    """Job rows, events and outbox messages; every write can join a caller's transaction."""

    def __init__(self, db: Database, clock: Clock = time.time) -> None:
        self.db = db
        self.clock = clock

    # Jobs

    def insert_job(self, tx: Transaction, job: Job) -> bool:
        """Insert a job unless one with the same id exists; return whether it was new."""
        inserted = tx.insert(_INSERT_JOBS + _JOB_ROW, _job_values(job, self.clock()))
        return inserted is not None

    def insert_new_jobs(self, tx: Transaction, jobs: list[Job], now: float) -> None:
        """Insert jobs whose ids are new (derived from a key ``tx`` just inserted), in one statement."""
        params = [value for job in jobs for value in _job_values(job, now)]
        # The statement is built from placeholders only, and every value travels as a parameter.
        tx.execute(_INSERT_JOBS + ", ".join(_JOB_ROW for _ in jobs), params)

    def get_job(self, job_id: str) -> Job | None:
        rows = self.db.query("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return _job_from_row(rows[0]) if rows else None

    def list_jobs(self) -> list[Job]:
        return [_job_from_row(r) for r in self.db.query("SELECT * FROM jobs ORDER BY created_at, id")]

    def update_job(self, tx: Transaction, job: Job) -> None:
        job.updated_at = self.clock()
        tx.execute(
            "UPDATE jobs SET status = ?, attempts = ?, result = ?, error = ?, updated_at = ?"
            " WHERE id = ?",
            (job.status, job.attempts, json.dumps(job.result) if job.result else None, job.error,
             job.updated_at, job.id),
        )

    # Events (the outbox): stored once per (name, job), then queued for webhook-forward.

    def emit(self, tx: Transaction, event: dict[str, Any]) -> bool:
        inserted = tx.insert(
            "INSERT OR IGNORE INTO events (name, job_id, payload, created_at) VALUES (?, ?, ?, ?)",
            (event["event"], event["jobId"], json.dumps(event, ensure_ascii=False), self.clock()),
        )
        if inserted is None:
            return False
        self.enqueue(tx, WEBHOOK_TOPIC, event, dedupe_key=f"{event['event']}:{event['jobId']}")
        return True

    def emit_new(self, tx: Transaction, events: list[dict[str, Any]], now: float,
                 extra: Sequence[tuple[str, dict[str, Any], str | None]] = ()) -> None:
        """Store and queue events of jobs that ``tx`` just created, plus ``extra`` messages.

        Two statements whatever the count. Unlike ``emit``, it queues each event without
        checking that the event row was new, because a new job has neither yet.
        """
        rows = ", ".join("(?, ?, ?, ?)" for _ in events)
        params: list[Any] = []
        for event in events:
            params += [event["event"], event["jobId"], json.dumps(event, ensure_ascii=False), now]
        # rows contains only placeholders, and every value travels as a parameter.
        tx.execute("INSERT OR IGNORE INTO events (name, job_id, payload, created_at)"  # noqa: S608
                   " VALUES " + rows, params)
        insert_messages(tx, now, [(WEBHOOK_TOPIC, event, f"{event['event']}:{event['jobId']}")
                                  for event in events] + list(extra))

    def list_events(self) -> list[dict[str, Any]]:
        rows = self.db.query("SELECT payload FROM events ORDER BY id")
        return [json.loads(r["payload"]) for r in rows]

    # Queue

    def enqueue(self, tx: Transaction, topic: str, payload: dict[str, Any],
                dedupe_key: str | None = None, delay_ms: int = 0, attempts_made: int = 0) -> bool:
        """Write a message to the ``queue`` table inside ``tx`` (the outbox).

        With the SQL transport workers lease it from there; with AMQP the worker
        relays it to the broker first. ``attempts_made`` carries over attempts
        from an earlier delivery.
        """
        return insert_message(tx, self.clock(), topic, payload, dedupe_key, delay_ms, attempts_made)
