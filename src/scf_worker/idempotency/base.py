"""The idempotency interface: an atomic claim with a lease, then complete or release."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Protocol


def fingerprint(payload: Any) -> str:
    """Return a stable hash of a JSON-serialisable payload."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyStore(Protocol):
    def claim(self, key: str, payload_fingerprint: str, lease_seconds: float) -> None:
        """Take the key; raise AlreadyCompleted, AlreadyInProgress or IdempotencyConflict."""

    def complete(self, key: str, response: Any) -> None: ...

    def release(self, key: str) -> None: ...
