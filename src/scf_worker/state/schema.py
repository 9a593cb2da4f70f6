"""Table definitions for the SQL state store, for SQLite and MySQL/MariaDB.

Timestamps are epoch seconds (REAL) so comparisons are cheap and the same on
every dialect; the job and event contracts render them as ISO-8601 UTC.
"""

from __future__ import annotations

import re

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
    created_at REAL NOT NULL
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
    status TEXT NOT NULL DEFAULT 'pending'
);
CREATE INDEX IF NOT EXISTS scf_dlq_status ON scf_dlq (status, function);

CREATE TABLE IF NOT EXISTS idempotency (
    idem_key TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
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
    for column in ("id TEXT", "job_id TEXT", "type TEXT", "status TEXT", "topic TEXT", "name TEXT",
                   "function TEXT", "job_type TEXT", "parent_id TEXT", "idempotency_key TEXT"):
        ddl = ddl.replace(column, column.replace("TEXT", "VARCHAR(191)"))
    # 760 utf8mb4 characters keep the index under InnoDB's 3072-byte limit.
    ddl = ddl.replace("object_key TEXT", "object_key VARCHAR(760)")
    ddl = ddl.replace("REAL", "DOUBLE")
    ddl = ddl.replace("params TEXT NOT NULL DEFAULT '{}'", "params TEXT NOT NULL")
    for column in ("payload TEXT", "result TEXT", "response TEXT", "policy TEXT"):
        ddl = ddl.replace(column, column.replace("TEXT", "MEDIUMTEXT"))
    ddl = ddl.replace("\n);\n", "\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;\n")
    return ddl
