"""Dead letters in the ``scf_dlq`` table of the SQL state store."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from scf_worker.retry.classify import Failure, truncate
from scf_worker.retry.deadletter import (
    DeadLetter,
    DeadLetterCount,
    DeadLetterQuery,
    ListBatch,
)
from scf_worker.state.sql import Database, Row, Transaction


def _entry(row: Row) -> DeadLetter:
    # A permanent failure is dead-lettered at once, so the first failure is permanent only then.
    first_kind = "permanent" if row["failure_kind"] == "permanent" and row["attempts"] == 1 else "transient"
    return DeadLetter(
        function=row["function"], job_type=row["job_type"], idempotency_key=row["idempotency_key"],
        payload=json.loads(row["payload"]), attempts=int(row["attempts"]),
        first_failure=Failure(first_kind, row["first_error_class"], row["first_error_class"],
                              row["first_error"], at=float(row["first_failed_at"])),
        last_failure=Failure(row["failure_kind"], row["last_error_class"], row["last_error_class"],
                             row["last_error"], at=float(row["last_failed_at"])),
        status=row["status"], id=str(row["id"]), resolution=row["resolution"],
        updated_at=row["updated_at"],
    )


class SqlDeadLetterStore:
    """Each entry is a row; ``add`` can join a caller's transaction."""

    kind = "sql"

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    def add(self, entry: DeadLetter) -> str:
        with self.db.transaction() as tx:
            return self.add_in(tx, entry)

    def add_in(self, tx: Transaction, entry: DeadLetter) -> str:
        first, last = entry.first_failure, entry.last_failure
        row_id = tx.insert(
            "INSERT INTO scf_dlq (function, job_type, idempotency_key, payload, attempts,"
            " first_error, last_error, first_failed_at, last_failed_at, status,"
            " first_error_class, last_error_class, failure_kind, resolution, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (entry.function, entry.job_type, entry.idempotency_key,
             json.dumps(entry.payload, ensure_ascii=False), entry.attempts, truncate(first.message),
             truncate(last.message), first.at, last.at, entry.status, first.error_class,
             last.error_class, last.kind, entry.resolution, entry.updated_at or self.clock()),
        )
        return str(row_id)

    @contextmanager
    def checkout(self, query: DeadLetterQuery) -> Iterator[ListBatch]:
        yield ListBatch(self._select(query), self._save)

    def _select(self, query: DeadLetterQuery) -> list[DeadLetter]:
        clauses, params = ["1 = 1"], []
        simple: list[tuple[str, Any]] = [("function = ?", query.function),
                                         ("job_type = ?", query.job_type),
                                         ("last_failed_at >= ?", query.since),
                                         ("last_failed_at < ?", query.until)]
        for clause, value in simple:
            if value is not None:
                clauses.append(clause)
                params.append(value)
        if query.ids:
            clauses.append(f"id IN ({', '.join('?' for _ in query.ids)})")
            params.extend(int(i) if i.isdigit() else -1 for i in query.ids)
        if query.statuses:
            clauses.append(f"status IN ({', '.join('?' for _ in query.statuses)})")
            params.extend(query.statuses)
        if query.transient_only:
            clauses.append("failure_kind = 'transient'")
        limit = f" LIMIT {int(query.limit)}" if query.limit is not None else ""
        # Every clause above is a fixed string with placeholders; values travel as parameters.
        rows = self.db.query(
            "SELECT * FROM scf_dlq WHERE " + " AND ".join(clauses)  # noqa: S608
            + " ORDER BY first_failed_at, id" + limit, params)
        return [_entry(row) for row in rows]

    def _save(self, entry: DeadLetter) -> None:
        if entry.id is None:
            raise ValueError("cannot save a dead letter that has no id")
        last = entry.last_failure
        self.db.execute(
            "UPDATE scf_dlq SET status = ?, resolution = ?, attempts = ?, last_error = ?,"
            " last_error_class = ?, last_failed_at = ?, failure_kind = ?, updated_at = ?"
            " WHERE id = ?",
            (entry.status, entry.resolution, entry.attempts, truncate(last.message),
             last.error_class, last.at, last.kind, entry.updated_at or self.clock(), int(entry.id)),
        )

    def counts(self) -> list[DeadLetterCount]:
        rows = self.db.query(
            "SELECT function, job_type, status, COUNT(*) AS n FROM scf_dlq"
            " GROUP BY function, job_type, status ORDER BY function, job_type, status")
        return [DeadLetterCount(r["function"], r["job_type"], r["status"], int(r["n"])) for r in rows]

    def close(self) -> None:
        """Nothing to release: the state store owns the connection."""
