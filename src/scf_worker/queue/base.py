"""The queue interface every transport implements, and the message it hands out.

A transport stores messages durably, hands each due one to a single holder under
a lease, and forgets it only when the holder acks it. A holder that dies never
acks, so the message comes back: on the SQL table when the lease expires, on
AMQP when the broker sees the connection close. Either way the next delivery
counts the lost run as an attempt and records it as the ``worker_lost`` failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from scf_worker.retry.classify import TRANSIENT, Failure


def worker_lost(at: float) -> Failure:
    """The failure recorded for a delivery whose holder never acked nor retried it."""
    return Failure(TRANSIENT, "worker_lost", "WorkerLost",
                   "the previous attempt ended without a result (worker killed or lease expired)",
                   at=at)


@dataclass(frozen=True)
class Delivery:
    """A leased message; ``attempts`` counts deliveries, this one included."""

    id: str
    topic: str
    payload: dict[str, Any]
    attempts: int
    dedupe_key: str | None = None
    first_failure: Failure | None = None
    last_failure: Failure | None = None
    # Transport-private proof of the lease (a fencing token or a delivery tag).
    token: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Backlog:
    """Messages not yet acked: due now, scheduled for later, and held under a lease.

    ``next_due_seconds`` is how long until a scheduled or leased message may be
    handed out, or None when nothing is waiting. AMQP cannot see messages other
    consumers hold, so its ``leased`` is always 0.
    """

    ready: int = 0
    scheduled: int = 0
    leased: int = 0
    next_due_seconds: float | None = None

    @property
    def empty(self) -> bool:
        return self.ready == 0 and self.scheduled == 0 and self.leased == 0


class QueueTransport(Protocol):
    """A durable queue of JSON payloads by topic, with leases and delayed redelivery."""

    kind: str

    def publish(self, topic: str, payload: dict[str, Any], *, delay_ms: int = 0,
                attempts_made: int = 0, dedupe_key: str | None = None,
                first_failure: Failure | None = None) -> bool:
        """Store a message durably before returning; False when ``dedupe_key`` was already used.

        Only the SQL transport deduplicates; AMQP always accepts and returns True.
        """

    def lease(self, topics: Sequence[str], lease_seconds: float) -> Delivery | None:
        """Hand out one due message of the given topics, or None when none is due."""

    def ack(self, delivery: Delivery) -> bool:
        """Forget a delivered message; False when its lease was lost and someone else holds it."""

    def retry(self, delivery: Delivery, delay_ms: int, failure: Failure, attempts_made: int) -> bool:
        """Schedule the message again after ``delay_ms``, recording the failure; False if lease lost."""

    def release(self, delivery: Delivery) -> None:
        """Give a message back without a result, now; the next delivery counts it as a lost run."""

    def backlog(self, topics: Sequence[str]) -> Backlog:
        """Count what is waiting on the given topics."""

    def close(self) -> None:
        """Release connections; leased messages come back to the queue."""
