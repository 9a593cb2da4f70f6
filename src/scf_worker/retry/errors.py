"""Signals and errors of the retry and dead-letter capability.

``PermanentError`` and ``TransientError`` are control-flow signals a job raises
to say how its failure should be handled; the rest are failures of the
dead-letter store and of replay.
"""

from __future__ import annotations


class PermanentError(Exception):
    """A failure that retrying cannot fix: dead-letter it after this attempt."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


class TransientError(Exception):
    """A failure worth retrying; ``retry_after_ms`` carries a server's hint."""

    def __init__(self, code: str, message: str, retry_after_ms: int | None = None) -> None:
        self.code = code
        self.retry_after_ms = retry_after_ms
        super().__init__(message)


class DeadLetterError(Exception):
    """The dead-letter store failed or is unreachable."""


class DeadLetterNotFound(DeadLetterError):
    """No dead-letter entry has the requested id."""
