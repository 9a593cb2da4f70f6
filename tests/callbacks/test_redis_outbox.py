"""The Redis recording path: one script writes record and outbox; the relay hands them on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from backends import Clock, redis_prefix
from scf_worker.callbacks.recorder import VerifiedUpload
from scf_worker.callbacks.redis_recorder import RedisUploadRecorder
from scf_worker.idempotency.errors import AlreadyCompleted, AlreadyInProgress
from scf_worker.idempotency.redis import RedisIdempotencyStore
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


@pytest.fixture
def claims(recorder: RedisUploadRecorder) -> RedisIdempotencyStore:
    """Claims on the recorder's server and prefix, as cos-callback has them with STATE_URL=redis://."""
    return RedisIdempotencyStore(recorder.target, Clock(), expiry_seconds=3600)


def test_new_record_completes_the_claim_in_its_script(recorder: RedisUploadRecorder,
                                                      claims: RedisIdempotencyStore) -> None:
    token = claims.claim("cos-callback:webhook:msg_1", "fp", 60)

    outcome, completed = recorder.write_completing(
        UPLOAD, None, "req-1", claims.completion("cos-callback:webhook:msg_1", {"status": "recorded"}, token))

    assert (outcome.status, completed) == ("recorded", True)
    assert recorder.count_records() == 1
    with pytest.raises(AlreadyCompleted) as caught:
        claims.claim("cos-callback:webhook:msg_1", "fp", 60)
    assert caught.value.response == {"status": "recorded"}


def test_existing_record_leaves_the_claim_to_the_caller(recorder: RedisUploadRecorder,
                                                        claims: RedisIdempotencyStore) -> None:
    recorder.record(UPLOAD, "req-1")
    token = claims.claim("cos-callback:webhook:msg_2", "fp", 60)

    outcome, completed = recorder.write_completing(
        UPLOAD, None, "req-2", claims.completion("cos-callback:webhook:msg_2", {"status": "recorded"}, token))

    assert (outcome.status, completed) == ("duplicate", False)
    assert recorder.target.client.xlen(recorder.outbox_key) == 3
    with pytest.raises(AlreadyInProgress):
        claims.claim("cos-callback:webhook:msg_2", "fp", 60)


def test_claim_taken_over_is_not_completed(recorder: RedisUploadRecorder,
                                           claims: RedisIdempotencyStore) -> None:
    stale = claims.claim("cos-callback:webhook:msg_3", "fp", 60)
    claims.clock.advance(61)  # type: ignore[attr-defined]
    claims.claim("cos-callback:webhook:msg_3", "fp", 60)

    outcome, completed = recorder.write_completing(
        UPLOAD, None, "req-1", claims.completion("cos-callback:webhook:msg_3", {"status": "recorded"}, stale))

    assert (outcome.status, completed) == ("recorded", False)
    with pytest.raises(AlreadyInProgress):
        claims.claim("cos-callback:webhook:msg_3", "fp", 60)


def test_claim_of_wrong_type_fails_before_any_write(recorder: RedisUploadRecorder,
                                                    claims: RedisIdempotencyStore) -> None:
    redis_key, args = claims.completion("cos-callback:webhook:msg_4", {"status": "recorded"}, "t")
    recorder.target.client.rpush(redis_key, "not a claim")

    with pytest.raises(StateError):
        recorder.write_completing(UPLOAD, None, "req-1", (redis_key, args))

    assert recorder.count_records() == 0
    assert recorder.target.client.exists(recorder.outbox_key) == 0


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
