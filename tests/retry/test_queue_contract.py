"""One contract for every queue transport: SQLite, MariaDB and RabbitMQ (AMQP 0-9-1)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from retry_support import AMQP_URL, TRANSPORTS, FakeClock

from scf_worker.queue.amqp import AmqpQueue, delay_bucket_ms
from scf_worker.queue.base import Delivery, QueueTransport
from scf_worker.queue.sql import SqlQueue
from scf_worker.retry.classify import TRANSIENT, Failure
from scf_worker.state.sql import open_database

TOPIC = "probe"
LEASE_SECONDS = 30.0


@dataclass
class Harness:
    kind: str
    clock: FakeClock
    make: Any  # () -> a new transport on the same queues, as another worker would open

    def __post_init__(self) -> None:
        self.transport: QueueTransport = self.make()
        self.opened = [self.transport]

    def another(self) -> QueueTransport:
        transport = self.make()
        self.opened.append(transport)
        return transport

    def wait(self, seconds: float) -> None:
        """Let ``seconds`` pass: the fake clock for SQL, the broker's real TTL for AMQP."""
        if self.kind == "amqp":
            self.transport.sleep(seconds)  # type: ignore[attr-defined]
        self.clock.advance(seconds)

    def lease_eventually(self, transport: QueueTransport | None = None,
                         max_seconds: float = 2.0) -> Delivery | None:
        """Lease, waiting in short steps (AMQP delays run on the broker's clock)."""
        transport = transport or self.transport
        waited = 0.0
        while True:
            delivery = transport.lease((TOPIC,), LEASE_SECONDS)
            if delivery is not None or self.kind != "amqp" or waited >= max_seconds:
                return delivery
            self.wait(0.01)
            waited += 0.01


@pytest.fixture(params=TRANSPORTS)
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    clock = FakeClock()
    kind = request.param
    if kind == "amqp":
        prefix = request.getfixturevalue("amqp_prefix")
        made = Harness(kind, clock, lambda: AmqpQueue(AMQP_URL, prefix))
    else:
        url = (request.getfixturevalue("mariadb_url") if kind == "mariadb"
               else f"sqlite:///{tmp_path / 'queue.db'}")
        db = open_database(url)
        made = Harness(kind, clock, lambda: SqlQueue(db, clock))
    yield made
    for transport in made.opened:
        transport.close()


def failure(code: str = "http_503", at: float = 1.0) -> Failure:
    return Failure(TRANSIENT, code, "TransientError", f"upstream answered {code}", at=at)


def test_published_message_is_leased_once(harness: Harness) -> None:
    harness.transport.publish(TOPIC, {"jobId": "j1", "名字": "视频"})

    first = harness.lease_eventually()
    second = harness.another().lease((TOPIC,), LEASE_SECONDS)

    assert first is not None
    assert first.payload == {"jobId": "j1", "名字": "视频"}
    assert first.attempts == 1
    assert first.topic == TOPIC
    assert second is None


def test_ack_removes_message(harness: Harness) -> None:
    harness.transport.publish(TOPIC, {"jobId": "j1"})
    delivery = harness.lease_eventually()
    assert delivery is not None

    assert harness.transport.ack(delivery) is True
    harness.transport.close()

    assert harness.another().lease((TOPIC,), LEASE_SECONDS) is None


def test_other_topics_are_not_leased(harness: Harness) -> None:
    harness.transport.publish("other", {"jobId": "j1"})

    assert harness.transport.lease((TOPIC,), LEASE_SECONDS) is None


def test_delayed_message_waits_until_due(harness: Harness) -> None:
    harness.transport.publish(TOPIC, {"jobId": "j1"}, delay_ms=10_000)

    assert harness.transport.lease((TOPIC,), LEASE_SECONDS) is None
    backlog = harness.transport.backlog((TOPIC,))
    assert backlog.ready == 0
    assert backlog.scheduled == 1


def test_retry_redelivers_after_delay_with_failures(harness: Harness) -> None:
    harness.transport.publish(TOPIC, {"jobId": "j1"})
    delivery = harness.lease_eventually()
    assert delivery is not None

    assert harness.transport.retry(delivery, 40, failure("http_503", 1.0), attempts_made=1)
    if harness.kind != "amqp":
        # On the broker's real clock 40 ms may already have passed under load.
        assert harness.transport.lease((TOPIC,), LEASE_SECONDS) is None
    harness.wait(0.04)
    second = harness.lease_eventually()
    assert second is not None
    assert second.attempts == 2
    assert harness.transport.retry(second, 40, failure("http_502", 2.0), attempts_made=2)
    harness.wait(0.04)
    third = harness.lease_eventually()

    assert third is not None
    assert third.attempts == 3
    assert third.first_failure is not None
    assert third.first_failure.code == "http_503"
    assert third.last_failure is not None
    assert third.last_failure.code == "http_502"


def test_retry_can_keep_attempt_count(harness: Harness) -> None:
    harness.transport.publish(TOPIC, {"jobId": "j1"}, attempts_made=3)
    delivery = harness.lease_eventually()
    assert delivery is not None
    assert delivery.attempts == 4

    harness.transport.retry(delivery, 0, failure("in_progress"), attempts_made=3)
    again = harness.lease_eventually()

    assert again is not None
    assert again.attempts == 4


def test_dead_holder_message_comes_back_counted(harness: Harness) -> None:
    harness.transport.publish(TOPIC, {"jobId": "j1"})
    delivery = harness.lease_eventually()
    assert delivery is not None

    # The holder dies without acking: its connection closes, and (SQL) its lease runs out.
    harness.transport.close()
    harness.clock.advance(LEASE_SECONDS + 1)
    successor = harness.another()
    again = harness.lease_eventually(successor)

    assert again is not None
    assert again.payload == {"jobId": "j1"}
    assert again.attempts == 2
    assert again.last_failure is not None
    assert again.last_failure.code == "worker_lost"


def test_ack_after_lost_lease_is_refused(harness: Harness) -> None:
    harness.transport.publish(TOPIC, {"jobId": "j1"})
    delivery = harness.lease_eventually()
    assert delivery is not None
    if harness.kind == "amqp":
        harness.transport.close()
    harness.clock.advance(LEASE_SECONDS + 1)
    successor = harness.another()
    taken = harness.lease_eventually(successor)
    assert taken is not None

    assert harness.transport.ack(delivery) is False
    assert harness.transport.retry(delivery, 0, failure(), 1) is False
    assert successor.ack(taken) is True


def test_backlog_counts_ready_messages(harness: Harness) -> None:
    for index in range(3):
        harness.transport.publish(TOPIC, {"jobId": f"j{index}"})

    assert harness.transport.backlog((TOPIC,)).ready == 3


def test_sql_dedupe_key_accepts_once(harness: Harness) -> None:
    if harness.kind == "amqp":
        pytest.skip("AMQP has no deduplication; the work ledger runs duplicates once")

    assert harness.transport.publish(TOPIC, {"jobId": "j1"}, dedupe_key="j1") is True
    assert harness.transport.publish(TOPIC, {"jobId": "j1"}, dedupe_key="j1") is False


@pytest.mark.parametrize(("delay_ms", "bucket_ms"), [
    (0, 0), (1, 1), (7, 7), (8, 8), (9, 8), (10, 10), (15, 14), (1000, 896), (1024, 1024), (4000, 3584),
])
def test_delay_bucket_rounds_down_by_at_most_a_quarter(delay_ms: int, bucket_ms: int) -> None:
    assert delay_bucket_ms(delay_ms) == bucket_ms
    assert delay_ms * 0.75 <= bucket_ms <= delay_ms


def test_released_message_returns_as_lost_run(harness: Harness) -> None:
    harness.transport.publish(TOPIC, {"jobId": "j1"})
    delivery = harness.lease_eventually()
    assert delivery is not None

    harness.transport.release(delivery)
    again = harness.lease_eventually()

    assert again is not None
    assert again.attempts == 2
    assert again.last_failure is not None
    assert again.last_failure.code == "worker_lost"
