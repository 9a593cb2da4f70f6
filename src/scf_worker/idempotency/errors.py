"""Errors and signals of the idempotency capability."""

from __future__ import annotations

from typing import Any


class IdempotencyError(Exception):
    """Base class for idempotency failures."""


class AlreadyInProgress(IdempotencyError):
    """Another holder owns a live claim on this key; retry after its lease."""

    def __init__(self, message: str, lease_until: float | None = None) -> None:
        self.lease_until = lease_until
        super().__init__(message)


class IdempotencyConflict(IdempotencyError):
    """The key was first used with a different payload fingerprint."""


class ClaimChanged(IdempotencyError):
    """The stored record changed between a look and a write; look again."""


class AlreadyCompleted(IdempotencyError):
    """A control-flow signal, not a failure: the stored response is returned to the duplicate."""

    def __init__(self, response: Any) -> None:
        self.response = response
        super().__init__("already completed")
