"""Idempotency claims in the SQL state store (SQLite, MySQL or MariaDB).

A claim is one upsert: it inserts a new key, or takes over a row whose lease
ran out or whose record expired, and in both cases writes the caller's random
token. Reading the row back in the same transaction shows whether the
caller's token won. The upsert takes the row's write lock first, so concurrent
claimers queue on that lock instead of deadlocking, and a read followed by a
write never decides ownership. A plain read before the upsert only shortcuts
the terminal COMPLETED state.

``lookup`` and ``complete_in`` serve work whose own writes share this database:
the key goes in as COMPLETED inside the caller's transaction, next to those
writes, so nothing is committed before the work is. A second writer of the
same key waits on the first one's uncommitted row (MySQL's row lock, SQLite's
single writer) and then finds it completed.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scf_worker.idempotency.base import (
    DEFAULT_EXPIRY_SECONDS,
    STATUS_COMPLETED,
    STATUS_IN_PROGRESS,
    stored_key,
)
from scf_worker.idempotency.errors import (
    AlreadyCompleted,
    AlreadyInProgress,
    ClaimChanged,
    IdempotencyConflict,
)
from scf_worker.state.sql import Database, Row, Transaction

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

_INSERT_COMPLETED = (
    "INSERT OR IGNORE INTO idempotency (idem_key, status, fingerprint, token, response, lease_until,"
    " expires_at, updated_at) VALUES (?, 'completed', ?, ?, ?, ?, ?, ?)"
)
# A plain UPDATE locks the row and tests the current committed version, on both dialects,
# and it always changes the token, so its row count shows whether the takeover happened.
_TAKE_COMPLETED = (
    "UPDATE idempotency SET status = 'completed', fingerprint = ?, token = ?, response = ?,"
    " lease_until = ?, expires_at = ?, updated_at = ?"
    " WHERE idem_key = ? AND (expires_at <= ? OR (status = 'in_progress' AND lease_until <= ?))"
)

_SELECT = "SELECT status, fingerprint, token, response, lease_until, expires_at FROM idempotency" \
          " WHERE idem_key = ?"


@dataclass(frozen=True)
class Beside:
    """A row of another table to read in the same query as the key: ``table.column = value``.

    ``table``, ``column`` and ``columns`` are names from code, never from input.
    """

    table: str
    column: str
    value: Any
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Lookup:
    """The result of ``lookup``: whether the key's row must be taken over, and the row beside it."""

    takeover: bool
    beside: Row | None = None


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

    # Completing inside the caller's transaction

    def lookup(self, key: str, payload_fingerprint: str, beside: Beside | None = None) -> Lookup:
        """Judge the stored row before the work, reading ``beside`` in the same query.

        Raise AlreadyCompleted, IdempotencyConflict or AlreadyInProgress as ``claim`` does.
        ``takeover`` is False when the key is free, True when its row expired or its
        holder's lease ran out.
        """
        row_key = stored_key(key)
        found: Row | None = None
        if beside is None:
            rows = self.db.query(_SELECT, (row_key,))
            row = rows[0] if rows else None
        else:
            row, found = self._lookup_beside(row_key, beside)
        if row is None:
            return Lookup(False, found)
        if self._takeable(row, self.clock()):
            return Lookup(True, found)
        self._raise_for(key, row, payload_fingerprint)
        raise AssertionError("unreachable")  # pragma: no cover

    def _lookup_beside(self, row_key: str, beside: Beside) -> tuple[Row | None, Row | None]:
        own = ("status", "fingerprint", "token", "response", "lease_until", "expires_at")
        columns = [f"i.{c} AS {c}" for c in own] + [f"b.{c} AS b_{c}" for c in beside.columns]
        # One row whatever exists: both sides are LEFT JOINs on a one-row table.
        sql = (f"SELECT {', '.join(columns)} FROM (SELECT 1 AS one) AS d"  # noqa: S608
               f" LEFT JOIN idempotency AS i ON i.idem_key = ?"
               f" LEFT JOIN {beside.table} AS b ON b.{beside.column} = ?")
        row = self.db.query(sql, (row_key, beside.value))[0]
        found = {c: row[f"b_{c}"] for c in beside.columns}
        return ({c: row[c] for c in own} if row["status"] is not None else None,
                found if row[f"b_{beside.columns[0]}"] is not None else None)

    def complete_in(self, tx: Transaction, key: str, payload_fingerprint: str, response: Any,
                    takeover: bool) -> None:
        """Store ``key`` as COMPLETED with ``response`` inside ``tx``, as ``lookup`` judged it.

        When another transaction stored the key first, raise what ``claim`` would
        (the caller's transaction then rolls back), or ClaimChanged when the row is
        no longer what ``lookup`` saw and the caller should look again.
        """
        now = self.clock()
        row_key = stored_key(key)
        encoded = json.dumps(response, ensure_ascii=False)
        token = secrets.token_hex(16)
        if takeover:
            done = tx.execute(_TAKE_COMPLETED, (payload_fingerprint, token, encoded, now,
                                                now + self.expiry_seconds, now, row_key, now, now))
        else:
            done = tx.insert(_INSERT_COMPLETED, (row_key, payload_fingerprint, token, encoded, now,
                                                 now + self.expiry_seconds, now)) is not None
        if done:
            return
        # MySQL: the failed INSERT IGNORE already holds a shared lock on the row, and a shared
        # read keeps it shared, so two losers never wait on each other to upgrade.
        lock = " LOCK IN SHARE MODE" if self.db.dialect == "mysql" else ""
        rows = tx.query(_SELECT + lock, (row_key,))
        if not rows or self._takeable(rows[0], now):
            raise ClaimChanged(f"idempotency key {key!r} changed while the work ran")
        self._raise_for(key, rows[0], payload_fingerprint)

    def set_response(self, tx: Transaction, key: str, response: Any) -> None:
        """Replace the response ``complete_in`` stored in the same transaction."""
        tx.execute("UPDATE idempotency SET response = ? WHERE idem_key = ?",
                   (json.dumps(response, ensure_ascii=False), stored_key(key)))

    @staticmethod
    def _takeable(row: Row, now: float) -> bool:
        lease_over = row["status"] == STATUS_IN_PROGRESS and row["lease_until"] <= now
        return bool(row["expires_at"] <= now or lease_over)

    @staticmethod
    def _raise_for(key: str, row: Row, payload_fingerprint: str) -> None:
        if row["fingerprint"] != payload_fingerprint:
            raise IdempotencyConflict(f"idempotency key {key!r} was first used with another payload")
        if row["status"] == STATUS_COMPLETED:
            raise AlreadyCompleted(json.loads(row["response"]) if row["response"] else None)
        raise AlreadyInProgress(f"idempotency key {key!r} is held by another invocation",
                                row["lease_until"])

    def complete(self, key: str, response: Any, token: str | None = None,
                 tx: Transaction | None = None) -> bool:
        """Store ``response`` for a held claim; with ``tx``, as part of the caller's transaction."""
        now = self.clock()
        sql = ("UPDATE idempotency SET status = ?, response = ?, expires_at = ?, updated_at = ?"
               " WHERE idem_key = ? AND status = ?")
        params: list[Any] = [STATUS_COMPLETED, json.dumps(response, ensure_ascii=False),
                             now + self.expiry_seconds, now, stored_key(key), STATUS_IN_PROGRESS]
        if token is not None:
            sql += " AND token = ?"
            params.append(token)
        return (tx or self.db).execute(sql, params) > 0

    def release(self, key: str, token: str | None = None, tx: Transaction | None = None) -> bool:
        """Drop a held claim so a retry can take it; with ``tx``, inside the caller's transaction."""
        sql = "DELETE FROM idempotency WHERE idem_key = ? AND status = ?"
        params: list[Any] = [stored_key(key), STATUS_IN_PROGRESS]
        if token is not None:
            sql += " AND token = ?"
            params.append(token)
        return (tx or self.db).execute(sql, params) > 0

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
