"""The retry policy: exponential backoff with jitter, an attempt budget, and classification.

Attempts are numbered from 1. After failed attempt ``n`` the next attempt is due
``base_ms × 2^(n-1)`` later (1 s, 2 s, 4 s, 8 s with the defaults), capped at
``max_delay_ms``. With jitter on, the delay is drawn uniformly from
``[d/2, d]`` ("equal jitter"), so a burst of failures spreads out while every
delay keeps at least half of the schedule. A server's ``Retry-After`` raises
the delay to its value, never past the cap. The result is an ``int`` within
``[0, max_delay_ms]`` for any attempt number, however large.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scf_worker.retry.errors import PermanentError, TransientError

__all__ = [
    "RETRYABLE_4XX",
    "PermanentError",
    "RetryPolicy",
    "TransientError",
    "error_for_status",
    "is_retryable_status",
    "parse_retry_after",
]

# 4xx statuses that describe a passing condition (timeout, too early, rate limited).
RETRYABLE_4XX = frozenset({408, 425, 429})


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff schedule and attempt budget; pure apart from ``random_fn``."""

    base_ms: int = 1000
    max_delay_ms: int = 300_000
    max_attempts: int = 5
    jitter: bool = True
    random_fn: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.base_ms < 0 or self.max_delay_ms < 0:
            raise ValueError("base_ms and max_delay_ms must be >= 0")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")

    def schedule_ms(self, attempt: int) -> int:
        """Return the delay before attempt ``attempt + 1`` without jitter, within the cap."""
        exponent = max(attempt, 1) - 1
        if self.base_ms == 0:
            return 0
        # Past this exponent the product is over the cap, so the shift never builds a huge int.
        if exponent >= self.max_delay_ms.bit_length():
            return self.max_delay_ms
        return min(self.base_ms << exponent, self.max_delay_ms)

    def backoff_ms(self, attempt: int) -> int:
        """Return the jittered delay after failed attempt ``attempt`` (counted from 1)."""
        delay = self.schedule_ms(attempt)
        if not self.jitter or delay == 0:
            return delay
        low = delay // 2
        draw = min(max(self.random_fn(), 0.0), 1.0)
        return low + int(draw * (delay - low))

    def delay_ms(self, attempt: int, retry_after_ms: int | None = None) -> int:
        """Return the backoff, raised to a server's Retry-After when given, within the cap."""
        delay = self.backoff_ms(attempt)
        if retry_after_ms is not None and retry_after_ms > delay:
            delay = retry_after_ms
        return max(0, min(delay, self.max_delay_ms))

    def should_retry(self, attempts_made: int) -> bool:
        """Return whether another attempt fits the budget after ``attempts_made`` attempts."""
        return attempts_made < self.max_attempts


def is_retryable_status(status: int) -> bool:
    """Classify an HTTP status: 5xx, 408, 425 and 429 are retried, other 4xx are not."""
    return status >= 500 or status in RETRYABLE_4XX


def error_for_status(status: int, message: str, retry_after_ms: int | None = None) -> Exception:
    """Return the TransientError or PermanentError that an HTTP error status maps to."""
    code = f"http_{status}"
    if is_retryable_status(status):
        return TransientError(code, message, retry_after_ms)
    return PermanentError(code, message)


def parse_retry_after(value: str | None, now: float,
                      max_ms: int | None = None) -> int | None:
    """Parse a ``Retry-After`` header (delta seconds or an HTTP date) into milliseconds.

    Returns None for a missing or malformed value, 0 for a date in the past, and
    at most ``max_ms`` when given, so a hostile header cannot park a job forever.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        delay_ms = int(text) * 1000
    else:
        try:
            when = _parse_http_date(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        delay_ms = max(0, int((when.timestamp() - now) * 1000))
    return delay_ms if max_ms is None else min(delay_ms, max_ms)


def _parse_http_date(text: str) -> Any:
    # Imported on use: email.utils costs several milliseconds at cold start.
    import email.utils

    return email.utils.parsedate_to_datetime(text)
