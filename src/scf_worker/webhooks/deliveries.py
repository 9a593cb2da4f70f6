"""The ``webhook_deliveries`` log: one row per attempt, written in batches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scf_worker.state.sql import Database, Row, Transaction
from scf_worker.webhooks.delivery import Attempt

_COLUMNS = ("webhook_id", "endpoint_id", "event", "job_id", "attempt", "outcome", "status", "code",
            "latency_ms", "response_head", "body_sha256", "signed_at", "attempted_at")
# Rows per multi-row INSERT, so one statement stays under SQLite's historical limit of
# 999 bound parameters (13 columns x 70 rows = 910).
_ROWS_PER_INSERT = 70


class DeliveryLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, tx: Transaction, attempts: Sequence[Attempt]) -> None:
        """Insert attempts, numbering each per ``webhook-id`` after the ones already stored."""
        if not attempts:
            return
        ids = sorted({attempt.webhook_id for attempt in attempts})
        placeholders = ", ".join("?" for _ in ids)
        rows = tx.query(
            "SELECT webhook_id, COUNT(*) AS n FROM webhook_deliveries"  # noqa: S608
            f" WHERE webhook_id IN ({placeholders}) GROUP BY webhook_id",
            ids,
        )
        counts = {row["webhook_id"]: int(row["n"]) for row in rows}
        values: list[Any] = []
        for attempt in attempts:
            counts[attempt.webhook_id] = counts.get(attempt.webhook_id, 0) + 1
            values.append(_values(attempt, counts[attempt.webhook_id]))

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
            where.append("endpoint_id = ?")
            params.append(endpoint_id)
        if webhook_id:
            where.append("webhook_id = ?")
            params.append(webhook_id)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        return self.db.query(
            f"SELECT * FROM webhook_deliveries{clause} ORDER BY id DESC LIMIT ?",  # noqa: S608
            [*params, int(limit)],
        )


def _values(attempt: Attempt, number: int) -> tuple[Any, ...]:
    return (attempt.webhook_id, attempt.endpoint_id, attempt.event_name, attempt.job_id, number,
            attempt.outcome, attempt.status, attempt.code, attempt.latency_ms, attempt.response_head,
            attempt.body_sha256, attempt.signed_at, attempt.attempted_at)
