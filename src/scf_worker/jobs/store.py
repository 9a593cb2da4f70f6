"""Job records, the event outbox and the durable queue, on the SQL state store."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from scf_worker.jobs.model import Job, Resource
from scf_worker.state.sql import Database, Row, Transaction

Clock = Callable[[], float]
WEBHOOK_TOPIC = "webhook-forward"


@dataclass(frozen=True)
class QueueMessage:
    """A leased queue message; ``attempts`` counts deliveries including this one."""

    id: int
    topic: str
    payload: dict[str, Any]
    attempts: int
    dedupe_key: str | None


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


class JobStore:
    """Job rows, events and queue messages; every write can join a caller's transaction."""

    def __init__(self, db: Database, clock: Clock = time.time) -> None:
        self.db = db
        self.clock = clock

    # Jobs

    def insert_job(self, tx: Transaction, job: Job) -> bool:
        """Insert a job unless one with the same id exists; return whether it was new."""
        now = self.clock()
        inserted = tx.insert(
            "INSERT OR IGNORE INTO jobs (id, type, status, attempts, resource, params, result,"
            " error, parent_id, request_id, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (job.id, job.type, job.status, job.attempts, json.dumps(asdict(job.resource)),
             json.dumps(job.params), json.dumps(job.result) if job.result else None, job.error,
             job.parent_id, job.request_id, now, now),
        )
        job.created_at = job.updated_at = now
        return inserted is not None

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

    def list_events(self) -> list[dict[str, Any]]:
        rows = self.db.query("SELECT payload FROM events ORDER BY id")
        return [json.loads(r["payload"]) for r in rows]

    # Queue

    def enqueue(self, tx: Transaction, topic: str, payload: dict[str, Any],
                dedupe_key: str | None = None, delay_ms: int = 0, attempts_made: int = 0) -> bool:
        """Queue a payload; ``attempts_made`` carries over attempts from an earlier delivery."""
        now = self.clock()
        inserted = tx.insert(
            "INSERT OR IGNORE INTO queue (topic, payload, dedupe_key, status, attempts, due_at,"
            " created_at) VALUES (?, ?, ?, 'ready', ?, ?, ?)",
            (topic, json.dumps(payload, ensure_ascii=False), dedupe_key, attempts_made,
             now + delay_ms / 1000, now),
        )
        return inserted is not None

    def lease(self, lease_seconds: float, topics: tuple[str, ...] | None = None) -> QueueMessage | None:
        """Take the oldest due message, or one whose lease expired, and lease it."""
        now = self.clock()
        topic_filter = ""
        params: list[Any] = [now, now]
        if topics:
            topic_filter = f" AND topic IN ({', '.join('?' for _ in topics)})"
            params.extend(topics)
        with self.db.transaction() as tx:
            # topic_filter holds only placeholders; the topic names travel as parameters.
            rows = tx.query(
                "SELECT * FROM queue WHERE ((status = 'ready' AND due_at <= ?)"  # noqa: S608
                " OR (status = 'leased' AND lease_until <= ?))" + topic_filter +
                " ORDER BY due_at, id LIMIT 1" + self.db.lock_rows,
                params,
            )
            if not rows:
                return None
            row = rows[0]
            tx.execute(
                "UPDATE queue SET status = 'leased', lease_until = ?, attempts = attempts + 1"
                " WHERE id = ?",
                (now + lease_seconds, row["id"]),
            )
        return QueueMessage(row["id"], row["topic"], json.loads(row["payload"]),
                            row["attempts"] + 1, row["dedupe_key"])

    def ack(self, tx: Transaction, message: QueueMessage) -> None:
        tx.execute("UPDATE queue SET status = 'done', lease_until = NULL WHERE id = ?", (message.id,))

    def reschedule(self, message: QueueMessage, delay_ms: int, error: str) -> None:
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE queue SET status = 'ready', lease_until = NULL, due_at = ?, last_error = ?"
                " WHERE id = ?",
                (self.clock() + delay_ms / 1000, error[:1000], message.id),
            )

    def next_due_at(self) -> float | None:
        rows = self.db.query(
            "SELECT MIN(CASE WHEN status = 'ready' THEN due_at ELSE lease_until END) AS due"
            " FROM queue WHERE status IN ('ready', 'leased')"
        )
        return rows[0]["due"] if rows and rows[0]["due"] is not None else None

    # Dead letters

    def dead_letter(self, tx: Transaction, function: str, job_type: str, payload: dict[str, Any],
                    attempts: int, error: str, idempotency_key: str | None = None) -> None:
        now = self.clock()
        tx.execute(
            "INSERT INTO scf_dlq (function, job_type, idempotency_key, payload, attempts,"
            " first_error, last_error, first_failed_at, last_failed_at, status)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
            (function, job_type, idempotency_key, json.dumps(payload, ensure_ascii=False), attempts,
             error[:1000], error[:1000], now, now),
        )

    def list_dead_letters(self) -> list[Row]:
        return self.db.query("SELECT * FROM scf_dlq ORDER BY id")
