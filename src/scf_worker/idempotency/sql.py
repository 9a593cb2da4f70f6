"""Idempotency claims in the SQL state store.

A claim is an INSERT that only succeeds for a new key, or a conditional UPDATE
that only succeeds when the previous holder's lease has run out or the record
has expired; a read followed by a write never decides ownership.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from scf_worker.idempotency.errors import AlreadyCompleted, AlreadyInProgress, IdempotencyConflict
from scf_worker.state.sql import Database

DEFAULT_EXPIRY_SECONDS = 7 * 24 * 3600


class SqlIdempotencyStore:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time,
                 expiry_seconds: float = DEFAULT_EXPIRY_SECONDS) -> None:
        self.db = db
        self.clock = clock
        self.expiry_seconds = expiry_seconds

    def claim(self, key: str, payload_fingerprint: str, lease_seconds: float) -> None:
        now = self.clock()
        with self.db.transaction() as tx:
            inserted = tx.insert(
                "INSERT OR IGNORE INTO idempotency (idem_key, status, fingerprint, lease_until,"
                " expires_at, updated_at) VALUES (?, 'in_progress', ?, ?, ?, ?)",
                (key, payload_fingerprint, now + lease_seconds, now + self.expiry_seconds, now),
            )
            if inserted is not None:
                return
            taken = tx.execute(
                "UPDATE idempotency SET status = 'in_progress', fingerprint = ?, lease_until = ?,"
                " expires_at = ?, response = NULL, updated_at = ? WHERE idem_key = ? AND"
                " ((status = 'in_progress' AND lease_until <= ?) OR expires_at <= ?"
                "  OR status = 'released')",
                (payload_fingerprint, now + lease_seconds, now + self.expiry_seconds, now, key,
                 now, now),
            )
            if taken:
                return
            row = tx.query("SELECT status, fingerprint, response FROM idempotency WHERE idem_key = ?",
                           (key,))[0]
        if row["fingerprint"] != payload_fingerprint:
            raise IdempotencyConflict(f"key {key!r} was used with a different payload")
        if row["status"] == "completed":
            raise AlreadyCompleted(json.loads(row["response"]) if row["response"] else None)
        raise AlreadyInProgress(f"key {key!r} is held by another invocation")

    def complete(self, key: str, response: Any) -> None:
        self.db.execute(
            "UPDATE idempotency SET status = 'completed', response = ?, updated_at = ? WHERE idem_key = ?",
            (json.dumps(response), self.clock(), key),
        )

    def release(self, key: str) -> None:
        self.db.execute(
            "UPDATE idempotency SET status = 'released', updated_at = ? WHERE idem_key = ?"
            " AND status = 'in_progress'",
            (self.clock(), key),
        )
