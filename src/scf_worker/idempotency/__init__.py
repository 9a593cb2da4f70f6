"""Idempotency: atomic claims with leases, stored responses and payload fingerprints."""

from scf_worker.idempotency.base import IdempotencyStore, fingerprint
from scf_worker.idempotency.errors import (
    AlreadyCompleted,
    AlreadyInProgress,
    IdempotencyConflict,
    IdempotencyError,
)
from scf_worker.idempotency.factory import open_idempotency_store
from scf_worker.idempotency.runner import RunResult, run_once

__all__ = [
    "AlreadyCompleted",
    "AlreadyInProgress",
    "IdempotencyConflict",
    "IdempotencyError",
    "IdempotencyStore",
    "RunResult",
    "fingerprint",
    "open_idempotency_store",
    "run_once",
]
