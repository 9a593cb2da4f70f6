"""One contract for both dead-letter stores: the scf_dlq table (SQLite, MariaDB) and RabbitMQ."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from retry_support import AMQP_URL, TRANSPORTS

from scf_worker.retry.classify import PERMANENT, TRANSIENT, Failure
from scf_worker.retry.deadletter import (
    STATUS_DISCARDED,
    STATUS_REPLAYED,
    DeadLetterQuery,
    DeadLetterStore,
    get_entry,
    list_entries,
    new_entry,
)
from scf_worker.retry.dlq_amqp import AmqpDeadLetterStore
from scf_worker.retry.dlq_sql import SqlDeadLetterStore
from scf_worker.state.sql import open_database


@pytest.fixture(params=TRANSPORTS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DeadLetterStore]:
    made: Any
    if request.param == "amqp":
        made = AmqpDeadLetterStore(AMQP_URL, request.getfixturevalue("amqp_prefix"))
    else:
        url = (request.getfixturevalue("mariadb_url") if request.param == "mariadb"
               else f"sqlite:///{tmp_path / 'dlq.db'}")
        made = SqlDeadLetterStore(open_database(url))
    yield made
    made.close()


def failure(at: float, kind: str = TRANSIENT, message: str = "upstream answered 503") -> Failure:
    return Failure(kind, "http_503", "TransientError" if kind == TRANSIENT else "PermanentError",
                   message, at=at)


def add(store: DeadLetterStore, function: str = "webhook-forward", job_type: str = "webhook.forward",
        key: str = "k1", at: float = 100.0, kind: str = TRANSIENT) -> str:
    entry = new_entry(function, job_type, key, {"jobId": key, "secretKey": "s3cr3t-value"}, 5,
                      failure(at - 10), failure(at, kind))
    return store.add(entry)


def test_added_entry_keeps_every_field(store: DeadLetterStore) -> None:
    long_message = "失败" * 800
    entry = new_entry("transcode", "media.transcode", "job-1", {"jobId": "job-1", "名字": "视频"}, 5,
                      failure(90.0), failure(100.0, PERMANENT, long_message))
    entry_id = store.add(entry)

    stored = get_entry(store, entry_id)

    assert stored is not None
    assert stored.id == entry_id
    assert (stored.function, stored.job_type, stored.idempotency_key) == (
        "transcode", "media.transcode", "job-1")
    assert stored.payload == {"jobId": "job-1", "名字": "视频"}
    assert stored.attempts == 5
    assert stored.status == "pending"
    assert stored.first_failure.error_class == "TransientError"
    assert stored.first_failed_at == 90.0
    assert stored.last_failure.error_class == "PermanentError"
    assert stored.last_failed_at == 100.0
    assert not stored.transient
    assert len(stored.last_failure.message) == 1000


def test_payload_secrets_are_stripped(store: DeadLetterStore) -> None:
    stored = get_entry(store, add(store))

    assert stored is not None
    assert stored.payload == {"jobId": "k1", "secretKey": "[REDACTED]"}


def test_filters_select_entries(store: DeadLetterStore) -> None:
    a = add(store, "webhook-forward", "webhook.forward", "a", at=100.0)
    b = add(store, "transcode", "media.transcode", "b", at=200.0)
    c = add(store, "transcode", "media.transcode", "c", at=300.0, kind=PERMANENT)

    def ids(**filters: Any) -> list[str | None]:
        return [e.id for e in list_entries(store, DeadLetterQuery(**filters))]

    assert ids() == [a, b, c]
    assert ids(function="transcode") == [b, c]
    assert ids(job_type="webhook.forward") == [a]
    assert ids(since=200.0) == [b, c]
    assert ids(until=200.0) == [a]
    assert ids(ids=(c,)) == [c]
    assert ids(limit=2) == [a, b]
    assert ids(transient_only=True) == [a, b]


def test_saved_status_leaves_pending_list(store: DeadLetterStore) -> None:
    first, second = add(store, key="a"), add(store, key="b")

    with store.checkout(DeadLetterQuery(ids=(first,))) as batch:
        [entry] = batch.entries
        batch.save(entry.resolved(STATUS_REPLAYED, "replayed", 500.0))

    assert [e.id for e in list_entries(store, DeadLetterQuery())] == [second]
    replayed = get_entry(store, first)
    assert replayed is not None
    assert replayed.status == STATUS_REPLAYED
    assert replayed.resolution == "replayed"


def test_failed_again_updates_last_error(store: DeadLetterStore) -> None:
    entry_id = add(store, at=100.0)

    with store.checkout(DeadLetterQuery()) as batch:
        [entry] = batch.entries
        batch.save(entry.failed_again(failure(400.0, message="still failing")))

    stored = get_entry(store, entry_id)
    assert stored is not None
    assert stored.status == "pending"
    assert stored.attempts == 6
    assert stored.last_failure.message == "still failing"
    assert stored.last_failed_at == 400.0
    assert stored.first_failed_at == 90.0


def test_unsaved_entries_stay_after_checkout(store: DeadLetterStore) -> None:
    ids = [add(store, key=f"k{n}") for n in range(3)]

    with store.checkout(DeadLetterQuery()) as batch:
        assert len(batch.entries) == 3

    assert [e.id for e in list_entries(store, DeadLetterQuery())] == ids


def test_counts_by_function_type_and_status(store: DeadLetterStore) -> None:
    add(store, key="a")
    discarded = add(store, key="b")
    add(store, "transcode", "media.transcode", "c")
    with store.checkout(DeadLetterQuery(ids=(discarded,))) as batch:
        batch.save(batch.entries[0].resolved(STATUS_DISCARDED, "discarded", 1.0))

    counts = {(c.function, c.job_type, c.status): c.count for c in store.counts()}

    assert counts == {("transcode", "media.transcode", "pending"): 1,
                      ("webhook-forward", "webhook.forward", "discarded"): 1,
                      ("webhook-forward", "webhook.forward", "pending"): 1}
