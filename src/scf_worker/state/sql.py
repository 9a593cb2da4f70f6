"""A thin DB-API layer over SQLite and MySQL/MariaDB, chosen by ``STATE_URL``.

Statements are written once, for SQLite: ``?`` placeholders and
``INSERT OR IGNORE``. The MySQL dialect rewrites both. Each ``transaction()``
is one atomic unit: the outbox (upload record, events and scheduled jobs) is
written inside a single one.

URLs: ``sqlite:///relative.db``, ``sqlite:////absolute/path.db`` and
``mysql://user:password@host:port/db``.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from scf_worker.state.errors import StateError, UnsupportedStateUrl
from scf_worker.state.schema import SQLITE_SCHEMA, mysql_schema

Row = dict[str, Any]


class Transaction:
    """Statements inside one open transaction."""

    def __init__(self, cursor: Any, translate: Any) -> None:
        self._cursor = cursor
        self._translate = translate

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        self._cursor.execute(self._translate(sql), tuple(params))
        return int(self._cursor.rowcount)

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int | None:
        """Run an INSERT and return the new row id, or None when it inserted nothing."""
        self._cursor.execute(self._translate(sql), tuple(params))
        if self._cursor.rowcount <= 0:
            return None
        return int(self._cursor.lastrowid or 0) or -1

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        self._cursor.execute(self._translate(sql), tuple(params))
        columns = [d[0] for d in self._cursor.description or ()]
        return [dict(zip(columns, row, strict=True)) for row in self._cursor.fetchall()]


class Database:
    """One SQL database with a connection per thread; subclasses supply the dialect."""

    dialect = "base"
    # Appended to a SELECT that picks a row to claim; MySQL skips rows others hold.
    lock_rows = ""

    def __init__(self) -> None:
        self._local = threading.local()
        self._migrated = False

    def translate(self, sql: str) -> str:
        return sql

    def _connect(self) -> Any:
        raise NotImplementedError

    def _schema_statements(self) -> list[str]:
        raise NotImplementedError

    def _begin(self, conn: Any) -> Any:
        raise NotImplementedError

    def _errors(self) -> tuple[type[BaseException], ...]:
        raise NotImplementedError

    def _connection(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = self._local.conn = self._connect()
            except self._errors() as exc:
                raise StateError(f"could not connect to the {self.dialect} state store: {exc}") from exc
        return conn

    def migrate(self) -> None:
        """Create any missing table; safe to run at every cold start."""
        if self._migrated:
            return
        with self.transaction() as tx:
            for statement in self._schema_statements():
                tx.execute(statement)
        self._migrated = True

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        try:
            conn = self._connection()
            cursor = self._begin(conn)
        except self._errors() as exc:
            self.close()
            raise StateError(f"could not begin a {self.dialect} transaction: {exc}") from exc
        try:
            yield Transaction(cursor, self.translate)
        except self._errors() as exc:
            self._rollback(conn)
            raise StateError(f"{self.dialect} statement failed: {exc}") from exc
        except BaseException:
            self._rollback(conn)
            raise
        try:
            conn.commit()
        except self._errors() as exc:
            self.close()
            raise StateError(f"{self.dialect} commit failed: {exc}") from exc

    def _rollback(self, conn: Any) -> None:
        try:
            conn.rollback()
        except self._errors():
            self.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self.transaction() as tx:
            return tx.query(sql, params)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self.transaction() as tx:
            return tx.execute(sql, params)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001, S110 (a broken connection may fail to close)
                pass


class SqliteDatabase(Database):
    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                               check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def _begin(self, conn: sqlite3.Connection) -> sqlite3.Cursor:
        # BEGIN IMMEDIATE takes the write lock up front, so two claimers never both read "free".
        cursor = conn.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        return cursor

    def _schema_statements(self) -> list[str]:
        return [s.strip() for s in SQLITE_SCHEMA.split(";") if s.strip()]

    def _errors(self) -> tuple[type[BaseException], ...]:
        return (sqlite3.Error,)


_PLACEHOLDER = re.compile(r"\?")


class MysqlDatabase(Database):
    """MySQL or MariaDB through PyMySQL (imported on first connection)."""

    dialect = "mysql"
    lock_rows = " FOR UPDATE SKIP LOCKED"

    def __init__(self, host: str, port: int, user: str, password: str, database: str) -> None:
        super().__init__()
        self.host, self.port, self.user, self.database = host, port, user, database
        self._password = password

    def __repr__(self) -> str:
        return f"MysqlDatabase({self.user}@{self.host}:{self.port}/{self.database})"

    def translate(self, sql: str) -> str:
        sql = sql.replace("INSERT OR IGNORE", "INSERT IGNORE")
        return _PLACEHOLDER.sub("%s", sql.replace("%", "%%"))

    def _connect(self) -> Any:
        import pymysql

        return pymysql.connect(host=self.host, port=self.port, user=self.user,
                               password=self._password, database=self.database,
                               charset="utf8mb4", autocommit=False, connect_timeout=5,
                               read_timeout=60, write_timeout=60)

    def _begin(self, conn: Any) -> Any:
        conn.ping(reconnect=True)
        conn.begin()
        return conn.cursor()

    def _schema_statements(self) -> list[str]:
        return [s.strip() for s in mysql_schema().split(";") if s.strip()]

    def _errors(self) -> tuple[type[BaseException], ...]:
        import pymysql

        return (pymysql.err.Error,)

    def migrate(self) -> None:
        # DDL commits implicitly in MySQL, so run it outside a transaction block.
        if self._migrated:
            return
        conn = self._connection()
        try:
            conn.ping(reconnect=True)
            with conn.cursor() as cursor:
                for statement in self._schema_statements():
                    cursor.execute(statement)
            conn.commit()
        except self._errors() as exc:
            self.close()
            raise StateError(f"mysql migration failed: {exc}") from exc
        self._migrated = True


def open_database(url: str, migrate: bool = True) -> Database:
    """Open the database a ``STATE_URL`` names and create missing tables."""
    parsed = urlparse(url)
    database: Database
    if parsed.scheme == "sqlite":
        raw_path = unquote(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else ""
        if not raw_path:
            raise UnsupportedStateUrl("STATE_URL sqlite:/// needs a file path")
        # As in SQLAlchemy: sqlite:///relative.db is relative to the working directory,
        # sqlite:////absolute/path.db is absolute.
        database = SqliteDatabase(Path(raw_path).resolve())
    elif parsed.scheme in ("mysql", "mariadb"):
        name = parsed.path.lstrip("/")
        if not parsed.hostname or not name:
            raise UnsupportedStateUrl("STATE_URL must look like mysql://user:password@host:3306/db")
        database = MysqlDatabase(parsed.hostname, parsed.port or 3306, unquote(parsed.username or "root"),
                                 unquote(parsed.password or ""), name)
    else:
        raise UnsupportedStateUrl(
            f"STATE_URL scheme {parsed.scheme!r} is not supported; use sqlite:/// or mysql://"
        )
    if migrate:
        database.migrate()
    return database
