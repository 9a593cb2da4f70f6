"""The Redis recording path: one script writes record and outbox; the relay hands them on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from backends import Clock, redis_prefix
from scf_worker.callbacks.recorder import VerifiedUpload
from scf_worker.callbacks.redis_recorder import RedisUploadRecorder
from scf_worker.state.errors import StateError
from scf_worker.state.redis import open_redis

UPLOAD = VerifiedUpload("media-1250000000", "uploads/u1/视频.mp4", "etag1", 42, "video/mp4")


@pytest.fixture
def recorder() -> Iterator[RedisUploadRecorder]:
    with redis_prefix() as url:
        yield RedisUploadRecorder(open_redis(url), Clock())


def test_record_writes_record_jobs_and_outbox(recorder: RedisUploadRecorder) -> None:
    outcome = recorder.record(UPLOAD, "req-1")

    entries = recorder.target.client.xrange(recorder.outbox_key)
    topics = [data[b"topic"].decode() for _, data in entries]
    assert outcome.status == "recorded"
    assert recorder.count_records() == 1
    assert topics == ["webhook-forward", "webhook-forward", "transcode"]
    assert recorder.get_job(outcome.job_id)["status"] == "done"  # type: ignore[index]
    assert recorder.get_job(outcome.transcode_job_id)["status"] == "scheduled"  # type: ignore[arg-type,index]


def test_second_record_writes_nothing(recorder: RedisUploadRecorder) -> None:
    recorder.record(UPLOAD, "req-1")

    again = recorder.record(UPLOAD, "req-2")

    assert again.status == "duplicate"
    assert recorder.target.client.xlen(recorder.outbox_key) == 3


def test_wrong_key_type_fails_before_any_write(recorder: RedisUploadRecorder) -> None:
    recorder.target.client.set(recorder.outbox_key, "not a stream")

    with pytest.raises(StateError):
        recorder.record(UPLOAD, "req-1")

    assert recorder.count_records() == 0
    assert recorder.find(UPLOAD.bucket, UPLOAD.key, UPLOAD.etag) is None


def test_relay_publishes_each_entry(recorder: RedisUploadRecorder) -> None:
    recorder.record(UPLOAD, "req-1")
    published: list[tuple[str, dict[str, Any]]] = []

    relayed = recorder.relay_outbox(lambda topic, payload: published.append((topic, payload)), "relay-1")

    assert relayed == 3
    assert [topic for topic, _ in published] == ["webhook-forward", "webhook-forward", "transcode"]
    assert recorder.target.client.xlen(recorder.outbox_key) == 0


def test_relay_crash_leaves_entry_for_next_run(recorder: RedisUploadRecorder) -> None:
    recorder.record(UPLOAD, "req-1")

    def failing(topic: str, payload: dict[str, Any]) -> None:
        raise ConnectionError("queue down")

    with pytest.raises(ConnectionError):
        recorder.relay_outbox(failing, "relay-1")
    published: list[str] = []
    relayed = recorder.relay_outbox(lambda topic, payload: published.append(topic), "relay-2",
                                    reclaim_idle_ms=0)

    assert relayed == 3
    assert published == ["webhook-forward", "webhook-forward", "transcode"]
