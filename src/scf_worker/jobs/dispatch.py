"""Run one attempt of a job and decide its outcome: done, retry later, or dead-lettered.

This is where the retry policy meets real failures, and the one place that
applies it: the local worker, the SCF queue and async entries and replay all
call ``execute``. A permanent failure is dead-lettered after its attempt; a
transient one is retried until ``RETRY_MAX_ATTEMPTS`` attempts were made, then
dead-lettered. Work with an idempotency key is claimed in the work ledger
first, so completed work is never run again and two runners never overlap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scf_worker.app import Services
from scf_worker.jobs import ledger as work
from scf_worker.jobs.stats import record_attempt
from scf_worker.observability.logging import get_logger
from scf_worker.queue.base import worker_lost
from scf_worker.retry.classify import PERMANENT, Failure, classify
from scf_worker.retry.deadletter import new_entry
from scf_worker.retry.errors import TransientError

log = get_logger(__name__)
ENVELOPE_VERSION = 1
DONE, RETRY, DEAD = "done", "retry", "dead"
# How long a run holds its claim on the work when the caller gives no time limit.
DEFAULT_CLAIM_SECONDS = 900.0


@dataclass(frozen=True)
class Outcome:
    """``done``, ``retry`` (after ``delay_ms``) or ``dead``; ``code`` names the reason.

    ``attempts_made`` is what the next delivery should count from: the attempt
    number, or one less when the run never started (the work was busy).
    """

    status: str
    code: str = "ok"
    delay_ms: int = 0
    result: dict[str, Any] = field(default_factory=dict)
    failure: Failure | None = None
    attempts_made: int = 0


@dataclass(frozen=True)
class Attempt:
    """One attempt of one job, as delivered."""

    function: str
    job_type: str
    payload: Any
    attempt: int
    idempotency_key: str | None = None
    first_failure: Failure | None = None
    last_failure: Failure | None = None
    # Replay runs the work once and reports back; it never dead-letters a new entry.
    dead_letter: bool = True
    claim_seconds: float = DEFAULT_CLAIM_SECONDS


def envelope(topic: str, payload: dict[str, Any], attempt: int,
             first_failure: Failure | None = None,
             last_failure: Failure | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"v": ENVELOPE_VERSION, "topic": topic, "attempt": attempt,
                            "payload": payload}
    if first_failure is not None:
        body["firstFailure"] = first_failure.as_dict()
    if last_failure is not None:
        body["lastFailure"] = last_failure.as_dict()
    return body


def open_envelope(body: Any) -> tuple[Any, int, Failure | None, Failure | None]:
    """Return (payload, attempt, first failure, last failure); a bare payload is attempt 1."""
    if isinstance(body, dict) and body.get("v") == ENVELOPE_VERSION and "payload" in body:
        try:
            attempt = max(int(body.get("attempt") or 1), 1)
        except (TypeError, ValueError):
            attempt = 1
        return (body["payload"], attempt, Failure.from_dict(body.get("firstFailure")),
                Failure.from_dict(body.get("lastFailure")))
    return body, 1, None, None


def execute(services: Services, attempt: Attempt, run: Callable[[Any], dict[str, Any]],
            on_dead: Callable[[Any, str], None] | None = None) -> Outcome:
    policy = services.retry_policy
    if attempt.attempt > policy.max_attempts:
        # Earlier runs were lost (worker killed, lease expired) and used up the budget.
        failure = attempt.last_failure or worker_lost(services.clock())
        log.error("job_attempts_exhausted", topic=attempt.function, code=failure.code,
                  attempt=attempt.attempt, error=failure.message)
        return _dead(services, attempt, failure, on_dead, ran=False)

    claim: work.WorkClaim | None = None
    if attempt.idempotency_key:
        claimed = services.ledger.claim(attempt.function, attempt.idempotency_key,
                                        attempt.claim_seconds)
        if claimed.state == work.DONE:
            log.info("job_duplicate_skipped", topic=attempt.function, attempt=attempt.attempt)
            return Outcome(DONE, "duplicate", attempts_made=attempt.attempt)
        if claimed.state == work.BUSY:
            return _busy(services, attempt, claimed.retry_after_seconds)
        claim = claimed.claim

    try:
        with work.holding(claim):
            result = run(attempt.payload)
        if claim is not None and not claim.completed:
            services.ledger.complete(claim)
    except work.WorkAlreadyDone:
        log.info("job_duplicate_rolled_back", topic=attempt.function, attempt=attempt.attempt)
        return Outcome(DONE, "duplicate", attempts_made=attempt.attempt)
    except Exception as exc:  # noqa: BLE001 (every job failure is classified, none escapes)
        return _failed(services, attempt, exc, claim, on_dead)

    record_attempt(services.db, attempt.function, attempt.job_type, services.clock(), DONE)
    return Outcome(DONE, result=result, attempts_made=attempt.attempt)


def _busy(services: Services, attempt: Attempt, wait_seconds: float) -> Outcome:
    """Another live run holds the work: look again after its lease, without using an attempt."""
    delay_ms = max(int(wait_seconds * 1000), services.retry_policy.base_ms)
    delay_ms = min(delay_ms, services.retry_policy.max_delay_ms)
    log.info("job_in_progress_elsewhere", topic=attempt.function, attempt=attempt.attempt,
             delayMs=delay_ms)
    return Outcome(RETRY, "in_progress", delay_ms, attempts_made=attempt.attempt - 1)


def _failed(services: Services, attempt: Attempt, exc: Exception, claim: work.WorkClaim | None,
            on_dead: Callable[[Any, str], None] | None) -> Outcome:
    failure = classify(exc, services.clock())
    if claim is not None:
        _release_quietly(services, claim)
    policy = services.retry_policy
    if failure.kind == PERMANENT:
        log.warning("job_permanent_failure", topic=attempt.function, code=failure.code,
                    attempt=attempt.attempt, errorClass=failure.error_class, error=failure.message)
        return _dead(services, attempt, failure, on_dead, ran=True)
    if not policy.should_retry(attempt.attempt):
        log.error("job_attempts_exhausted", topic=attempt.function, code=failure.code,
                  attempt=attempt.attempt, errorClass=failure.error_class, error=failure.message)
        return _dead(services, attempt, failure, on_dead, ran=True)

    delay_ms = policy.delay_ms(attempt.attempt, failure.retry_after_ms)
    log.warning("job_retry_scheduled", topic=attempt.function, code=failure.code,
                attempt=attempt.attempt, delayMs=delay_ms, errorClass=failure.error_class,
                error=failure.message, exc_info=not isinstance(exc, TransientError))
    record_attempt(services.db, attempt.function, attempt.job_type, services.clock(), RETRY)
    return Outcome(RETRY, failure.code, delay_ms, failure=failure, attempts_made=attempt.attempt)


def _release_quietly(services: Services, claim: work.WorkClaim) -> None:
    from scf_worker.state.errors import StateError

    try:
        services.ledger.release(claim)
    except StateError as exc:
        # The claim's lease still runs out on its own; the next attempt waits for it.
        log.warning("work_release_failed", topic=claim.function, error=str(exc))


def _dead(services: Services, attempt: Attempt, failure: Failure,
          on_dead: Callable[[Any, str], None] | None, ran: bool) -> Outcome:
    outcome = Outcome(DEAD, failure.code, failure=failure, attempts_made=attempt.attempt)
    if not attempt.dead_letter:
        return outcome
    attempts = attempt.attempt if ran else attempt.attempt - 1
    entry = new_entry(attempt.function, attempt.job_type, attempt.idempotency_key, attempt.payload,
                      attempts, attempt.first_failure or failure, failure)
    entry_id = services.dead_letters.add(entry)
    log.error("job_dead_lettered", topic=attempt.function, code=failure.code, attempt=attempts,
              deadLetterId=entry_id, errorClass=failure.error_class)
    if on_dead is not None:
        on_dead(attempt.payload, f"{failure.error_class}: {failure.message}")
    if ran:
        record_attempt(services.db, attempt.function, attempt.job_type, services.clock(), DEAD)
    return outcome
