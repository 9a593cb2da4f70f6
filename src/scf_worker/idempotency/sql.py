"""Idempotency claims in the SQL state store (SQLite, MySQL or MariaDB).

A claim is one upsert: it inserts a new key, or takes over a row whose lease
ran out or whose record expired, and in both cases writes the caller's random
token. Reading the row back in the same transaction shows whether the
caller's token won. The upsert takes the row's write lock first, so concurrent
claimers queue on that lock instead of deadlocking, and a read followed by a
write never decides ownership. A plain read before the upsert only shortcuts
the terminal COMPLETED state.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from scf_worker.idempotency.base import (
    DEFAULT_EXPIRY_SECONDS,
    STATUS_COMPLETED,
    STATUS_IN_PROGRESS,
    stored_key,
)
from scf_worker.idempotency.errors import AlreadyCompleted, AlreadyInProgress, IdempotencyConflict
from scf_worker.state.sql import Database, Row

_INSERT = (
    "INSERT INTO idempotency (idem_key, status, fingerprint, token, response, lease_until,"
    " expires_at, updated_at) VALUES (?, 'in_progress', ?, ?, NULL, ?, ?, ?)"
)
_CLAIM_SQLITE = (
    _INSERT +
    " ON CONFLICT (idem_key) DO UPDATE SET status = 'in_progress',"
    " fingerprint = excluded.fingerprint, token = excluded.token, response = NULL,"
    " lease_until = excluded.lease_until, expires_at = excluded.expires_at,"
    " updated_at = excluded.updated_at"
    " WHERE idempotency.expires_at <= ?"
    " OR (idempotency.status = 'in_progress' AND idempotency.lease_until <= ?)"
)

# MySQL evaluates ON DUPLICATE KEY UPDATE assignments left to right and later ones see
# earlier results, so the takeover test runs once, on the token, and the other columns
# follow the token.
_CLAIM_MYSQL = (
    _INSERT +
    " ON DUPLICATE KEY UPDATE"
    " token = IF(expires_at <= ? OR (status = 'in_progress' AND lease_until <= ?),"
    "  VALUES(token), token),"
    " status = IF(token = VALUES(token), 'in_progress', status),"
    " fingerprint = IF(token = VALUES(token), VALUES(fingerprint), fingerprint),"
    " response = IF(token = VALUES(token), NULL, response),"
    " lease_until = IF(token = VALUES(token), VALUES(lease_until), lease_until),"
    " expires_at = IF(token = VALUES(token), VALUES(expires_at), expires_at),"
    " updated_at = IF(token = VALUES(token), VALUES(updated_at), updated_at)"
)

_SELECT = "SELECT status, fingerprint, token, response, lease_until, expires_at FROM idempotency" \
          " WHERE idem_key = ?"


class SqlIdempotencyStore:
    """Claims in the ``idempotency`` table of the state database."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time,
                 expiry_seconds: float = DEFAULT_EXPIRY_SECONDS) -> None:
        self.db = db
        self.clock = clock
        self.expiry_seconds = expiry_seconds

    def __repr__(self) -> str:
        return f"SqlIdempotencyStore({self.db.dialect})"

    def claim(self, key: str, payload_fingerprint: str, lease_seconds: float) -> str:
        now = self.clock()
        row_key = stored_key(key)
        rows = self.db.query(_SELECT, (row_key,))
        if rows and rows[0]["status"] == STATUS_COMPLETED and rows[0]["expires_at"] > now:
            self._raise_for(key, rows[0], payload_fingerprint)

        token = secrets.token_hex(16)
        statement = _CLAIM_MYSQL if self.db.dialect == "mysql" else _CLAIM_SQLITE
        lock = " FOR UPDATE" if self.db.dialect == "mysql" else ""
        with self.db.transaction() as tx:
            tx.execute(statement, (row_key, payload_fingerprint, token, now + lease_seconds,
                                   now + self.expiry_seconds, now, now, now))
            row = tx.query(_SELECT + lock, (row_key,))[0]
        if row["token"] == token:
            return token
        self._raise_for(key, row, payload_fingerprint)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _raise_for(key: str, row: Row, payload_fingerprint: str) -> None:
        if row["fingerprint"] != payload_fingerprint:
            raise IdempotencyConflict(f"idempotency key {key!r} was first used with another payload")
        if row["status"] == STATUS_COMPLETED:
            raise AlreadyCompleted(json.loads(row["response"]) if row["response"] else None)
        raise AlreadyInProgress(f"idempotency key {key!r} is held by another invocation",
                                row["lease_until"])

    def complete(self, key: str, response: Any, token: str | None = None) -> bool:
        now = self.clock()
        sql = ("UPDATE idempotency SET status = ?, response = ?, expires_at = ?, updated_at = ?"
               " WHERE idem_key = ? AND status = ?")
        params: list[Any] = [STATUS_COMPLETED, json.dumps(response, ensure_ascii=False),
                             now + self.expiry_seconds, now, stored_key(key), STATUS_IN_PROGRESS]
        if token is not None:
            sql += " AND token = ?"
            params.append(token)
        return self.db.execute(sql, params) > 0

    def release(self, key: str, token: str | None = None) -> bool:
        sql = "DELETE FROM idempotency WHERE idem_key = ? AND status = ?"
        params: list[Any] = [stored_key(key), STATUS_IN_PROGRESS]
        if token is not None:
            sql += " AND token = ?"
            params.append(token)
        return self.db.execute(sql, params) > 0

    def purge_expired(self, limit: int = 1000) -> int:
        now = self.clock()
        with self.db.transaction() as tx:
            rows = tx.query("SELECT idem_key FROM idempotency WHERE expires_at <= ? LIMIT ?",
                            (now, limit))
            deleted = 0
            for row in rows:
                deleted += tx.execute("DELETE FROM idempotency WHERE idem_key = ? AND expires_at <= ?",
                                      (row["idem_key"], now))
        return deleted
