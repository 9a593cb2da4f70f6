"""Run one job message and decide its outcome: done, retry later, or dead-lettered.

This is where the retry policy meets real failures. Permanent failures are
dead-lettered after one attempt; anything else is retried until the attempt
budget is spent, then dead-lettered. Both the local worker and the SCF queue
and async entries call this, so the rules are the same everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scf_worker.app import Services
from scf_worker.observability.logging import get_logger
from scf_worker.retry.policy import PermanentError, TransientError

log = get_logger(__name__)
ENVELOPE_VERSION = 1


@dataclass(frozen=True)
class Outcome:
    """``done``, ``retry`` (after ``delay_ms``) or ``dead``; ``code`` names the reason."""

    status: str
    code: str = "ok"
    delay_ms: int = 0
    result: dict[str, Any] = field(default_factory=dict)


def envelope(topic: str, payload: dict[str, Any], attempt: int) -> dict[str, Any]:
    return {"v": ENVELOPE_VERSION, "topic": topic, "attempt": attempt, "payload": payload}


def open_envelope(body: Any) -> tuple[dict[str, Any], int]:
    """Return (payload, attempt); a bare payload counts as the first attempt."""
    if isinstance(body, dict) and body.get("v") == ENVELOPE_VERSION and "payload" in body:
        return body["payload"], int(body.get("attempt") or 1)
    return body, 1


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:1000]


def execute(services: Services, topic: str, job_type: str, payload: Any, attempt: int,
            run: Callable[[Any], dict[str, Any]],
            on_dead: Callable[[Any, str], None] | None = None,
            idempotency_key: str | None = None) -> Outcome:
    try:
        return Outcome("done", result=run(payload))
    except PermanentError as exc:
        code, reason = exc.code, error_text(exc)
        log.warning("job_permanent_failure", topic=topic, code=code, attempt=attempt, error=reason)
    except Exception as exc:
        code = exc.code if isinstance(exc, TransientError) else type(exc).__name__
        reason = error_text(exc)
        policy = services.retry_policy
        if policy.should_retry(attempt):
            retry_after = exc.retry_after_ms if isinstance(exc, TransientError) else None
            delay = policy.delay_ms(attempt - 1, retry_after)
            log.warning("job_retry_scheduled", topic=topic, code=code, attempt=attempt,
                        delayMs=delay, error=reason, exc_info=not isinstance(exc, TransientError))
            return Outcome("retry", code, delay)
        log.error("job_attempts_exhausted", topic=topic, code=code, attempt=attempt, error=reason)

    with services.db.transaction() as tx:
        services.jobs.dead_letter(tx, topic, job_type, payload if isinstance(payload, dict) else
                                  {"raw": str(payload)[:1000]}, attempt, reason, idempotency_key)
    if on_dead is not None:
        on_dead(payload, reason)
    return Outcome("dead", code)


def enqueue_retry(services: Services, topic: str, payload: dict[str, Any], attempt: int,
                  delay_ms: int) -> None:
    """Store the next attempt durably with its due time, instead of sleeping in-process."""
    with services.db.transaction() as tx:
        services.jobs.enqueue(tx, topic, payload, delay_ms=delay_ms, attempts_made=attempt)
