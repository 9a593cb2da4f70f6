"""cos-callback end to end on every store: record once, duplicates get 200, outbox complete."""

from __future__ import annotations

from callback_helpers import (
    BUCKET,
    MP4,
    SCRIPT,
    Harness,
    callback_body,
    cos_record,
    http_event,
    put,
    signature_headers,
)

from scf_worker.storage.base import ObjectInfo
from scf_worker.storage.errors import StorageError
from scf_worker.storage.local import LocalObjectStore

KEY = "uploads/u1/2024/视频 第1集+花絮.mp4"


def test_http_callback_records_once(harness: Harness) -> None:
    etag = put(harness.root, KEY, MP4)
    body = callback_body(KEY, etag, len(MP4))

    first = harness.http(http_event(body, signature_headers(harness.secret, body)))
    second = harness.http(http_event(body, signature_headers(harness.secret, body)))

    assert first[0] == 200
    assert first[1]["data"]["status"] == "recorded"
    assert second[0] == 200
    assert second[1]["data"]["status"] == "duplicate"
    assert second[1]["data"]["jobId"] == first[1]["data"]["jobId"]
    records = harness.records()
    assert len(records) == 1
    assert records[0]["object_key"] == KEY
    assert records[0]["status"] == "recorded"


def test_same_webhook_id_replays_stored_response(harness: Harness) -> None:
    etag = put(harness.root, KEY, MP4)
    body = callback_body(KEY, etag, len(MP4))
    headers = signature_headers(harness.secret, body, msg_id="msg_fixed")

    first = harness.http(http_event(body, headers))
    again = harness.http(http_event(body, headers))

    assert again == (200, {**first[1], "requestId": again[1]["requestId"]})


def test_cos_event_and_callback_share_record(harness: Harness) -> None:
    etag = put(harness.root, KEY, MP4)
    body = callback_body(KEY, etag, len(MP4))

    event = harness.cos(cos_record(KEY, etag, len(MP4)))
    status, payload = harness.http(http_event(body, signature_headers(harness.secret, body)))

    assert event["results"][0]["status"] == "recorded"
    assert status == 200
    assert payload["data"]["status"] == "duplicate"
    assert len(harness.records()) == 1


def test_cos_event_for_recorded_upload_is_duplicate_without_head(harness: Harness) -> None:
    """The exact record is read with the claim, before any HEAD: a deleted object changes nothing."""
    etag = put(harness.root, KEY, MP4)
    body = callback_body(KEY, etag, len(MP4))
    harness.http(http_event(body, signature_headers(harness.secret, body)))
    LocalObjectStore(harness.root).delete(BUCKET, KEY)

    event = harness.cos(cos_record(KEY, etag, len(MP4)))
    again = harness.cos(cos_record(KEY, etag, len(MP4)))

    assert event["results"][0]["status"] == "duplicate"
    assert again["results"][0]["status"] == "duplicate"
    assert len(harness.records()) == 1
    assert len(harness.transcode_messages()) == 1


def test_recorded_upload_schedules_outbox_once(harness: Harness) -> None:
    etag = put(harness.root, KEY, MP4)
    record = cos_record(KEY, etag, len(MP4))

    first = harness.cos(record)
    harness.cos(record)
    harness.cos(record)

    transcode_id = first["results"][0]["transcodeJobId"]
    assert harness.transcode_messages() == [{"jobId": transcode_id}]
    assert sorted(harness.event_names()) == ["SCF_JOB_DONE", "SCF_JOB_SCHEDULED"]


def test_rejected_upload_is_quarantined_and_schedules_nothing(harness: Harness) -> None:
    key = "uploads/u1/fake.mp4"
    etag = put(harness.root, key, SCRIPT)

    result = harness.cos(cos_record(key, etag, len(SCRIPT)))

    outcome = result["results"][0]
    assert outcome["status"] == "rejected"
    assert outcome["reason"] == "not_media"
    assert outcome["transcodeJobId"] is None
    assert harness.records()[0]["status"] == "rejected"
    assert harness.transcode_messages() == []
    assert harness.event_names() == ["SCF_JOB_FAILED"]
    assert not (harness.root / "media-1250000000" / key).exists()
    assert (harness.root / "media-1250000000" / "quarantine" / key).read_bytes() == SCRIPT


class _CopyFailsOnce(LocalObjectStore):
    """The folder store, whose first copy (the quarantine's) fails like an unreachable COS."""

    failed = False

    def copy(self, bucket: str, source_key: str, dest_key: str) -> ObjectInfo:
        if not self.failed:
            self.failed = True
            raise StorageError("copy failed")
        return super().copy(bucket, source_key, dest_key)


def test_failed_quarantine_is_finished_by_the_retry(harness: Harness) -> None:
    from scf_worker.app import get_services

    key = "uploads/u1/fake.mp4"
    etag = put(harness.root, key, SCRIPT)
    body = callback_body(key, etag, len(SCRIPT))
    event = http_event(body, signature_headers(harness.secret, body, msg_id="msg_quarantine"))
    get_services().store = _CopyFailsOnce(harness.root)
    get_services().extensions.clear()

    failed = harness.http(event)
    retried = harness.http(event)

    assert failed[0] == 503
    assert retried[0] == 200
    assert retried[1]["data"]["reason"] == "not_media"
    assert not (harness.root / BUCKET / key).exists()
    assert (harness.root / BUCKET / "quarantine" / key).read_bytes() == SCRIPT
    assert len(harness.records()) == 1
    assert harness.event_names() == ["SCF_JOB_FAILED"]


def test_missing_etag_comes_from_head(harness: Harness) -> None:
    etag = put(harness.root, KEY, MP4)

    result = harness.cos(cos_record(KEY, None, len(MP4)))

    assert result["results"][0]["status"] == "recorded"
    assert result["results"][0]["etag"] == etag


def test_head_404_is_object_gone(harness: Harness) -> None:
    result = harness.cos(cos_record("uploads/u1/deleted.mp4", None, 10))

    assert result["results"][0]["status"] == "object_gone"
    assert harness.records() == []


def test_claims_in_redis_records_in_sql(sqlite_harness: Harness, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from backends import redis_prefix
    from scf_worker.app import get_services, reset_services

    with redis_prefix() as redis_url:
        monkeypatch.setenv("IDEMPOTENCY_URL", redis_url)
        reset_services()
        etag = put(sqlite_harness.root, KEY, MP4)
        body = callback_body(KEY, etag, len(MP4))
        headers = signature_headers(sqlite_harness.secret, body, msg_id="msg_split")

        first = sqlite_harness.http(http_event(body, headers))
        again = sqlite_harness.http(http_event(body, headers))

        assert type(get_services().idempotency).__name__ == "RedisIdempotencyStore"
        assert first[1]["data"]["status"] == "recorded"
        assert again[1]["data"] == first[1]["data"]
        assert len(sqlite_harness.records()) == 1
        assert get_services().db.query("SELECT COUNT(*) AS n FROM idempotency")[0]["n"] == 0
        reset_services()


def test_multipart_etag_suffix_kept(harness: Harness) -> None:
    from scf_worker.storage.base import normalize_etag

    assert normalize_etag('W/"0f1e2d3c4b5a69788796a5b4c3d2e1f0-3"') == "0f1e2d3c4b5a69788796a5b4c3d2e1f0-3"
    etag = put(harness.root, KEY, MP4)

    result = harness.cos(cos_record(KEY, f'"{etag}-3"', len(MP4)))

    # The stored object's ETag has no -3 suffix, so the event names another version.
    assert result["results"][0]["status"] == "superseded"
    assert result["results"][0]["etag"] == f"{etag}-3"
