"""Dead-letter entries and the store interface both backends implement.

An entry keeps what an operator needs to decide and what replay needs to run
the work again: the function and job type, the idempotency key, the payload
with secrets stripped, the attempt count, the first and last failure (class
and truncated message, with their times) and a status. ``pending`` entries wait
for replay; ``replayed`` ones were completed by a replay (``resolution`` says
whether it ran the work or found it already done); ``discarded`` ones were
dropped by an operator.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from scf_worker.observability.logging import REDACTED, redact_text
from scf_worker.retry.classify import Failure, truncate

STATUS_PENDING = "pending"
STATUS_REPLAYED = "replayed"
STATUS_DISCARDED = "discarded"
STATUSES = (STATUS_PENDING, STATUS_REPLAYED, STATUS_DISCARDED)

RESOLUTION_REPLAYED = "replayed"
RESOLUTION_ALREADY_DONE = "already_done"
RESOLUTION_DUPLICATE = "duplicate"
RESOLUTION_DISCARDED = "discarded"

# Payload field names whose values are never stored (matched as substrings, any case).
SENSITIVE_FIELD_PARTS = ("secret", "token", "signature", "password", "authorization", "credential")
MAX_PAYLOAD_DEPTH = 20


def strip_secrets(value: Any, depth: int = 0) -> Any:
    """Return a copy with credential-like fields masked and registered secret values redacted."""
    if depth > MAX_PAYLOAD_DEPTH:
        return REDACTED
    if isinstance(value, dict):
        return {
            key: (REDACTED if _is_sensitive(str(key)) and item not in (None, "")
                  else strip_secrets(item, depth + 1))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [strip_secrets(item, depth + 1) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def _is_sensitive(name: str) -> bool:
    lowered = name.lower()
    return any(part in lowered for part in SENSITIVE_FIELD_PARTS)


@dataclass(frozen=True)
class DeadLetter:
    """One dead-letter entry; ``id`` is None until the store has it."""

    function: str
    job_type: str
    idempotency_key: str | None
    payload: dict[str, Any]
    attempts: int
    first_failure: Failure
    last_failure: Failure
    status: str = STATUS_PENDING
    id: str | None = None
    resolution: str | None = None
    updated_at: float | None = None

    @property
    def first_failed_at(self) -> float:
        return self.first_failure.at

    @property
    def last_failed_at(self) -> float:
        return self.last_failure.at

    @property
    def transient(self) -> bool:
        """Whether the final failure was transient (attempts ran out), so a replay may succeed."""
        return self.last_failure.transient

    def resolved(self, status: str, resolution: str, at: float) -> DeadLetter:
        return replace(self, status=status, resolution=resolution, updated_at=at)

    def failed_again(self, failure: Failure) -> DeadLetter:
        """Return the entry after one more failed (replay) attempt, still pending."""
        return replace(self, attempts=self.attempts + 1, last_failure=failure,
                       updated_at=failure.at)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "function": self.function, "jobType": self.job_type,
            "idempotencyKey": self.idempotency_key, "status": self.status,
            "resolution": self.resolution, "attempts": self.attempts,
            "failureKind": self.last_failure.kind,
            "firstError": _error_json(self.first_failure),
            "lastError": _error_json(self.last_failure),
            "firstFailedAt": self.first_failed_at, "lastFailedAt": self.last_failed_at,
            "updatedAt": self.updated_at, "payload": self.payload,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeadLetter:
        """Rebuild an entry written by ``as_json`` (the AMQP store keeps entries in this form)."""
        def failure(key: str, at_key: str) -> Failure:
            error = data.get(key) or {}
            return Failure(str(error.get("kind") or data.get("failureKind") or "transient"),
                           str(error.get("code") or "error"), str(error.get("class") or ""),
                           truncate(str(error.get("message") or "")), at=float(data.get(at_key) or 0))

        return cls(
            function=str(data["function"]), job_type=str(data.get("jobType") or ""),
            idempotency_key=data.get("idempotencyKey"), payload=dict(data.get("payload") or {}),
            attempts=int(data.get("attempts") or 0),
            first_failure=failure("firstError", "firstFailedAt"),
            last_failure=failure("lastError", "lastFailedAt"),
            status=str(data.get("status") or STATUS_PENDING), id=data.get("id"),
            resolution=data.get("resolution"), updated_at=data.get("updatedAt"),
        )


def _error_json(failure: Failure) -> dict[str, str]:
    return {"class": failure.error_class, "message": failure.message, "code": failure.code,
            "kind": failure.kind}


def _as_text(payload: Any) -> str:
    try:
        return json.dumps(payload, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(payload)


def new_entry(function: str, job_type: str, idempotency_key: str | None, payload: Any,
              attempts: int, first_failure: Failure, last_failure: Failure) -> DeadLetter:
    """Build a pending entry with the payload's secrets stripped."""
    # Anything JSON can hold is kept as JSON text, so an operator can send it again as it is.
    body = payload if isinstance(payload, dict) else {"raw": truncate(_as_text(payload))}
    return DeadLetter(function, job_type, idempotency_key, strip_secrets(body), attempts,
                      first_failure, last_failure, updated_at=last_failure.at or time.time())


@dataclass(frozen=True)
class DeadLetterQuery:
    """Filters for listing entries; times are epoch seconds on the last failure."""

    function: str | None = None
    job_type: str | None = None
    since: float | None = None
    until: float | None = None
    ids: tuple[str, ...] = ()
    statuses: tuple[str, ...] = (STATUS_PENDING,)
    transient_only: bool = False
    limit: int | None = None

    def matches(self, entry: DeadLetter) -> bool:
        checks = (
            self.function is None or entry.function == self.function,
            self.job_type is None or entry.job_type == self.job_type,
            self.since is None or entry.last_failed_at >= self.since,
            self.until is None or entry.last_failed_at < self.until,
            not self.ids or (entry.id is not None and entry.id in self.ids),
            not self.statuses or entry.status in self.statuses,
            not self.transient_only or entry.transient,
        )
        return all(checks)


@dataclass
class DeadLetterCount:
    """Entries per function, job type and status (for the metrics capability)."""

    function: str
    job_type: str
    status: str
    count: int


class DeadLetterBatch(Protocol):
    """Entries checked out of a store; ``save`` writes one back with its new status or failure."""

    entries: list[DeadLetter]

    def save(self, entry: DeadLetter) -> None: ...


class DeadLetterStore(Protocol):
    """A dead-letter store: the ``scf_dlq`` table or an AMQP dead-letter queue."""

    kind: str

    def add(self, entry: DeadLetter) -> str:
        """Store a new entry durably and return its id."""

    def checkout(self, query: DeadLetterQuery) -> AbstractContextManager[DeadLetterBatch]:
        """Yield the matching entries, oldest first; ``save`` persists changes to them."""

    def counts(self) -> list[DeadLetterCount]:
        """Count entries by function, job type and status."""

    def close(self) -> None: ...


def list_entries(store: DeadLetterStore, query: DeadLetterQuery) -> list[DeadLetter]:
    with store.checkout(query) as batch:
        return list(batch.entries)


def get_entry(store: DeadLetterStore, entry_id: str) -> DeadLetter | None:
    entries = list_entries(store, DeadLetterQuery(ids=(entry_id,), statuses=()))
    return entries[0] if entries else None


@dataclass
class ListBatch:
    """A batch over entries that are saved one by one (used by the SQL store)."""

    entries: list[DeadLetter]
    saver: Any = field(repr=False)

    def save(self, entry: DeadLetter) -> None:
        self.saver(entry)


def sort_entries(entries: Sequence[DeadLetter]) -> list[DeadLetter]:
    """Order by first failure; the sort is stable, so ties keep their queue order."""
    return sorted(entries, key=lambda e: e.first_failed_at)
