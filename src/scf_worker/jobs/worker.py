"""The consumer loop: lease messages from the queue transport and invoke their functions.

Each message is handed to its function's ``main_handler`` as a CMQ record, the
way a queue trigger would deliver it, with ``managed_consumer`` set so the
handler returns outcomes instead of publishing retries; the loop then acks the
message or schedules its next attempt. A message whose worker died is handed
out again (SQL: when its lease expires; AMQP: when the broker sees the
connection close). When the state store or the broker is unreachable the loop
waits and tries again instead of dropping anything.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from scf_worker.app import Services
from scf_worker.functions import FUNCTIONS, get_function
from scf_worker.jobs.dispatch import envelope
from scf_worker.observability.logging import get_logger
from scf_worker.queue.base import Delivery
from scf_worker.queue.errors import QueueError
from scf_worker.queue.relay import relay_outbox
from scf_worker.retry.classify import Failure
from scf_worker.retry.errors import DeadLetterError
from scf_worker.runtime.ids import uuid4_text
from scf_worker.state.errors import StateError

log = get_logger(__name__)
DEFAULT_TIME_LIMIT_MS = {"transcode": 900_000, "webhook-forward": 30_000}
FALLBACK_TIME_LIMIT_MS = 60_000
# The lease outlives the function's time limit, so a live holder keeps its message.
LEASE_MARGIN_SECONDS = 30
# Longest single wait between polls; waits are short so a due retry is picked up promptly.
MAX_POLL_SECONDS = 1.0
INFRA_ERRORS = (StateError, QueueError, DeadLetterError)


@dataclass
class WorkerStats:
    processed: int = 0
    done: int = 0
    retried: int = 0
    dead: int = 0
    lost_leases: int = 0
    infra_errors: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)


def queue_topics() -> tuple[str, ...]:
    """Topics of every function that consumes the queue."""
    return tuple(name for name, spec in FUNCTIONS.items() if spec.consumes_queue)


def time_limit_ms_of(topic: str) -> int:
    return DEFAULT_TIME_LIMIT_MS.get(topic, FALLBACK_TIME_LIMIT_MS)


def lease_seconds_of(topics: Sequence[str]) -> float:
    return max(time_limit_ms_of(t) for t in topics) / 1000 + LEASE_MARGIN_SECONDS


def queue_event(delivery: Delivery) -> dict[str, Any]:
    body = envelope(delivery.topic, delivery.payload, delivery.attempts, delivery.first_failure,
                    delivery.last_failure)
    return {"Records": [{"CMQ": {
        "type": "queue", "topicName": delivery.topic, "msgId": delivery.id,
        "requestId": delivery.id, "msgBody": json.dumps(body, ensure_ascii=False),
    }}]}


def process(services: Services, delivery: Delivery, stats: WorkerStats,
            time_limit_ms: int | None = None) -> None:
    """Invoke the message's function, then ack the message or schedule its next attempt."""
    if time_limit_ms is None:
        time_limit_ms = time_limit_ms_of(delivery.topic)
    context = {"request_id": uuid4_text(), "function_name": delivery.topic,
               "time_limit_in_ms": time_limit_ms, "managed_consumer": True}
    handler = get_function(delivery.topic).handler()
    response = handler(queue_event(delivery), context)
    result = (response.get("results") or [{}])[0]
    status = result.get("status")

    stats.processed += 1
    stats.by_topic[delivery.topic] = stats.by_topic.get(delivery.topic, 0) + 1
    if status == "retry":
        stats.retried += 1
        failure = Failure.from_dict(result.get("failure")) or Failure(
            "transient", str(result.get("code")), str(result.get("code")), str(result.get("code")),
            at=services.clock())
        kept = services.queue.retry(delivery, int(result.get("delayMs") or 0), failure,
                                    int(result.get("attemptsMade") or delivery.attempts))
    else:
        stats.dead += status == "dead"
        stats.done += status == "done"
        kept = services.queue.ack(delivery)
    if not kept:
        # Our lease ran out and another holder has the message; its run decides the outcome.
        stats.lost_leases += 1
        log.warning("queue_lease_lost", topic=delivery.topic, messageId=delivery.id,
                    attempt=delivery.attempts)


def _process_or_release(services: Services, delivery: Delivery, stats: WorkerStats) -> None:
    """Process a delivery; when the store fails midway, hand the message back before re-raising.

    Without this an AMQP message would stay unacked on this worker's channel until it exits.
    """
    try:
        process(services, delivery, stats)
    except INFRA_ERRORS:
        try:
            services.queue.release(delivery)
        except INFRA_ERRORS as exc:
            # The SQL lease still expires on its own, and AMQP requeues on disconnect.
            log.warning("queue_release_failed", topic=delivery.topic, messageId=delivery.id,
                        error=str(exc))
        raise


def _relay(services: Services) -> None:
    if services.queue.kind != "sql":
        relay_outbox(services.db, services.queue, services.clock)


def run_until_idle(services: Services, max_messages: int = 10_000, max_wait_seconds: float = 120.0,
                   sleep: Callable[[float], None] = time.sleep,
                   topics: Sequence[str] | None = None) -> WorkerStats:
    """Process messages until none is ready, scheduled or leased, waiting for due retries.

    Waiting is bounded by ``max_wait_seconds`` in total (sleeps go through
    ``sleep``, so tests pass one that advances a fake clock), so a run always ends.
    """
    topics = tuple(topics or queue_topics())
    lease_seconds = lease_seconds_of(topics)
    stats = WorkerStats()
    waited = 0.0
    while stats.processed < max_messages:
        try:
            _relay(services)
            delivery = services.queue.lease(topics, lease_seconds)
            if delivery is not None:
                _process_or_release(services, delivery, stats)
                continue
            backlog = services.queue.backlog(topics)
        except INFRA_ERRORS as exc:
            stats.infra_errors += 1
            log.warning("worker_store_unavailable", error=str(exc), errorClass=type(exc).__name__)
            backlog = None
        if waited >= max_wait_seconds or (backlog is not None and backlog.empty):
            break
        due = MAX_POLL_SECONDS if backlog is None else backlog.next_due_seconds
        pause = min(max(due if due is not None else MAX_POLL_SECONDS, 0.001), MAX_POLL_SECONDS,
                    max_wait_seconds - waited)
        sleep(pause)
        waited += pause
    return stats


def drain(services: Services, topic: str, deadline_monotonic: float) -> WorkerStats:
    """Process due messages of one topic until none is due or the deadline passes."""
    stats = WorkerStats()
    lease_seconds = time_limit_ms_of(topic) / 1000 + LEASE_MARGIN_SECONDS
    _relay(services)
    while time.monotonic() < deadline_monotonic:
        delivery = services.queue.lease((topic,), lease_seconds)
        if delivery is None:
            break
        remaining_ms = int((deadline_monotonic - time.monotonic()) * 1000)
        try:
            process(services, delivery, stats, time_limit_ms=max(remaining_ms, 1))
        except INFRA_ERRORS:
            services.queue.release(delivery)
            raise
    return stats


def run_pool(services: Services, workers: int, max_messages: int = 10_000,
             max_wait_seconds: float = 900.0) -> WorkerStats:
    """Run ``run_until_idle`` on ``workers`` threads at once and add up their stats.

    ffmpeg runs in child processes, so threads give real parallelism, for
    example to fan-out segments. An idle thread keeps polling while another
    thread holds a lease, because that thread may queue more work (segments,
    joins). ``max_wait_seconds`` bounds each thread's total waiting, as in
    ``run_until_idle``.
    """
    import threading
    from dataclasses import fields

    if workers < 1:
        raise ValueError("workers must be at least 1")
    total = WorkerStats()
    lock = threading.Lock()

    def work() -> None:
        stats = run_until_idle(services, max_messages=max_messages, max_wait_seconds=max_wait_seconds)
        with lock:
            for item in fields(WorkerStats):
                value = getattr(stats, item.name)
                if isinstance(value, int):
                    setattr(total, item.name, getattr(total, item.name) + value)
            for topic, count in stats.by_topic.items():
                total.by_topic[topic] = total.by_topic.get(topic, 0) + count

    threads = [threading.Thread(target=work, name=f"scf-worker-{i}", daemon=True) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return total
