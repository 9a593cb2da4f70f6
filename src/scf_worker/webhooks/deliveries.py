"""The ``webhook_deliveries`` log: one row per attempt, written in batches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scf_worker.state.sql import Database, Row, Transaction
from scf_worker.webhooks.delivery import Attempt

_COLUMNS = ("webhook_id", "endpoint_id", "event", "job_id", "outcome", "status", "code",
            "latency_ms", "response_head", "body_sha256", "signed_at", "attempted_at", "detail")
# Rows per multi-row INSERT, so one statement stays under SQLite's historical limit of
# 999 bound parameters (13 columns x 76 rows = 988).
_ROWS_PER_INSERT = 76


class DeliveryLog:
    """Delivery attempts, one row each, pruned by age (``prune``) on webhook-forward's timer."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def prune(self, before: float, limit: int = 5000) -> int:
        """Delete up to ``limit`` attempts made before ``before`` (epoch seconds), oldest first.

        Rows are written in time order, so the oldest are the lowest ids and the scan by
        primary key stops early. The ids are selected first because MySQL does not take
        LIMIT inside an IN subquery and SQLite builds usually lack DELETE ... LIMIT.
        """
        rows = self.db.query("SELECT id FROM webhook_deliveries WHERE attempted_at < ? ORDER BY id LIMIT ?",
                             (before, int(limit)))
        if not rows:
            return 0
        return self.db.execute("DELETE FROM webhook_deliveries WHERE id <= ? AND attempted_at < ?",
                               (rows[-1]["id"], before))

    def record(self, tx: Transaction, attempts: Sequence[Attempt]) -> None:
        """Insert attempts in multi-row INSERTs; ``recent`` numbers them per ``webhook-id``."""
        values = [_values(attempt) for attempt in attempts]
        row_placeholder = f"({', '.join('?' for _ in _COLUMNS)})"
        for start in range(0, len(values), _ROWS_PER_INSERT):
            chunk = values[start:start + _ROWS_PER_INSERT]
            tx.execute(
                f"INSERT INTO webhook_deliveries ({', '.join(_COLUMNS)})"  # noqa: S608
                f" VALUES {', '.join(row_placeholder for _ in chunk)}",
                [value for row in chunk for value in row],
            )

    def recent(self, endpoint_id: str | None = None, webhook_id: str | None = None,
               limit: int = 20) -> list[Row]:
        """Return the latest attempts, newest first, optionally for one endpoint or webhook-id."""
        where, params = [], []
        if endpoint_id:
            where.append("d.endpoint_id = ?")
            params.append(endpoint_id)
        if webhook_id:
            where.append("d.webhook_id = ?")
            params.append(webhook_id)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        # The attempt number is counted when read, so writing an attempt needs no lookup.
        return self.db.query(
            "SELECT d.*, (SELECT COUNT(*) FROM webhook_deliveries p"  # noqa: S608
            "  WHERE p.webhook_id = d.webhook_id AND p.id <= d.id) AS attempt"
            f" FROM webhook_deliveries d{clause} ORDER BY d.id DESC LIMIT ?",
            [*params, int(limit)],
        )


def _values(attempt: Attempt) -> tuple[Any, ...]:
    return (attempt.webhook_id, attempt.endpoint_id, attempt.event_name, attempt.job_id,
            attempt.outcome, attempt.status, attempt.code, attempt.latency_ms, attempt.response_head,
            attempt.body_sha256, attempt.signed_at, attempt.attempted_at, attempt.detail or None)
