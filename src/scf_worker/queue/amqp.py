"""The queue on an AMQP 0-9-1 broker (RabbitMQ, or TDMQ for RabbitMQ) through pika.

Layout, for prefix ``p`` and topic ``t``:

- exchange ``p.work`` (direct, durable) routes key ``t`` to queue ``p.t``;
- a retry is published, with publisher confirms, to the delay queue
  ``p.t.delay.<ms>``, whose queue-wide message TTL is ``<ms>`` and whose
  dead-letter exchange is ``p.work`` with routing key ``t``. When the TTL runs
  out the broker moves the message back to ``p.t``. All messages of one delay
  queue share one TTL, so none waits behind a longer one. Delays are rounded
  down to three significant bits (at most 25 % shorter, never longer), so few
  delay queues exist. Unused delay queues expire.

Messages are persistent and taken with ``basic.get`` and manual acks. A held
message is the lease: if the worker dies the broker sees the connection close
and requeues it. The next holder sees ``redelivered``, records the lost run as
an attempt by republishing the message with its count raised, and acks the old
copy, so a message that keeps killing its worker still runs out of attempts.

pika is imported on first connection. A transport is not thread-safe: use one
per thread.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from scf_worker.observability.logging import get_logger
from scf_worker.queue.base import Backlog, Delivery, worker_lost
from scf_worker.queue.errors import QueueError, QueueUnavailable
from scf_worker.retry.classify import Failure

log = get_logger(__name__)

HEADER_ATTEMPTS = "x-scf-attempts"
HEADER_TOPIC = "x-scf-topic"
HEADER_DEDUPE = "x-scf-dedupe-key"
HEADER_FIRST_FAILURE = "x-scf-first-failure"
HEADER_LAST_FAILURE = "x-scf-last-failure"
# An idle delay queue is deleted this long after its last declaration; every message in it
# expires sooner, because the queue is declared again before each publish.
DELAY_QUEUE_IDLE_MS = 600_000
# Redelivered copies recounted in one lease call before it gives up for this round.
MAX_RECOUNTS_PER_LEASE = 100
# How long after its due time a delayed message this process published still counts as
# waiting: the broker moves an expired message to the work queue asynchronously, and for a
# moment it is in neither queue.
IN_FLIGHT_GRACE_SECONDS = 5.0


def delay_bucket_ms(delay_ms: int) -> int:
    """Round a delay down to its three most significant bits (never more than 25 % shorter)."""
    if delay_ms <= 0:
        return 0
    drop = max(delay_ms.bit_length() - 3, 0)
    return (delay_ms >> drop) << drop


def _failure_header(failure: Failure | None) -> str | None:
    return json.dumps(failure.as_dict(), ensure_ascii=False) if failure is not None else None


def _failure_of(raw: Any) -> Failure | None:
    if isinstance(raw, bytes):
        raw = raw.decode()
    if not isinstance(raw, str) or not raw:
        return None
    try:
        return Failure.from_dict(json.loads(raw))
    except ValueError:
        return None


def load_pika() -> Any:
    import pika

    return pika


class AmqpConnection:
    """One lazily opened blocking connection with a confirming channel, reopened after errors."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._connection: Any = None
        self._channel: Any = None
        self._side: Any = None
        # Bumped on every reconnect, so delivery tags from a dead channel are recognised.
        self.generation = 0

    def __repr__(self) -> str:
        return "AmqpConnection(<url hidden>)"

    def _open(self) -> Any:
        pika = load_pika()
        if self._connection is None or not self._connection.is_open:
            try:
                self._connection = pika.BlockingConnection(pika.URLParameters(self._url))
            except pika.exceptions.AMQPError as exc:
                raise QueueUnavailable(f"could not connect to the AMQP broker: {type(exc).__name__}") from exc
        return self._connection

    def channel(self) -> Any:
        """Return the confirming channel that publishes, gets and acks."""
        if self._channel is not None and self._channel.is_open:
            return self._channel
        self._channel = self._open().channel()
        self._channel.confirm_delivery()
        self.generation += 1
        return self._channel

    def new_channel(self) -> Any:
        """Open a separate plain channel; the caller closes it."""
        return self._open().channel()

    def side_channel(self) -> Any:
        """Return a second channel for passive declarations, which the broker closes on a miss.

        Closing it never touches the deliveries held on the main channel.
        """
        if self._side is None or not self._side.is_open:
            self._side = self._open().channel()
        return self._side

    @contextmanager
    def errors(self, action: str) -> Iterator[None]:
        """Map pika's errors to QueueError; a connection-level error drops the connection."""
        pika = load_pika()
        try:
            yield
        except (pika.exceptions.AMQPConnectionError, pika.exceptions.ConnectionClosed,
                pika.exceptions.StreamLostError, ConnectionError) as exc:
            self.close()
            raise QueueUnavailable(f"AMQP {action} failed: {type(exc).__name__}: {exc}") from exc
        except pika.exceptions.AMQPError as exc:
            self._channel = None
            raise QueueError(f"AMQP {action} failed: {type(exc).__name__}: {exc}") from exc

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` while pika keeps processing broker heartbeats."""
        if self._connection is not None and self._connection.is_open:
            self._connection.sleep(seconds)

    def close(self) -> None:
        connection, self._connection, self._channel, self._side = self._connection, None, None, None
        # Deliveries taken before the close are back on the broker; their tags are void.
        self.generation += 1
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except Exception:  # noqa: BLE001, S110 (a broken connection may fail to close)
                pass


class AmqpQueue:
    """Work queues, delay queues and redelivery accounting on one AMQP connection."""

    kind = "amqp"

    def __init__(self, url: str, prefix: str = "scf-worker") -> None:
        self.connection = AmqpConnection(url)
        self.prefix = prefix
        self._declared: set[str] = set()
        self._declared_generation = -1
        # Delay queues this process published to, for backlog counts.
        self._delay_queues: dict[str, int] = {}
        # Delayed messages this process published and has not leased again: id -> due (monotonic).
        self._in_flight: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"AmqpQueue(prefix={self.prefix!r})"

    @property
    def exchange(self) -> str:
        return f"{self.prefix}.work"

    def queue_name(self, topic: str) -> str:
        return f"{self.prefix}.{topic}"

    def delay_queue_name(self, topic: str, bucket_ms: int) -> str:
        return f"{self.prefix}.{topic}.delay.{bucket_ms}"

    def _channel(self) -> Any:
        channel = self.connection.channel()
        if self._declared_generation != self.connection.generation:
            self._declared = set()
            self._declared_generation = self.connection.generation
        return channel

    def _ensure_topic(self, channel: Any, topic: str) -> str:
        name = self.queue_name(topic)
        if name not in self._declared:
            channel.exchange_declare(self.exchange, exchange_type="direct", durable=True)
            channel.queue_declare(name, durable=True)
            channel.queue_bind(name, self.exchange, routing_key=topic)
            self._declared.add(name)
        return name

    def _declare_delay_queue(self, channel: Any, topic: str, bucket_ms: int) -> str:
        name = self.delay_queue_name(topic, bucket_ms)
        channel.queue_declare(name, durable=True, arguments={
            "x-message-ttl": bucket_ms,
            "x-dead-letter-exchange": self.exchange,
            "x-dead-letter-routing-key": topic,
            "x-expires": bucket_ms + DELAY_QUEUE_IDLE_MS,
        })
        self._delay_queues[name] = bucket_ms
        return name

    def publish(self, topic: str, payload: dict[str, Any], *, delay_ms: int = 0,
                attempts_made: int = 0, dedupe_key: str | None = None,
                first_failure: Failure | None = None) -> bool:
        self._publish(topic, payload, delay_ms, attempts_made, dedupe_key, first_failure, None)
        return True

    def _publish(self, topic: str, payload: dict[str, Any], delay_ms: int, attempts_made: int,
                 dedupe_key: str | None, first_failure: Failure | None,
                 last_failure: Failure | None) -> None:
        pika = load_pika()
        headers: dict[str, Any] = {HEADER_ATTEMPTS: attempts_made, HEADER_TOPIC: topic}
        for name, value in ((HEADER_DEDUPE, dedupe_key),
                            (HEADER_FIRST_FAILURE, _failure_header(first_failure)),
                            (HEADER_LAST_FAILURE, _failure_header(last_failure))):
            if value is not None:
                headers[name] = value
        message_id = uuid.uuid4().hex
        properties = pika.BasicProperties(content_type="application/json", delivery_mode=2,
                                          message_id=message_id, headers=headers)
        body = json.dumps(payload, ensure_ascii=False).encode()
        with self.connection.errors("publish"):
            channel = self._channel()
            self._ensure_topic(channel, topic)
            bucket_ms = delay_bucket_ms(delay_ms)
            if bucket_ms == 0:
                exchange, routing_key = self.exchange, topic
            else:
                exchange, routing_key = "", self._declare_delay_queue(channel, topic, bucket_ms)
            # With confirms on, this returns only after the broker has the message;
            # it raises when the broker nacks it or cannot route it.
            channel.basic_publish(exchange, routing_key, body, properties, mandatory=True)
        if bucket_ms:
            self._in_flight[message_id] = time.monotonic() + bucket_ms / 1000

    def lease(self, topics: Sequence[str], lease_seconds: float) -> Delivery | None:
        if not topics:
            raise QueueError("the AMQP transport needs the topics to lease from")
        with self.connection.errors("lease"):
            for _ in range(MAX_RECOUNTS_PER_LEASE):
                got = self._get_one(topics)
                if got is None:
                    return None
                topic, method, properties, body = got
                delivery = self._delivery(topic, method, properties, body)
                self._in_flight.pop(delivery.id, None)
                if not method.redelivered:
                    return delivery
                self._recount_lost_run(delivery)
        return None

    def _get_one(self, topics: Sequence[str]) -> tuple[str, Any, Any, bytes] | None:
        channel = self._channel()
        for topic in topics:
            method, properties, body = channel.basic_get(self._ensure_topic(channel, topic),
                                                         auto_ack=False)
            if method is not None:
                return topic, method, properties, body
        return None

    def _delivery(self, topic: str, method: Any, properties: Any, body: bytes) -> Delivery:
        headers = properties.headers or {}
        dedupe = headers.get(HEADER_DEDUPE)
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {"raw": body.decode("utf-8", "replace")[:1000]}
        return Delivery(
            id=str(properties.message_id or method.delivery_tag),
            topic=topic,
            payload=payload if isinstance(payload, dict) else {"value": payload},
            attempts=int(headers.get(HEADER_ATTEMPTS) or 0) + 1,
            dedupe_key=dedupe.decode() if isinstance(dedupe, bytes) else dedupe,
            first_failure=_failure_of(headers.get(HEADER_FIRST_FAILURE)),
            last_failure=_failure_of(headers.get(HEADER_LAST_FAILURE)),
            token=(self.connection.generation, method.delivery_tag),
        )

    def _recount_lost_run(self, delivery: Delivery) -> None:
        """Republish a redelivered message with the lost run counted, then drop the old copy."""
        lost = worker_lost(time.time())
        self._publish(delivery.topic, delivery.payload, 0, delivery.attempts,
                      delivery.dedupe_key, delivery.first_failure or lost, lost)
        self._channel().basic_ack(delivery.token[1])
        log.warning("queue_lost_run_counted", topic=delivery.topic, messageId=delivery.id,
                    attempt=delivery.attempts)

    def _owns(self, delivery: Delivery) -> bool:
        generation, _ = delivery.token
        return bool(generation == self.connection.generation)

    def ack(self, delivery: Delivery) -> bool:
        if not self._owns(delivery):
            return False
        with self.connection.errors("ack"):
            self._channel().basic_ack(delivery.token[1])
        return True

    def retry(self, delivery: Delivery, delay_ms: int, failure: Failure, attempts_made: int) -> bool:
        if not self._owns(delivery):
            return False
        # Publish first and ack after: a crash in between leaves two copies, never none.
        self._publish(delivery.topic, delivery.payload, delay_ms, attempts_made, delivery.dedupe_key,
                      delivery.first_failure or failure, failure)
        return self.ack(delivery)

    def release(self, delivery: Delivery) -> None:
        if not self._owns(delivery):
            return
        with self.connection.errors("release"):
            self._channel().basic_nack(delivery.token[1], requeue=True)

    def backlog(self, topics: Sequence[str]) -> Backlog:
        # NOTE: only delay queues this process published to are counted. Delayed messages
        # another process published stay invisible here until they reach the work queue.
        ready = scheduled = 0
        shortest: int | None = None
        with self.connection.errors("backlog"):
            for topic in topics:
                channel = self._channel()
                self._ensure_topic(channel, topic)
                ready += channel.queue_declare(self.queue_name(topic), passive=True).method.message_count
            for name, bucket_ms in list(self._delay_queues.items()):
                count = self._delay_queue_count(name)
                if count:
                    scheduled += count
                    shortest = bucket_ms if shortest is None else min(shortest, bucket_ms)
        now = time.monotonic()
        for message_id, due in list(self._in_flight.items()):
            if due + IN_FLIGHT_GRACE_SECONDS < now:
                self._in_flight.pop(message_id)
        if scheduled == 0 and self._in_flight:
            # Expired from its delay queue but not yet routed back: still on its way.
            scheduled = len(self._in_flight)
            shortest = 4
        # A delayed message is due within its queue's TTL; polling at a fraction of it is enough.
        next_due = None if shortest is None else min(shortest / 1000 / 4, 1.0)
        return Backlog(ready=ready, scheduled=scheduled, next_due_seconds=next_due)

    def _delay_queue_count(self, name: str) -> int:
        pika = load_pika()
        try:
            return int(self.connection.side_channel().queue_declare(name, passive=True)
                       .method.message_count)
        except pika.exceptions.ChannelClosedByBroker:
            # The delay queue expired after its last message left.
            self._delay_queues.pop(name, None)
            return 0

    def sleep(self, seconds: float) -> None:
        self.connection.sleep(seconds)

    def delete_all(self, topics: Sequence[str]) -> None:
        """Delete the queues and exchange of these topics (tests and benchmarks clean up with it)."""
        with self.connection.errors("delete"):
            channel = self._channel()
            for name in [*(self.queue_name(t) for t in topics), *self._delay_queues]:
                channel.queue_delete(name)
            channel.exchange_delete(self.exchange)
        self._declared.clear()
        self._delay_queues.clear()

    def close(self) -> None:
        self.connection.close()
