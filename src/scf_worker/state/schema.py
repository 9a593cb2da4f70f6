"""Table definitions for the SQL state store, for SQLite and MySQL/MariaDB.

Timestamps are epoch seconds (REAL) so comparisons are cheap and the same on
every dialect; the job and event contracts render them as ISO-8601 UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS media_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_key TEXT NOT NULL UNIQUE,
    job_id TEXT NOT NULL,
    bucket TEXT NOT NULL,
    object_key TEXT NOT NULL,
    etag TEXT NOT NULL,
    size INTEGER,
    mime TEXT,
    status TEXT NOT NULL,
    reason TEXT,
    request_id TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS media_jobs_object_key ON media_jobs (object_key);

CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    resource TEXT NOT NULL,
    params TEXT NOT NULL DEFAULT '{}',
    result TEXT,
    error TEXT,
    parent_id TEXT,
    request_id TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_type_status ON jobs (type, status);

CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload TEXT NOT NULL,
    dedupe_key TEXT UNIQUE,
    status TEXT NOT NULL DEFAULT 'ready',
    attempts INTEGER NOT NULL DEFAULT 0,
    due_at REAL NOT NULL,
    lease_until REAL,
    last_error TEXT,
    created_at REAL NOT NULL,
    lease_token TEXT,
    first_failure TEXT,
    last_failure TEXT
);
CREATE INDEX IF NOT EXISTS queue_ready ON queue (status, due_at);

CREATE TABLE IF NOT EXISTS scf_dlq (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    function TEXT NOT NULL,
    job_type TEXT NOT NULL,
    idempotency_key TEXT,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    first_error TEXT NOT NULL,
    last_error TEXT NOT NULL,
    first_failed_at REAL NOT NULL,
    last_failed_at REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    first_error_class TEXT NOT NULL,
    last_error_class TEXT NOT NULL,
    failure_kind TEXT NOT NULL,
    resolution TEXT,
    updated_at REAL
);
CREATE INDEX IF NOT EXISTS scf_dlq_status ON scf_dlq (status, function);

CREATE TABLE IF NOT EXISTS scf_work (
    idem_key TEXT PRIMARY KEY,
    function TEXT NOT NULL,
    status TEXT NOT NULL,
    owner TEXT NOT NULL,
    lease_until REAL NOT NULL,
    runs INTEGER NOT NULL DEFAULT 1,
    updated_at REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS scf_job_stats (
    minute INTEGER NOT NULL,
    function TEXT NOT NULL,
    job_type TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    successes INTEGER NOT NULL DEFAULT 0,
    retries INTEGER NOT NULL DEFAULT 0,
    dead_letters INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, function, job_type)
);

CREATE TABLE IF NOT EXISTS idempotency (
    idem_key TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    token TEXT,
    response TEXT,
    lease_until REAL NOT NULL,
    expires_at REAL NOT NULL,
    updated_at REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    job_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (name, job_id)
);

CREATE TABLE IF NOT EXISTS invocation_metrics (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    function TEXT NOT NULL,
    trigger_kind TEXT NOT NULL,
    job_type TEXT NOT NULL,
    outcome TEXT NOT NULL,
    code TEXT NOT NULL,
    duration_ms REAL NOT NULL,
    cold_start INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    retries INTEGER NOT NULL,
    dead_letters INTEGER NOT NULL,
    duplicates INTEGER NOT NULL,
    ffmpeg_ms REAL NOT NULL,
    request_id TEXT NOT NULL,
    job_id TEXT NOT NULL,
    object_key TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS invocation_metrics_function_ts ON invocation_metrics (function, ts);

CREATE TABLE IF NOT EXISTS batch_imports (
    import_id TEXT PRIMARY KEY,
    manifest_url TEXT NOT NULL,
    manifest_etag TEXT NOT NULL,
    pass_number INTEGER NOT NULL,
    status TEXT NOT NULL,
    next_row INTEGER NOT NULL,
    total_rows INTEGER,
    error TEXT,
    lease_owner TEXT,
    lease_until REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS batch_imports_status ON batch_imports (status);

CREATE TABLE IF NOT EXISTS batch_rows (
    import_id TEXT NOT NULL,
    row_index INTEGER NOT NULL,
    pass_number INTEGER NOT NULL,
    status TEXT NOT NULL,
    row_label TEXT,
    reason TEXT,
    detail TEXT,
    source TEXT,
    object_key TEXT,
    etag TEXT,
    size BIGINT,
    mime TEXT,
    job_id TEXT,
    transcode_job_id TEXT,
    meta TEXT,
    updated_at REAL NOT NULL,
    PRIMARY KEY (import_id, row_index)
);

CREATE TABLE IF NOT EXISTS upload_grants (
    access_key_id TEXT PRIMARY KEY,
    secret_key TEXT NOT NULL,
    session_token TEXT NOT NULL,
    policy TEXT NOT NULL,
    expires_at REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS webhook_endpoints (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    secrets TEXT NOT NULL,
    events TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS webhook_endpoint_state (
    endpoint_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    disabled_reason TEXT,
    disabled_at REAL,
    consecutive_failures INTEGER NOT NULL,
    failing_since REAL,
    circuit_open_until REAL,
    last_success_at REAL,
    last_failure_at REAL,
    updated_at REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    event TEXT NOT NULL,
    job_id TEXT,
    outcome TEXT NOT NULL,
    status INTEGER,
    code TEXT,
    latency_ms INTEGER,
    response_head TEXT,
    body_sha256 TEXT NOT NULL,
    signed_at INTEGER,
    attempted_at REAL NOT NULL,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, attempted_at);
CREATE INDEX IF NOT EXISTS webhook_deliveries_webhook ON webhook_deliveries (webhook_id);
"""


def mysql_schema() -> str:
    """Translate the SQLite DDL to MySQL/MariaDB.

    Indexed text columns become VARCHAR (MySQL cannot index unbounded TEXT),
    epoch-second REAL columns become DOUBLE, and tables use InnoDB with utf8mb4
    so Chinese object keys round-trip.
    """
    ddl = SQLITE_SCHEMA
    ddl = ddl.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGINT PRIMARY KEY AUTO_INCREMENT")
    for column in ("job_key", "idem_key", "dedupe_key", "access_key_id"):
        ddl = re.sub(rf"{column} TEXT", f"{column} VARCHAR(700)", ddl)
    for column in ("id TEXT", "job_id TEXT", "type TEXT", "trigger_kind TEXT", "outcome TEXT",
                   "code TEXT", "status TEXT", "topic TEXT", "name TEXT",
                   "function TEXT", "job_type TEXT", "parent_id TEXT", "idempotency_key TEXT"):
        ddl = ddl.replace(column, column.replace("TEXT", "VARCHAR(191)"))
    # NOTE: MariaDB 10.11 compares a TEXT column wrongly inside ON DUPLICATE KEY UPDATE once an
    # earlier assignment rewrote it, which broke the claim upsert; VARCHAR does not have that.
    ddl = ddl.replace("fingerprint TEXT", "fingerprint VARCHAR(64)")
    ddl = ddl.replace("token TEXT", "token VARCHAR(64)")
    # A COS key is at most 850 bytes; the index covers a 191-character prefix, well under
    # InnoDB's 3072-byte limit for utf8mb4.
    ddl = ddl.replace("object_key TEXT", "object_key VARCHAR(850)")
    ddl = ddl.replace("ON media_jobs (object_key)", "ON media_jobs (object_key(191))")
    ddl = ddl.replace("REAL", "DOUBLE")
    ddl = ddl.replace("params TEXT NOT NULL DEFAULT '{}'", "params TEXT NOT NULL")
    for column in ("payload TEXT", "result TEXT", "response TEXT", "policy TEXT"):
        ddl = ddl.replace(column, column.replace("TEXT", "MEDIUMTEXT"))
    ddl = ddl.replace("\n);\n", "\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;\n")
    return ddl


@dataclass(frozen=True)
class TableSpec:
    """One CREATE TABLE statement with its columns as (name, definition) pairs."""

    name: str
    statement: str
    columns: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class IndexSpec:
    """One CREATE INDEX statement; ``columns`` is the text inside its parentheses."""

    name: str
    table: str
    columns: str
    unique: bool


_CREATE_TABLE = re.compile(r"^CREATE TABLE IF NOT EXISTS (\w+) \((.*)\)([^)]*)$", re.S)
_CREATE_INDEX = re.compile(r"^CREATE (UNIQUE )?INDEX IF NOT EXISTS (\w+) ON (\w+) \((.*)\)$", re.S)
_CONSTRAINT_WORDS = ("UNIQUE", "PRIMARY", "CONSTRAINT", "INDEX", "KEY", "FOREIGN", "CHECK")


def _split_top_level(body: str) -> list[str]:
    """Split a column list on commas that are not inside parentheses or quotes."""
    items: list[str] = []
    current: list[str] = []
    depth, quoted = 0, False
    for char in body:
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        if char == "," and depth == 0 and not quoted:
            items.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    items.append("".join(current).strip())
    return [item for item in items if item]


def statements(ddl: str) -> list[str]:
    return [s.strip() for s in ddl.split(";") if s.strip()]


def parse_ddl(ddl: str) -> tuple[list[TableSpec], list[IndexSpec]]:
    """Read the tables, columns and indexes a DDL script creates."""
    tables, indexes = [], []
    for statement in statements(ddl):
        table_match = _CREATE_TABLE.match(statement)
        if table_match:
            columns = []
            for item in _split_top_level(table_match.group(2)):
                first = item.split(None, 1)[0]
                if first.upper() in _CONSTRAINT_WORDS:
                    continue
                columns.append((first, item[len(first):].strip()))
            tables.append(TableSpec(table_match.group(1), statement, tuple(columns)))
            continue
        index_match = _CREATE_INDEX.match(statement)
        if index_match:
            indexes.append(IndexSpec(index_match.group(2), index_match.group(3), index_match.group(4),
                                     bool(index_match.group(1))))
            continue
        raise ValueError(f"schema statement is neither CREATE TABLE nor CREATE INDEX: {statement[:60]}")
    return tables, indexes
