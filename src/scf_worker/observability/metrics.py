"""Per-invocation metrics: one flat JSON ``metrics`` line, optionally kept in the state store.

CLS indexes first-level string and number fields of a one-line JSON log, so the
line carries only those. Locally (and wherever ``METRICS_TO_STATE`` is true) the
same record is inserted into ``invocation_metrics`` so ``scf-worker alerts``,
``report`` and ``trace`` can aggregate without a log pipeline.

Capability code adds facts to the current invocation with ``note(...)`` (for
example ``ffmpegMs`` or ``objectKey``); the entry point emits the record once.
"""

from __future__ import annotations

import contextvars
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from scf_worker.observability.logging import get_logger

log = get_logger("scf_worker.metrics")

_current: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "scf_worker_metrics", default=None
)


@dataclass
class InvocationRecord:
    """What one invocation (or one queue message within it) did."""

    function: str
    trigger: str
    outcome: str
    code: str
    duration_ms: float
    cold_start: bool = False
    job_type: str = ""
    attempt: int = 0
    retries: int = 0
    dead_letters: int = 0
    duplicates: int = 0
    ffmpeg_ms: float = 0.0
    request_id: str = ""
    job_id: str = ""
    object_key: str = ""
    ts: float = field(default_factory=time.time)


def note(**facts: Any) -> None:
    """Attach facts to the invocation being measured; a no-op outside one."""
    current = _current.get()
    if current is not None:
        for name, value in facts.items():
            if name in ("ffmpegMs", "duplicates", "retries", "deadLetters"):
                current[name] = current.get(name, 0) + value
            else:
                current[name] = value


@contextmanager
def collecting() -> Iterator[dict[str, Any]]:
    notes: dict[str, Any] = {}
    token = _current.set(notes)
    try:
        yield notes
    finally:
        _current.reset(token)


def to_state_enabled() -> bool:
    raw = os.environ.get("METRICS_TO_STATE", "").strip().lower()
    if raw:
        return raw in ("1", "true", "yes", "on")
    return os.environ.get("TENCENTCLOUD_RUNENV") != "SCF"


def emit(record: InvocationRecord, notes: dict[str, Any] | None = None, db: Any = None) -> None:
    """Write the metrics line and, when enabled and a database is at hand, the state row."""
    if notes:
        record.ffmpeg_ms += float(notes.get("ffmpegMs", 0))
        record.duplicates += int(notes.get("duplicates", 0))
        record.object_key = record.object_key or str(notes.get("objectKey", ""))
        record.job_id = record.job_id or str(notes.get("jobId", ""))
        record.job_type = record.job_type or str(notes.get("jobType", ""))
    log.info("metrics", **_line(record))
    if db is not None and to_state_enabled():
        try:
            _insert(db, record)
        except Exception as exc:  # noqa: BLE001 (metrics must never fail the invocation)
            log.warning("metrics_store_failed", errorClass=type(exc).__name__, error=str(exc)[:300])


def _line(record: InvocationRecord) -> dict[str, Any]:
    data = asdict(record)
    return {
        "metricFunction": data["function"], "trigger": data["trigger"], "outcome": data["outcome"],
        "code": data["code"], "durationMs": round(data["duration_ms"], 3),
        "coldStart": int(data["cold_start"]), "jobType": data["job_type"],
        "attempt": data["attempt"], "retries": data["retries"],
        "deadLetters": data["dead_letters"], "duplicates": data["duplicates"],
        "ffmpegMs": round(data["ffmpeg_ms"], 3),
    }


def _insert(db: Any, record: InvocationRecord) -> None:
    db.execute(
        "INSERT INTO invocation_metrics (ts, function, trigger_kind, job_type, outcome, code,"
        " duration_ms, cold_start, attempt, retries, dead_letters, duplicates, ffmpeg_ms,"
        " request_id, job_id, object_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (record.ts, record.function, record.trigger, record.job_type, record.outcome, record.code,
         record.duration_ms, int(record.cold_start), record.attempt, record.retries,
         record.dead_letters, record.duplicates, record.ffmpeg_ms, record.request_id,
         record.job_id, record.object_key),
    )
