"""A thin DB-API layer over SQLite, with a seam for MySQL/MariaDB.

Statements are written with ``?`` placeholders; dialects translate them. Each
``transaction()`` is one atomic unit: the outbox (upload record, events and
scheduled jobs) is written inside a single one.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from scf_worker.state.errors import StateError, UnsupportedStateUrl
from scf_worker.state.schema import SQLITE_SCHEMA

Row = dict[str, Any]


class Database:
    """A connection per thread to one SQL database, chosen by URL."""

    dialect = "sqlite"

    def __init__(self, url: str) -> None:
        parsed = urlparse(url)
        if parsed.scheme != "sqlite":
            raise UnsupportedStateUrl(f"STATE_URL scheme {parsed.scheme!r} is not supported")
        # sqlite:///relative/or/absolute -> the path after the third slash.
        raw_path = unquote(url[len("sqlite:///") :]) if url.startswith("sqlite:///") else ""
        if not raw_path:
            raise UnsupportedStateUrl("STATE_URL sqlite:/// needs a file path")
        self.path = Path(raw_path if raw_path.startswith("/") else "/" + raw_path)
        self._local = threading.local()
        self._migrated = False

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    def migrate(self) -> None:
        if self._migrated:
            return
        self._connection().executescript(SQLITE_SCHEMA)
        self._migrated = True

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Run a block atomically; BEGIN IMMEDIATE takes the write lock up front."""
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StateError(f"could not begin a transaction on {self.path}: {exc}") from exc
        try:
            yield Transaction(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        try:
            return [dict(row) for row in self._connection().execute(sql, params).fetchall()]
        except sqlite3.Error as exc:
            raise StateError(f"query failed: {exc}") from exc

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        try:
            return self._connection().execute(sql, params).rowcount
        except sqlite3.Error as exc:
            raise StateError(f"statement failed: {exc}") from exc

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class Transaction:
    """Statements inside one open transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._conn.execute(sql, params).rowcount

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int | None:
        """Run an INSERT and return the new row id, or None when it inserted nothing."""
        cursor = self._conn.execute(sql, params)
        return cursor.lastrowid if cursor.rowcount else None

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return [dict(row) for row in self._conn.execute(sql, params).fetchall()]


def open_database(url: str) -> Database:
    database = Database(url)
    database.migrate()
    return database
