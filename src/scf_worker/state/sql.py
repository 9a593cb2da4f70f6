"""A thin DB-API layer over SQLite and MySQL/MariaDB, chosen by ``STATE_URL``.

Statements are written once, for SQLite: ``?`` placeholders and
``INSERT OR IGNORE``. The MySQL dialect rewrites both. Each ``transaction()``
is one atomic unit: the outbox (upload record, events and scheduled jobs) is
written inside a single one.

``migrate()`` creates missing tables, columns and indexes from the DDL in
``state.schema``. ``check_schema()`` lists what is missing without changing
anything, which is all a function may do at cold start on a shared database.

URLs: ``sqlite:///relative.db``, ``sqlite:////absolute/path.db`` and
``mysql://user:password@host:port/db``.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from scf_worker.state.errors import SchemaMismatch, StateError, UnsupportedStateUrl
from scf_worker.state.schema import SQLITE_SCHEMA, IndexSpec, TableSpec, mysql_schema, parse_ddl

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

    def _ddl(self) -> str:
        raise NotImplementedError

    def _begin(self, conn: Any, write: bool) -> Any:
        raise NotImplementedError

    def _commit(self, conn: Any, write: bool) -> None:
        conn.commit()

    def _errors(self) -> tuple[type[BaseException], ...]:
        raise NotImplementedError

    def _existing_columns(self, tx: Transaction) -> dict[str, set[str]]:
        """Return every existing table with its column names."""
        raise NotImplementedError

    def _existing_indexes(self, tx: Transaction) -> set[str]:
        raise NotImplementedError

    def _create_index(self, index: IndexSpec) -> str:
        raise NotImplementedError

    def _connection(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = self._local.conn = self._connect()
            except self._errors() as exc:
                raise StateError(f"could not connect to the {self.dialect} state store: {exc}") from exc
        return conn

    def _schema_statements(self) -> list[str]:
        tables, indexes = parse_ddl(self._ddl())
        return [t.statement for t in tables] + [self._create_index(i) for i in indexes]

    def _missing(self, tx: Transaction) -> tuple[list[TableSpec], list[tuple[str, str, str]],
                                                 list[IndexSpec]]:
        """Compare the live schema with the DDL: missing tables, (table, column, definition), indexes."""
        tables, indexes = parse_ddl(self._ddl())
        existing = self._existing_columns(tx)
        missing_tables = [t for t in tables if t.name not in existing]
        missing_columns = [(t.name, column, definition)
                           for t in tables if t.name in existing
                           for column, definition in t.columns if column not in existing[t.name]]
        existing_indexes = self._existing_indexes(tx)
        missing_indexes = [i for i in indexes if i.name not in existing_indexes]
        return missing_tables, missing_columns, missing_indexes

    def check_schema(self) -> list[str]:
        """List what ``migrate()`` would create; an empty list means the schema is current."""
        with self.transaction(write=False) as tx:
            tables, columns, indexes = self._missing(tx)
        return ([f"table {t.name} is missing" for t in tables]
                + [f"column {table}.{column} is missing" for table, column, _ in columns]
                + [f"index {i.name} on {i.table} is missing" for i in indexes])

    def require_schema(self) -> None:
        """Raise SchemaMismatch naming what is missing; run at cold start."""
        problems = self.check_schema()
        if problems:
            raise SchemaMismatch(self.dialect, problems)

    def migrate(self) -> list[str]:
        """Create missing tables, columns and indexes; return what was created.

        Safe to run at every cold start and from several processes at once.
        NOTE: only additive changes are automatic. A new NOT NULL column needs a
        DEFAULT in the DDL, or ALTER TABLE fails on a table that has rows.
        """
        if self._migrated:
            return []
        with self.transaction() as tx:
            tables, columns, indexes = self._missing(tx)
            done = []
            for table in tables:
                tx.execute(table.statement)
                done.append(f"created table {table.name}")
            for table_name, column, definition in columns:
                tx.execute(f"ALTER TABLE {table_name} ADD COLUMN {column} {definition}")
                done.append(f"added column {table_name}.{column}")
            for index in indexes:
                tx.execute(self._create_index(index))
                done.append(f"created index {index.name}")
        self._migrated = True
        return done

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Transaction]:
        """Run statements atomically.

        ``write=False`` is for reads that need no snapshot across statements: each
        statement then runs on its own, which saves the BEGIN and COMMIT round trips.
        """
        try:
            conn = self._connection()
            cursor = self._begin(conn, write)
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
            self._commit(conn, write)
        except self._errors() as exc:
            self.close()
            raise StateError(f"{self.dialect} commit failed: {exc}") from exc

    def is_deadlock(self, exc: BaseException) -> bool:
        """Return whether ``exc`` (a StateError from ``transaction``) rolled back a deadlock victim."""
        return False

    def _rollback(self, conn: Any) -> None:
        try:
            conn.rollback()
        except self._errors():
            self.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self.transaction(write=False) as tx:
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


# SQLite skips its busy handler in a few cases (switching to WAL, or a writer racing a WAL
# recovery) and returns "database is locked" at once, so those statements are retried a few times.
_LOCKED_RETRIES = 20
_LOCKED_PAUSE_SECONDS = 0.05


def _when_unlocked(statement: Callable[[], Any]) -> Any:
    for attempt in range(_LOCKED_RETRIES):
        try:
            return statement()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == _LOCKED_RETRIES - 1:
                raise
            time.sleep(_LOCKED_PAUSE_SECONDS * (attempt + 1))
    return None


class SqliteDatabase(Database):
    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                               check_same_thread=False)
        _when_unlocked(lambda: conn.execute("PRAGMA journal_mode=WAL"))
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def _begin(self, conn: sqlite3.Connection, write: bool) -> sqlite3.Cursor:
        # BEGIN IMMEDIATE takes the write lock up front, so two claimers never both read "free".
        # Reads run in autocommit mode: in WAL mode they run alongside the writer.
        cursor = conn.cursor()
        if write:
            _when_unlocked(lambda: cursor.execute("BEGIN IMMEDIATE"))
        return cursor

    def _commit(self, conn: sqlite3.Connection, write: bool) -> None:
        if write:
            conn.commit()

    def _ddl(self) -> str:
        return SQLITE_SCHEMA

    def _errors(self) -> tuple[type[BaseException], ...]:
        return (sqlite3.Error,)

    def _existing_columns(self, tx: Transaction) -> dict[str, set[str]]:
        names = [r["name"] for r in tx.query("SELECT name FROM sqlite_master WHERE type = 'table'")]
        # Table names come from sqlite_master, not from input; PRAGMA takes no parameters.
        return {name: {c["name"] for c in tx.query(f"PRAGMA table_info({name})")} for name in names}

    def _existing_indexes(self, tx: Transaction) -> set[str]:
        return {r["name"] for r in tx.query("SELECT name FROM sqlite_master WHERE type = 'index'")}

    def _create_index(self, index: IndexSpec) -> str:
        unique = "UNIQUE " if index.unique else ""
        return f"CREATE {unique}INDEX IF NOT EXISTS {index.name} ON {index.table} ({index.columns})"


_PLACEHOLDER = re.compile(r"\?")


# MySQL errors that mean another process created the same table, column or index first.
_ALREADY_EXISTS = {1050, 1060, 1061}
# ER_LOCK_DEADLOCK: InnoDB rolled the whole transaction back.
_DEADLOCK = 1213


class MysqlDatabase(Database):
    """MySQL or MariaDB through PyMySQL (imported on first connection)."""

    dialect = "mysql"
    lock_rows = " FOR UPDATE SKIP LOCKED"
    # A connection idle for longer than this is pinged (and reopened) before use, because
    # the server drops idle ones after wait_timeout and SCF freezes instances between calls.
    idle_ping_seconds = 30.0

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
                               charset="utf8mb4", autocommit=True, connect_timeout=5,
                               read_timeout=60, write_timeout=60)

    def _begin(self, conn: Any, write: bool) -> Any:
        # The connection is in autocommit mode, so a read is one round trip and only
        # a write transaction pays for BEGIN and COMMIT.
        now = time.monotonic()
        if now - getattr(self._local, "used_at", now) > self.idle_ping_seconds:
            conn.ping(reconnect=True)
        self._local.used_at = now
        if write:
            conn.begin()
        return conn.cursor()

    def _commit(self, conn: Any, write: bool) -> None:
        if write:
            conn.commit()

    def _ddl(self) -> str:
        return mysql_schema()

    def _errors(self) -> tuple[type[BaseException], ...]:
        import pymysql

        return (pymysql.err.Error,)

    def is_deadlock(self, exc: BaseException) -> bool:
        import pymysql

        cause = exc.__cause__
        return isinstance(cause, pymysql.err.OperationalError) and bool(cause.args) \
            and cause.args[0] == _DEADLOCK

    def _existing_columns(self, tx: Transaction) -> dict[str, set[str]]:
        rows = tx.query("SELECT table_name AS t, column_name AS c FROM information_schema.columns"
                        " WHERE table_schema = DATABASE()")
        tables: dict[str, set[str]] = {}
        for row in rows:
            tables.setdefault(row["t"], set()).add(row["c"])
        return tables

    def _existing_indexes(self, tx: Transaction) -> set[str]:
        rows = tx.query("SELECT DISTINCT index_name AS i FROM information_schema.statistics"
                        " WHERE table_schema = DATABASE()")
        return {row["i"] for row in rows}

    def _create_index(self, index: IndexSpec) -> str:
        # MySQL 8 has no CREATE INDEX IF NOT EXISTS; _missing() decides whether to run it.
        unique = "UNIQUE " if index.unique else ""
        return f"CREATE {unique}INDEX {index.name} ON {index.table} ({index.columns})"

    def migrate(self) -> list[str]:
        # DDL commits implicitly in MySQL, so each statement runs on its own, and one
        # that another process ran first is skipped.
        if self._migrated:
            return []
        with self.transaction(write=False) as tx:
            tables, columns, indexes = self._missing(tx)
        statements = ([(t.statement, f"created table {t.name}") for t in tables]
                      + [(f"ALTER TABLE {table} ADD COLUMN {column} {definition}",
                          f"added column {table}.{column}") for table, column, definition in columns]
                      + [(self._create_index(i), f"created index {i.name}") for i in indexes])
        done = []
        conn = self._connection()
        for statement, description in statements:
            try:
                with conn.cursor() as cursor:
                    cursor.execute(statement)
                conn.commit()
            except self._errors() as exc:
                if exc.args and exc.args[0] in _ALREADY_EXISTS:
                    continue
                self.close()
                raise StateError(f"mysql migration failed at '{description}': {exc}") from exc
            done.append(description)
        self._migrated = True
        return done


def open_database(url: str, migrate: bool = True) -> Database:
    """Open the database a ``STATE_URL`` names; with ``migrate`` create what is missing."""
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
    elif parsed.scheme in ("redis", "rediss"):
        raise UnsupportedStateUrl(
            "a redis:// URL holds idempotency claims and upload records only; the job store"
            " needs sqlite:/// or mysql://"
        )
    else:
        raise UnsupportedStateUrl(
            f"STATE_URL scheme {parsed.scheme!r} is not supported; use sqlite:///, mysql:// or redis://"
        )
    if migrate:
        database.migrate()
    return database
