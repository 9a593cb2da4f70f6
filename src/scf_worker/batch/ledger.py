"""Import checkpoints and per-row results in the state store.

``batch_imports`` contains one record per manifest version: the pass number,
the checkpoint (``next_row``, before which every row has a final result) and a
lease, so two invocations never work on the same import. ``batch_rows``
contains each row's result for the current pass. A row is marked ``pending``
before anything is stored or recorded for it. A pending row found by a resumed
run means the earlier attempt may have stored and recorded the object already.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scf_worker.batch.errors import ImportBusy, LeaseLost
from scf_worker.state.sql import Database, Row, Transaction

STATUS_RUNNING = "running"
STATUS_DONE = "done"
STATUS_FAILED = "failed"

ROW_PENDING = "pending"
ROW_IMPORTED = "imported"
ROW_ALREADY_IMPORTED = "already_imported"
ROW_REJECTED = "rejected"
ROW_FAILED = "failed"
FINAL_ROW_STATUSES = (ROW_IMPORTED, ROW_ALREADY_IMPORTED, ROW_REJECTED, ROW_FAILED)


@dataclass(frozen=True)
class ImportRecord:
    """The stored state of one import (one manifest version)."""

    import_id: str
    manifest_url: str
    manifest_etag: str
    pass_number: int
    status: str
    next_row: int
    total_rows: int | None
    error: str | None
    lease_owner: str | None
    lease_until: float | None
    created_at: float
    updated_at: float
    finished_at: float | None


@dataclass(frozen=True)
class RowResult:
    """Outcome of one manifest row in one pass."""

    index: int
    status: str
    label: str
    reason: str | None = None
    detail: str | None = None
    source: str | None = None
    key: str | None = None
    etag: str | None = None
    size: int | None = None
    mime: str | None = None
    job_id: str | None = None
    transcode_job_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_ROW_STATUSES

    def report_line(self) -> dict[str, Any]:
        """Return the row as a report line; empty fields are left out."""
        line: dict[str, Any] = {
            "row": self.index + 1, "id": self.label, "status": self.status, "reason": self.reason,
            "detail": self.detail, "source": self.source, "key": self.key, "etag": self.etag,
            "size": self.size, "mime": self.mime, "jobId": self.job_id,
            "transcodeJobId": self.transcode_job_id, "meta": self.meta or None,
        }
        return {name: value for name, value in line.items() if value is not None}


def _record(row: Row) -> ImportRecord:
    return ImportRecord(**{name: row[name] for name in ImportRecord.__dataclass_fields__})


def _result(row: Row) -> RowResult:
    return RowResult(
        index=row["row_index"], status=row["status"], label=row["row_label"] or str(row["row_index"] + 1),
        reason=row["reason"], detail=row["detail"], source=row["source"], key=row["object_key"],
        etag=row["etag"], size=row["size"], mime=row["mime"], job_id=row["job_id"],
        transcode_job_id=row["transcode_job_id"], meta=json.loads(row["meta"]) if row["meta"] else {},
    )


class ImportLedger:
    """Reads and writes ``batch_imports`` and ``batch_rows``; lease checks use the store's locks."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock
        # SQLite's BEGIN IMMEDIATE already serialises writers; MySQL needs a row lock.
        self._lock = " FOR UPDATE" if db.dialect == "mysql" else ""

    # Imports

    def register(self, import_id: str, manifest_url: str, manifest_etag: str) -> ImportRecord:
        """Create the import record unless it exists; return the stored record either way."""
        now = self.clock()
        with self.db.transaction() as tx:
            tx.insert(
                "INSERT OR IGNORE INTO batch_imports (import_id, manifest_url, manifest_etag,"
                " pass_number, status, next_row, created_at, updated_at)"
                " VALUES (?, ?, ?, 1, 'running', 0, ?, ?)",
                (import_id, manifest_url, manifest_etag, now, now),
            )
        record = self.get(import_id)
        assert record is not None
        return record

    def get(self, import_id: str) -> ImportRecord | None:
        rows = self.db.query("SELECT * FROM batch_imports WHERE import_id = ?", (import_id,))
        return _record(rows[0]) if rows else None

    def resumable(self) -> list[ImportRecord]:
        """Return the imports still running, oldest first."""
        rows = self.db.query("SELECT * FROM batch_imports WHERE status = 'running'"
                             " ORDER BY created_at, import_id")
        return [_record(row) for row in rows]

    def claim(self, import_id: str, owner: str, lease_seconds: float, rerun: bool = False) -> ImportRecord:
        """Take the import's lease; with ``rerun`` a finished import starts a new pass.

        Raise ImportBusy while another owner's lease is live. The conditional
        UPDATE decides between two claimers, never a read before it.
        """
        now = self.clock()
        with self.db.transaction() as tx:
            if rerun:
                tx.execute(
                    "UPDATE batch_imports SET pass_number = pass_number + 1, status = 'running',"
                    " next_row = 0, error = NULL, finished_at = NULL, updated_at = ?"
                    " WHERE import_id = ? AND status <> 'running'",
                    (now, import_id),
                )
            claimed = tx.execute(
                "UPDATE batch_imports SET lease_owner = ?, lease_until = ?, updated_at = ?"
                " WHERE import_id = ? AND (lease_until IS NULL OR lease_until <= ?)",
                (owner, now + lease_seconds, now, import_id, now),
            )
            if not claimed:
                rows = tx.query("SELECT lease_until FROM batch_imports WHERE import_id = ?", (import_id,))
                until = rows[0]["lease_until"] if rows else now
                raise ImportBusy(f"import {import_id} is being processed by another invocation;"
                                 f" its lease ends in {max(0, int(until - now))} s")
        record = self.get(import_id)
        assert record is not None
        return record

    def release(self, import_id: str, owner: str) -> None:
        self.db.execute(
            "UPDATE batch_imports SET lease_owner = NULL, lease_until = NULL"
            " WHERE import_id = ? AND lease_owner = ?",
            (import_id, owner),
        )

    def set_total(self, import_id: str, owner: str, total_rows: int, lease_seconds: float) -> None:
        with self.db.transaction() as tx:
            self._renew(tx, import_id, owner, lease_seconds)
            tx.execute("UPDATE batch_imports SET total_rows = ? WHERE import_id = ?", (total_rows, import_id))

    def checkpoint(self, import_id: str, owner: str, next_row: int, lease_seconds: float) -> None:
        """Store the resume point (every row before it is final) and renew the lease."""
        with self.db.transaction() as tx:
            self._renew(tx, import_id, owner, lease_seconds)
            tx.execute("UPDATE batch_imports SET next_row = ? WHERE import_id = ?", (next_row, import_id))

    def finish(self, import_id: str, owner: str, status: str, error: str | None = None) -> None:
        now = self.clock()
        with self.db.transaction() as tx:
            self._renew(tx, import_id, owner, 0)
            tx.execute(
                "UPDATE batch_imports SET status = ?, error = ?, finished_at = ?, updated_at = ?"
                " WHERE import_id = ?",
                (status, error, now, now, import_id),
            )

    def _renew(self, tx: Transaction, import_id: str, owner: str, lease_seconds: float) -> None:
        """Extend this owner's lease, or raise LeaseLost when another owner holds the import."""
        now = self.clock()
        # self._lock is a fixed clause; the id travels as a parameter.
        rows = tx.query("SELECT lease_owner FROM batch_imports WHERE import_id = ?" + self._lock,  # noqa: S608
                        (import_id,))
        if not rows or rows[0]["lease_owner"] != owner:
            raise LeaseLost(f"the lease on import {import_id} passed to another invocation")
        tx.execute("UPDATE batch_imports SET lease_until = ?, updated_at = ? WHERE import_id = ?",
                   (now + lease_seconds, now, import_id))

    # Rows

    def rows(self, import_id: str, pass_number: int, start: int = 0) -> dict[int, RowResult]:
        """Return this pass's row results from ``start`` on, by row index."""
        found = self.db.query(
            "SELECT * FROM batch_rows WHERE import_id = ? AND pass_number = ? AND row_index >= ?"
            " ORDER BY row_index",
            (import_id, pass_number, start),
        )
        return {row["row_index"]: _result(row) for row in found}

    def save_row(self, import_id: str, pass_number: int, owner: str, result: RowResult,
                 lease_seconds: float) -> None:
        """Store a row's result (pending or final) and renew the lease in the same transaction."""
        now = self.clock()
        with self.db.transaction() as tx:
            self._renew(tx, import_id, owner, lease_seconds)
            tx.insert(
                "INSERT OR IGNORE INTO batch_rows (import_id, row_index, pass_number, status, updated_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (import_id, result.index, pass_number, result.status, now),
            )
            tx.execute(
                "UPDATE batch_rows SET pass_number = ?, status = ?, row_label = ?, reason = ?, detail = ?,"
                " source = ?, object_key = ?, etag = ?, size = ?, mime = ?, job_id = ?,"
                " transcode_job_id = ?, meta = ?, updated_at = ? WHERE import_id = ? AND row_index = ?",
                (pass_number, result.status, result.label, result.reason, result.detail, result.source,
                 result.key, result.etag, result.size, result.mime, result.job_id,
                 result.transcode_job_id,
                 json.dumps(result.meta, ensure_ascii=False, default=str) if result.meta else None,
                 now, import_id, result.index),
            )

    def totals(self, import_id: str, pass_number: int) -> dict[str, int]:
        """Count this pass's rows by status."""
        found = self.db.query(
            "SELECT status, COUNT(*) AS n FROM batch_rows WHERE import_id = ? AND pass_number = ?"
            " GROUP BY status",
            (import_id, pass_number),
        )
        return {row["status"]: int(row["n"]) for row in found}
