"""The ``main_handler`` shape shared by queue- and async-triggered job functions.

A function takes direct async invocations (the payload itself, or an envelope
carrying the attempt number) and queue records (CMQ or CKafka), and on a timer
tick drains its topic from the configured queue transport. When the local
worker, the drain or replay calls it, it sets ``managed_consumer`` in the
context and the caller acts on the returned outcomes. Otherwise the handler
publishes each retry to the queue transport, with its due time, before
returning; it never sleeps between attempts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from scf_worker.app import Services, get_services
from scf_worker.jobs.dispatch import Attempt, Outcome, execute, open_envelope
from scf_worker.observability import logging as obs_logging
from scf_worker.observability import metrics
from scf_worker.runtime.errors import ConfigError
from scf_worker.runtime.events import kind_of, parse_queue
from scf_worker.runtime.invocation import (
    Invocation,
    bind_invocation,
    start_invocation,
    unsupported,
)

log = obs_logging.get_logger(__name__)
JobRun = Callable[[Services, Any, Invocation], dict[str, Any]]
DeadHook = Callable[[Services, Any, str], None]
KeyOf = Callable[[Any], str | None]
TimerHook = Callable[[Services], None]
# A drain stops leasing new messages this long before the invocation's time limit.
DRAIN_MARGIN_MS = 60_000


def job_id_key(payload: Any) -> str | None:
    """The default idempotency key: the payload's ``idempotencyKey`` or ``jobId``."""
    if not isinstance(payload, dict):
        return None
    key = payload.get("idempotencyKey") or payload.get("jobId")
    return key if isinstance(key, str) and key else None


def job_function(function_name: str, job_type: str, run: JobRun,
                 on_dead: DeadHook | None = None,
                 key_of: KeyOf = job_id_key,
                 on_timer: TimerHook | None = None) -> Callable[[Any, Any], dict[str, Any]]:
    """Build the main_handler of a queue, async or timer function.

    ``on_timer`` runs housekeeping after the queue drain on each timer tick.
    """

    def main_handler(event: Any, context: Any) -> dict[str, Any]:
        invocation = start_invocation(function_name, context)
        bind_invocation(function_name, function_name, invocation, event)
        ctx = context if isinstance(context, Mapping) else {}
        kind = kind_of(event)
        code = "ok"
        try:
            if kind not in ("direct", "queue", "timer"):
                code = "unsupported_event"
                _dead_letter_unsupported(get_services(), function_name, job_type, event, kind)
                return unsupported(function_name, invocation, kind)
            services = get_services()
            if kind == "timer":
                drained = _drain(services, function_name, invocation)
                if on_timer is not None:
                    on_timer(services)
                return drained
            items = ([(m.message_id, m.body) for m in parse_queue(event)] if kind == "queue"
                     else [(None, event)])
            results = []
            for message_id, body in items:
                outcome = _run_one(services, function_name, job_type, body, invocation, run,
                                   on_dead, key_of, ctx)
                if outcome.status != "done":
                    code = outcome.code
                results.append(_result_json(message_id, outcome))
            return {"code": 0, "message": "ok", "requestId": invocation.request_id,
                    "results": results}
        except ConfigError as exc:
            # Raised, so SCF marks the invocation failed and an async trigger retries it.
            code = "config_invalid"
            obs_logging.configure()
            log.error("config_invalid", variable=exc.variable, error=str(exc))
            raise
        except BaseException as exc:
            code = "error"
            log.error("invocation_failed", errorClass=type(exc).__name__)
            raise
        finally:
            log.info("invocation_end", code=code, coldStart=invocation.cold_start,
                     durationMs=int((time.monotonic() - invocation.started_monotonic) * 1000))

    return main_handler


def _dead_letter_unsupported(services: Services, function_name: str, job_type: str, event: Any,
                             kind: str) -> None:
    """Keep an event of a shape this function cannot run; an async trigger would drop it otherwise."""
    from scf_worker.retry.classify import PERMANENT, Failure
    from scf_worker.retry.deadletter import new_entry

    failure = Failure(PERMANENT, "unsupported_event", "UnsupportedEvent",
                      f"{function_name} does not take {kind} events", at=services.clock())
    entry_id = services.dead_letters.add(new_entry(function_name, job_type, None, event, 1, failure, failure))
    log.error("job_dead_lettered", topic=function_name, code="unsupported_event", deadLetterId=entry_id)


def _result_json(message_id: str | None, outcome: Outcome) -> dict[str, Any]:
    result: dict[str, Any] = {"messageId": message_id, "status": outcome.status, "code": outcome.code,
                              "delayMs": outcome.delay_ms, "attemptsMade": outcome.attempts_made}
    if outcome.result:
        result["result"] = outcome.result
    if outcome.failure is not None:
        result["failure"] = outcome.failure.as_dict()
    return result


def _drain(services: Services, function_name: str, invocation: Invocation) -> dict[str, Any]:
    """On a timer tick, run this function's due queue messages until the time is nearly up."""
    from scf_worker.jobs.worker import drain

    margin_ms = min(DRAIN_MARGIN_MS, invocation.time_limit_ms // 2)
    stats = drain(services, function_name, invocation.deadline(margin_ms))
    # A gauge CLS can alarm on: the pending dead-letter backlog, sampled on every timer tick.
    from scf_worker.observability.alerts import pending_dead_letters

    log.info("dlq_backlog", pending=pending_dead_letters(services.dead_letters))
    return {"code": 0, "message": "ok", "requestId": invocation.request_id,
            "processed": stats.processed, "done": stats.done, "retried": stats.retried,
            "dead": stats.dead}


def _run_one(services: Services, function_name: str, job_type: str, body: Any,
             invocation: Invocation, run: JobRun, on_dead: DeadHook | None, key_of: KeyOf,
             ctx: Mapping[str, Any]) -> Outcome:
    payload, attempt, first_failure, last_failure = open_envelope(body)
    key = key_of(payload)
    job_id = payload.get("jobId") if isinstance(payload, dict) else None
    started = time.monotonic()
    with obs_logging.bound(jobId=job_id, attempt=attempt), metrics.collecting() as notes:
        outcome = execute(
            services,
            Attempt(function_name, job_type, payload, attempt, key, first_failure, last_failure,
                    dead_letter=not ctx.get("dlq_replay"),
                    claim_seconds=invocation.time_limit_ms / 1000 + 30),
            run=lambda p: run(services, p, invocation),
            on_dead=(lambda p, reason: on_dead(services, p, reason)) if on_dead else None,
        )
        if outcome.status == "retry" and not ctx.get("managed_consumer") and isinstance(payload, dict):
            # Outside a managed consumer no other process returns to this message,
            # so the retry is published here.
            services.queue.publish(function_name, payload, delay_ms=outcome.delay_ms,
                                   attempts_made=outcome.attempts_made,
                                   first_failure=first_failure or outcome.failure)
        managed = bool(ctx.get("managed_consumer"))
        duplicate = outcome.code == "duplicate" or outcome.result.get("status") == "duplicate"
        record = metrics.InvocationRecord(
            function=function_name, trigger="queue" if managed else "direct",
            outcome="duplicate" if duplicate else outcome.status, code=outcome.code,
            duration_ms=(time.monotonic() - started) * 1000, cold_start=invocation.cold_start,
            job_type=job_type, attempt=attempt, retries=int(outcome.status == "retry"),
            dead_letters=int(outcome.status == "dead"), duplicates=int(duplicate),
            request_id=invocation.request_id, job_id=str(job_id or ""),
        )
        metrics.emit(record, dict(notes), services.db)
    return outcome
