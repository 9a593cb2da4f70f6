"""Table definitions for the SQL state store.

Timestamps are epoch seconds (REAL) so comparisons are cheap and the same on
every dialect; the job and event contracts render them as ISO-8601 UTC.
"""

from __future__ import annotations

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
    key TEXT PRIMARY KEY,
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
    attempted_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, attempted_at);
CREATE INDEX IF NOT EXISTS webhook_deliveries_webhook ON webhook_deliveries (webhook_id);
"""
