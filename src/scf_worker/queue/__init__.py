"""Durable queues behind one interface: the SQL ``queue`` table or an AMQP 0-9-1 broker."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlparse

from scf_worker.queue.base import Backlog, Delivery, QueueTransport, worker_lost
from scf_worker.queue.errors import QueueError, QueueUnavailable, UnsupportedQueueUrl
from scf_worker.queue.relay import relay_outbox
from scf_worker.queue.sql import SqlQueue
from scf_worker.state.sql import Database

__all__ = [
    "Backlog",
    "Delivery",
    "QueueError",
    "QueueTransport",
    "QueueUnavailable",
    "SqlQueue",
    "UnsupportedQueueUrl",
    "open_queue",
    "relay_outbox",
    "worker_lost",
]


def open_queue(url: str | None, db: Database, prefix: str = "scf-worker",
               clock: Callable[[], float] = time.time) -> QueueTransport:
    """Open the transport ``QUEUE_URL`` names; unset means the state store's ``queue`` table."""
    if not url:
        return SqlQueue(db, clock)
    scheme = urlparse(url).scheme
    if scheme in ("amqp", "amqps"):
        from scf_worker.queue.amqp import AmqpQueue

        return AmqpQueue(url, prefix)
    raise UnsupportedQueueUrl(
        f"QUEUE_URL scheme {scheme!r} is not supported; use amqp://user:password@host:5672/vhost"
        " or leave it unset for the state store's queue table"
    )
