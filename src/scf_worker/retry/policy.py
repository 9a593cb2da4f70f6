"""The retry policy: exponential backoff with jitter, and error classification.

Delay before attempt n+1 (n counted from 0 for the first failure) is
``base_ms × 2^n`` capped at ``max_delay_ms``; with full jitter enabled the
delay is drawn uniformly from ``[delay/2, delay]`` so a burst of failures does
not retry in lockstep. The exponent is clamped before shifting, so any n is
safe and the result is always within ``[0, max_delay_ms]``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

# 2**62 ms is far past any cap, and Python ints never overflow, but clamping
# keeps the arithmetic cheap for huge attempt numbers.
_MAX_EXPONENT = 62


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff schedule and attempt budget."""

    base_ms: int = 1000
    max_delay_ms: int = 300_000
    max_attempts: int = 5
    jitter: bool = True
    random_fn: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def backoff_ms(self, attempt: int) -> int:
        """Return the delay before retrying after failed attempt ``attempt`` (0-based)."""
        exponent = min(max(attempt, 0), _MAX_EXPONENT)
        delay = min(self.base_ms * (1 << exponent), self.max_delay_ms)
        if self.jitter and delay > 0:
            delay = delay // 2 + int(self.random_fn() * (delay - delay // 2))
        return max(0, min(delay, self.max_delay_ms))

    def delay_ms(self, attempt: int, retry_after_ms: int | None = None) -> int:
        """Return the backoff, raised to a server's Retry-After when given, within the cap."""
        delay = self.backoff_ms(attempt)
        if retry_after_ms is not None:
            delay = max(delay, retry_after_ms)
        return max(0, min(delay, self.max_delay_ms))

    def should_retry(self, attempts_made: int) -> bool:
        return attempts_made < self.max_attempts


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


def is_retryable_status(status: int) -> bool:
    """Classify an HTTP status: 5xx, 408, 425 and 429 are retried, other 4xx are not."""
    return status >= 500 or status in (408, 425, 429)
