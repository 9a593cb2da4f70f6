"""Dead letters in AMQP queues: ``<prefix>.dlq`` holds pending entries, ``<prefix>.dlq.archive``
the replayed and discarded ones (kept ``ARCHIVE_TTL_MS``).

A queue cannot be edited in place, so a checkout takes the entries with
``basic.get`` and holds them unacked on its own channel. Saving an entry
publishes its new version (to the archive once it is no longer pending), waits
for the broker's confirm, and only then acks the held copy; entries that were
not saved go back to the queue when the checkout closes its channel. While one
checkout holds entries, another sees none of them, which keeps two replays
from working on the same entry.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from scf_worker.queue.amqp import AmqpConnection, load_pika
from scf_worker.queue.errors import QueueError
from scf_worker.retry.deadletter import (
    STATUS_PENDING,
    DeadLetter,
    DeadLetterCount,
    DeadLetterQuery,
    sort_entries,
)
from scf_worker.retry.errors import DeadLetterError

ARCHIVE_TTL_MS = 30 * 24 * 3600 * 1000


@dataclass
class AmqpBatch:
    """Entries held unacked on ``channel``; ``tags`` maps an entry id to its delivery tag."""

    store: AmqpDeadLetterStore
    channel: Any
    entries: list[DeadLetter]
    tags: dict[str, int] = field(default_factory=dict)

    def save(self, entry: DeadLetter) -> None:
        if entry.id is None or entry.id not in self.tags:
            raise DeadLetterError(f"dead letter {entry.id} is not part of this checkout")
        self.store.publish(entry)
        self.channel.basic_ack(self.tags.pop(entry.id))


class AmqpDeadLetterStore:
    """Entries as persistent JSON messages, published with confirms."""

    kind = "amqp"

    def __init__(self, url: str, prefix: str = "scf-worker") -> None:
        self.connection = AmqpConnection(url)
        self.prefix = prefix
        self._declared_generation = -1

    def __repr__(self) -> str:
        return f"AmqpDeadLetterStore(prefix={self.prefix!r})"

    @property
    def pending_queue(self) -> str:
        return f"{self.prefix}.dlq"

    @property
    def archive_queue(self) -> str:
        return f"{self.prefix}.dlq.archive"

    def _confirm_channel(self) -> Any:
        channel = self.connection.channel()
        if self._declared_generation != self.connection.generation:
            channel.queue_declare(self.pending_queue, durable=True)
            channel.queue_declare(self.archive_queue, durable=True,
                                  arguments={"x-message-ttl": ARCHIVE_TTL_MS})
            self._declared_generation = self.connection.generation
        return channel

    def add(self, entry: DeadLetter) -> str:
        entry_id = entry.id or uuid.uuid4().hex[:16]
        self.publish(replace(entry, id=entry_id))
        return entry_id

    def publish(self, entry: DeadLetter) -> None:
        pika = load_pika()
        queue = self.pending_queue if entry.status == STATUS_PENDING else self.archive_queue
        properties = pika.BasicProperties(content_type="application/json", delivery_mode=2,
                                          message_id=entry.id)
        body = json.dumps(entry.as_json(), ensure_ascii=False).encode()
        with self._errors("publish"):
            self._confirm_channel().basic_publish("", queue, body, properties, mandatory=True)

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            with self.connection.errors(f"dead-letter {action}"):
                yield
        except QueueError as exc:
            raise DeadLetterError(str(exc)) from exc

    @contextmanager
    def checkout(self, query: DeadLetterQuery) -> Iterator[AmqpBatch]:
        queues = [self.pending_queue] if query.statuses == (STATUS_PENDING,) else [
            self.pending_queue, self.archive_queue]
        with self._errors("checkout"):
            self._confirm_channel()
            channel = self.connection.new_channel()
        batch = AmqpBatch(self, channel, [])
        try:
            with self._errors("checkout"):
                held = sort_entries(self._take(channel, queues, query, batch.tags))
            batch.entries = held if query.limit is None else held[: query.limit]
            kept = {entry.id for entry in batch.entries}
            # Entries past the limit stay held until the channel closes, but cannot be saved.
            batch.tags = {entry_id: tag for entry_id, tag in batch.tags.items() if entry_id in kept}
            yield batch
        finally:
            # Closing the channel hands every unsaved entry back to its queue.
            try:
                if channel.is_open:
                    channel.close()
            except Exception:  # noqa: BLE001, S110 (the connection may already be gone)
                pass

    def _take(self, channel: Any, queues: list[str], query: DeadLetterQuery,
              tags: dict[str, int]) -> list[DeadLetter]:
        held: list[DeadLetter] = []
        for queue in queues:
            count = channel.queue_declare(queue, passive=True).method.message_count
            for _ in range(count):
                method, properties, body = channel.basic_get(queue, auto_ack=False)
                if method is None:
                    break
                entry = self._decode(properties, body)
                if entry is None or not query.matches(entry) or entry.id in tags:
                    continue
                tags[str(entry.id)] = method.delivery_tag
                held.append(entry)
        return held

    @staticmethod
    def _decode(properties: Any, body: bytes) -> DeadLetter | None:
        try:
            entry = DeadLetter.from_json(json.loads(body))
        except (ValueError, KeyError, TypeError):
            return None
        return entry if entry.id else replace(entry, id=properties.message_id)

    def counts(self) -> list[DeadLetterCount]:
        totals: dict[tuple[str, str, str], int] = {}
        with self.checkout(DeadLetterQuery(statuses=())) as batch:
            for entry in batch.entries:
                key = (entry.function, entry.job_type, entry.status)
                totals[key] = totals.get(key, 0) + 1
        return [DeadLetterCount(f, t, s, n) for (f, t, s), n in sorted(totals.items())]

    def delete_all(self) -> None:
        """Delete both queues (tests and benchmarks clean up with it)."""
        with self._errors("delete"):
            channel = self.connection.channel()
            channel.queue_delete(self.pending_queue)
            channel.queue_delete(self.archive_queue)
        self._declared_generation = -1

    def close(self) -> None:
        self.connection.close()
