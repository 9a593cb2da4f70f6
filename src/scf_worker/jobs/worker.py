"""The local stand-in for queue triggers: lease messages and invoke their functions.

Each message is handed to its function's ``main_handler`` as a CMQ record, the
way a queue trigger would deliver it, with ``managed_consumer`` set so the
handler returns outcomes instead of re-queueing; the worker then acks or
reschedules. A message whose worker died is picked up again when its lease
expires.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scf_worker.app import Services
from scf_worker.functions import get_function
from scf_worker.jobs.dispatch import envelope
from scf_worker.jobs.store import QueueMessage
from scf_worker.observability.logging import get_logger

log = get_logger(__name__)
DEFAULT_TIME_LIMIT_MS = {"transcode": 900_000, "webhook-forward": 30_000}
# The lease outlives the function's time limit, so a live holder keeps its message.
LEASE_MARGIN_SECONDS = 30


@dataclass
class WorkerStats:
    processed: int = 0
    done: int = 0
    retried: int = 0
    dead: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)


def queue_event(message: QueueMessage) -> dict[str, Any]:
    body = envelope(message.topic, message.payload, message.attempts)
    return {"Records": [{"CMQ": {
        "type": "queue", "topicName": message.topic, "msgId": str(message.id),
        "requestId": str(message.id), "msgBody": json.dumps(body, ensure_ascii=False),
    }}]}


def process(services: Services, message: QueueMessage, stats: WorkerStats,
            time_limit_ms: int | None = None) -> None:
    """Invoke the message's function and ack or reschedule the message by its outcome."""
    if time_limit_ms is None:
        time_limit_ms = DEFAULT_TIME_LIMIT_MS.get(message.topic, 60_000)
    context = {"request_id": str(uuid.uuid4()), "function_name": message.topic,
               "time_limit_in_ms": time_limit_ms, "managed_consumer": True}
    handler = get_function(message.topic).handler()
    response = handler(queue_event(message), context)
    result = (response.get("results") or [{}])[0]
    status = result.get("status")

    stats.processed += 1
    stats.by_topic[message.topic] = stats.by_topic.get(message.topic, 0) + 1
    if status == "retry":
        stats.retried += 1
        services.jobs.reschedule(message, int(result.get("delayMs") or 0), str(result.get("code")))
        return
    stats.dead += status == "dead"
    stats.done += status == "done"
    with services.db.transaction() as tx:
        services.jobs.ack(tx, message)


def run_until_idle(services: Services, max_messages: int = 10_000, max_wait_seconds: float = 120.0,
                   sleep: Callable[[float], None] = time.sleep) -> WorkerStats:
    """Process messages until none is ready or scheduled, waiting for due retries.

    Waiting is bounded by ``max_wait_seconds`` in total, so a run always ends.
    """
    stats = WorkerStats()
    waited = 0.0
    while stats.processed < max_messages:
        lease_seconds = max(DEFAULT_TIME_LIMIT_MS.values()) / 1000 + LEASE_MARGIN_SECONDS
        message = services.jobs.lease(lease_seconds)
        if message is not None:
            process(services, message, stats)
            continue
        due = services.jobs.next_due_at()
        if due is None or waited >= max_wait_seconds:
            break
        pause = min(max(due - services.clock(), 0.01), 1.0, max_wait_seconds - waited)
        sleep(pause)
        waited += pause
    return stats


def drain(services: Services, topic: str, deadline_monotonic: float) -> WorkerStats:
    """Process due messages of one topic until none is due or the deadline passes."""
    stats = WorkerStats()
    lease_seconds = DEFAULT_TIME_LIMIT_MS.get(topic, 60_000) / 1000 + LEASE_MARGIN_SECONDS
    while time.monotonic() < deadline_monotonic:
        message = services.jobs.lease(lease_seconds, topics=(topic,))
        if message is None:
            break
        remaining_ms = int((deadline_monotonic - time.monotonic()) * 1000)
        process(services, message, stats, time_limit_ms=max(remaining_ms, 1))
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
