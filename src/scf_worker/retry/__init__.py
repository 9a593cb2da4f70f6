"""Retries and dead letters: the backoff policy, failure classification, the dead-letter store
and replay."""

from scf_worker.retry.classify import PERMANENT, TRANSIENT, Failure, classify
from scf_worker.retry.errors import DeadLetterError, DeadLetterNotFound, PermanentError, TransientError
from scf_worker.retry.policy import RetryPolicy, error_for_status, is_retryable_status, parse_retry_after

__all__ = [
    "PERMANENT",
    "TRANSIENT",
    "DeadLetterError",
    "DeadLetterNotFound",
    "Failure",
    "PermanentError",
    "RetryPolicy",
    "TransientError",
    "classify",
    "error_for_status",
    "is_retryable_status",
    "parse_retry_after",
]
