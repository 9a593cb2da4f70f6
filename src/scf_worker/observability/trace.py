"""The whole path of one upload: credential, record, jobs, events, attempts and dead letters.

An upload is found by any id that touches it: the object key, a job id, or
the requestId of any invocation on its path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from scf_worker.jobs.model import iso_utc


@dataclass(frozen=True)
class TraceStep:
    at: float
    kind: str
    name: str
    outcome: str
    duration_ms: float | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"at": iso_utc(self.at), "kind": self.kind, "name": self.name,
                "outcome": self.outcome, "durationMs": self.duration_ms, "detail": self.detail}


def resolve_key(db: Any, identifier: str) -> str | None:
    """Find the object key an id belongs to, or None."""
    for sql in (
        "SELECT object_key AS k FROM media_jobs WHERE object_key = ? OR job_id = ? OR request_id = ?",
        "SELECT resource AS k FROM jobs WHERE id = ? OR request_id = ? OR parent_id = ?",
        "SELECT object_key AS k FROM invocation_metrics WHERE object_key <> '' AND"
        " (request_id = ? OR job_id = ? OR object_key = ?)",
    ):
        rows = db.query(sql + " LIMIT 1", (identifier, identifier, identifier))
        if rows:
            value = rows[0]["k"]
            return str(json.loads(value)["key"]) if value.startswith("{") else str(value)
    return None


def trace(db: Any, identifier: str) -> tuple[str | None, list[TraceStep]]:
    key = resolve_key(db, identifier)
    if key is None:
        return None, []
    jobs = [row for row in db.query("SELECT * FROM jobs ORDER BY created_at")
            if json.loads(row["resource"]).get("key") == key]
    job_ids = {row["id"] for row in jobs}
    steps: list[TraceStep] = []

    for row in db.query("SELECT * FROM invocation_metrics ORDER BY ts, id"):
        if row["object_key"] == key or row["job_id"] in job_ids:
            detail = row["job_id"] or row["object_key"]
            steps.append(TraceStep(row["ts"], "invocation", row["function"], row["outcome"],
                                   round(row["duration_ms"], 1), f"{row['code']} {detail}".strip()))
    for row in db.query("SELECT * FROM media_jobs WHERE object_key = ?", (key,)):
        steps.append(TraceStep(row["created_at"], "upload", "media_jobs", row["status"], None,
                               f"etag={row['etag']} size={row['size']}"))
    for row in jobs:
        steps.append(TraceStep(row["updated_at"], "job", row["type"], row["status"], None,
                               f"{row['id']} attempts={row['attempts']}"
                               + (f" error={row['error']}" if row["error"] else "")))
    for row in db.query("SELECT * FROM events ORDER BY id"):
        if row["job_id"] in job_ids:
            steps.append(TraceStep(row["created_at"], "event", row["name"], "emitted", None,
                                   row["job_id"]))
    for row in db.query("SELECT * FROM scf_dlq ORDER BY id"):
        if row["idempotency_key"] in job_ids or key in row["payload"]:
            steps.append(TraceStep(row["last_failed_at"], "dead_letter", row["function"],
                                   row["status"], None, row["last_error"][:200]))
    steps.sort(key=lambda step: step.at)
    return key, steps
