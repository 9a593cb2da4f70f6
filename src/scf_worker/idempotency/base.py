"""The idempotency interface: an atomic claim with a lease, then complete or release.

A claim moves a key through three states:

- IN_PROGRESS, held for a lease (the function timeout plus a margin), so a
  holder that crashed never blocks the retry for longer than that;
- COMPLETED, with the stored response that every duplicate gets back;
- released (the record is deleted) when the work failed, so the retry proceeds.

Every record expires after ``expiry_seconds``; an expired key is new again.
Keys are stored as their SHA-256, so any length and character set fits.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Protocol

STATUS_IN_PROGRESS = "in_progress"
STATUS_COMPLETED = "completed"
DEFAULT_EXPIRY_SECONDS = 7 * 24 * 3600


def fingerprint(payload: Any) -> str:
    """Return a stable hash of a JSON-serialisable payload."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def stored_key(key: str) -> str:
    """Return the fixed-length form a key is stored under."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class IdempotencyStore(Protocol):
    """Atomic claims with leases; every backend passes the same contract tests."""

    def claim(self, key: str, payload_fingerprint: str, lease_seconds: float) -> str:
        """Take the key and return the holder's token.

        Raise AlreadyCompleted (with the stored response), AlreadyInProgress or
        IdempotencyConflict (same key, different fingerprint).
        """

    def complete(self, key: str, response: Any, token: str | None = None) -> bool:
        """Store the response; return False when ``token`` no longer holds the claim."""

    def release(self, key: str, token: str | None = None) -> bool:
        """Drop an in-progress claim so a retry proceeds; return whether one was dropped."""

    def purge_expired(self, limit: int = 1000) -> int:
        """Delete up to ``limit`` expired records; return how many were deleted."""
