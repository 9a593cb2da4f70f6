"""The queue on the SQL state store's ``queue`` table (SQLite or MySQL/MariaDB).

A lease is a conditional UPDATE that stamps a fresh ``lease_token``; ack and
retry only touch the row while that token is still on it, so a holder whose
lease expired and was taken over cannot ack or reschedule the new holder's run.
The same table is the outbox that job state changes write to in their own
transaction, which is why ``insert_message`` takes the caller's transaction.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from scf_worker.queue.base import Backlog, Delivery, worker_lost
from scf_worker.retry.classify import Failure
from scf_worker.runtime.ids import random_hex
from scf_worker.state.sql import Database, Row, Transaction

Clock = Callable[[], float]


def failure_to_json(failure: Failure | None) -> str | None:
    return json.dumps(failure.as_dict(), ensure_ascii=False) if failure is not None else None


def failure_from_json(raw: str | None) -> Failure | None:
    return Failure.from_dict(json.loads(raw)) if raw else None


def insert_message(tx: Transaction, now: float, topic: str, payload: dict[str, Any],
                   dedupe_key: str | None = None, delay_ms: int = 0, attempts_made: int = 0,
                   first_failure: Failure | None = None) -> bool:
    """Insert a ready message inside ``tx``; return False when ``dedupe_key`` exists."""
    inserted = tx.insert(
        "INSERT OR IGNORE INTO queue (topic, payload, dedupe_key, status, attempts, due_at,"
        " created_at, first_failure) VALUES (?, ?, ?, 'ready', ?, ?, ?, ?)",
        (topic, json.dumps(payload, ensure_ascii=False), dedupe_key, attempts_made,
         now + max(delay_ms, 0) / 1000, now, failure_to_json(first_failure)),
    )
    return inserted is not None


def insert_messages(tx: Transaction, now: float,
                    messages: Sequence[tuple[str, dict[str, Any], str | None]]) -> None:
    """Insert ready (topic, payload, dedupe_key) messages inside ``tx`` with one statement.

    A message whose ``dedupe_key`` exists is skipped, as in ``insert_message``.
    """
    if not messages:
        return
    rows = ", ".join("(?, ?, ?, 'ready', 0, ?, ?)" for _ in messages)
    params: list[Any] = []
    for topic, payload, dedupe_key in messages:
        params += [topic, json.dumps(payload, ensure_ascii=False), dedupe_key, now, now]
    # rows contains only placeholders, and every value travels as a parameter.
    tx.execute("INSERT OR IGNORE INTO queue (topic, payload, dedupe_key, status, attempts, due_at,"  # noqa: S608
               " created_at) VALUES " + rows, params)


def _placeholders(count: int) -> str:
    return ", ".join("?" for _ in range(count))


class SqlQueue:
    """The ``queue`` table as a transport; every method runs in its own transaction."""

    kind = "sql"

    def __init__(self, db: Database, clock: Clock = time.time) -> None:
        self.db = db
        self.clock = clock

    def publish(self, topic: str, payload: dict[str, Any], *, delay_ms: int = 0,
                attempts_made: int = 0, dedupe_key: str | None = None,
                first_failure: Failure | None = None) -> bool:
        with self.db.transaction() as tx:
            return insert_message(tx, self.clock(), topic, payload, dedupe_key, delay_ms,
                                  attempts_made, first_failure)

    def lease(self, topics: Sequence[str], lease_seconds: float) -> Delivery | None:
        now = self.clock()
        params: list[Any] = [now, now]
        topic_filter = ""
        if topics:
            topic_filter = f" AND topic IN ({_placeholders(len(topics))})"
            params.extend(topics)
        token = random_hex()
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
            last_failure = failure_from_json(row["last_failure"])
            if row["status"] == "leased":
                last_failure = worker_lost(now)
            tx.execute(
                "UPDATE queue SET status = 'leased', lease_until = ?, lease_token = ?,"
                " attempts = attempts + 1, last_failure = ? WHERE id = ?",
                (now + lease_seconds, token, failure_to_json(last_failure), row["id"]),
            )
        return self._delivery(row, token, last_failure)

    @staticmethod
    def _delivery(row: Row, token: str, last_failure: Failure | None) -> Delivery:
        first_failure = failure_from_json(row["first_failure"]) or last_failure
        return Delivery(str(row["id"]), row["topic"], json.loads(row["payload"]),
                        int(row["attempts"]) + 1, row["dedupe_key"], first_failure, last_failure,
                        token)

    def ack(self, delivery: Delivery) -> bool:
        with self.db.transaction() as tx:
            return self.ack_in(tx, delivery)

    def ack_in(self, tx: Transaction, delivery: Delivery) -> bool:
        """Ack inside a caller's transaction, so the ack commits with the caller's writes."""
        changed = tx.execute(
            "UPDATE queue SET status = 'done', lease_until = NULL, lease_token = NULL"
            " WHERE id = ? AND lease_token = ? AND status = 'leased'",
            (int(delivery.id), delivery.token),
        )
        return changed == 1

    def retry(self, delivery: Delivery, delay_ms: int, failure: Failure, attempts_made: int) -> bool:
        first_failure = delivery.first_failure or failure
        with self.db.transaction() as tx:
            changed = tx.execute(
                "UPDATE queue SET status = 'ready', lease_until = NULL, lease_token = NULL,"
                " due_at = ?, attempts = ?, last_error = ?, first_failure = ?, last_failure = ?"
                " WHERE id = ? AND lease_token = ? AND status = 'leased'",
                (self.clock() + max(delay_ms, 0) / 1000, attempts_made,
                 f"{failure.error_class}: {failure.message}", failure_to_json(first_failure),
                 failure_to_json(failure), int(delivery.id), delivery.token),
            )
        return changed == 1

    def release(self, delivery: Delivery) -> None:
        # Ending the lease now makes the next lease take the message as a lost run.
        self.db.execute(
            "UPDATE queue SET lease_until = ? WHERE id = ? AND lease_token = ? AND status = 'leased'",
            (self.clock(), int(delivery.id), delivery.token),
        )

    def backlog(self, topics: Sequence[str]) -> Backlog:
        now = self.clock()
        params: list[Any] = [now, now]
        topic_filter = ""
        if topics:
            topic_filter = f" AND topic IN ({_placeholders(len(topics))})"
            params.extend(topics)
        rows = self.db.query(
            "SELECT SUM(CASE WHEN status = 'ready' AND due_at <= ? THEN 1 ELSE 0 END) AS ready,"  # noqa: S608
            " SUM(CASE WHEN status = 'ready' AND due_at > ? THEN 1 ELSE 0 END) AS scheduled,"
            " SUM(CASE WHEN status = 'leased' THEN 1 ELSE 0 END) AS leased,"
            " MIN(CASE WHEN status = 'ready' THEN due_at ELSE lease_until END) AS next_due"
            " FROM queue WHERE status IN ('ready', 'leased')" + topic_filter,
            params,
        )
        row = rows[0] if rows else {}
        next_due = row.get("next_due")
        return Backlog(
            ready=int(row.get("ready") or 0),
            scheduled=int(row.get("scheduled") or 0),
            leased=int(row.get("leased") or 0),
            next_due_seconds=None if next_due is None else max(0.0, float(next_due) - now),
        )

    def close(self) -> None:
        """Nothing to release: the state store owns the connection."""
