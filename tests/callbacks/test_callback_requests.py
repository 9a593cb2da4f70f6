"""HTTP callback requests: cold-start secret checks, body cap, body validation, 409s and 503s."""

from __future__ import annotations

import json

import pytest
from callback_helpers import MP4, PNG, Harness, callback_body, http_event, put, signature_headers

from scf_worker.app import reset_services
from scf_worker.runtime.config import load_settings
from scf_worker.runtime.errors import ConfigError

KEY = "uploads/u1/a.mp4"


def _send(harness: Harness, body: bytes, **kwargs: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    return harness.http(http_event(body, signature_headers(harness.secret, body, **kwargs)))


@pytest.mark.parametrize("secret", [
    "whsec_" + "QUJD" * 7,          # 21 bytes: shorter than 24
    "whsec_not base64!",
    "no-prefix-" + "A" * 40,
    "whsec_",
])
def test_bad_secret_rejected_at_cold_start(sqlite_harness: Harness, monkeypatch: pytest.MonkeyPatch,
                                           logs, secret: str) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CALLBACK_SHARED_SECRET", f"{sqlite_harness.secret} {secret}")
    reset_services()
    body = b"{}"

    with pytest.raises(ConfigError) as caught:
        load_settings()
    status, payload = sqlite_harness.http(http_event(body, signature_headers(sqlite_harness.secret, body)))

    assert caught.value.variable == "CALLBACK_SHARED_SECRET[1]"
    assert secret not in str(caught.value)
    assert status == 500
    assert payload["message"] == "internal_error"
    assert logs.events("config_invalid")[0]["variable"] == "CALLBACK_SHARED_SECRET[1]"
    assert secret[6:] not in logs.text or len(secret) <= 6


def test_body_over_cap_is_413_before_parsing(sqlite_harness: Harness,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBACK_MAX_BODY_BYTES", "100")
    reset_services()
    body = b"{" + b" " * 200  # not JSON, not signed: only the size is looked at

    status, payload = sqlite_harness.http(http_event(body, {}))

    assert status == 413
    assert payload["message"] == "payload_too_large"


@pytest.mark.parametrize(("body", "message"), [
    ({"etag": "e", "bucket": "media-1250000000", "size": 1, "mime": "video/mp4"}, "missing_params"),
    ({"objectKey": 5, "etag": "e", "bucket": "media-1250000000", "size": 1, "mime": "video/mp4"},
     "invalid_params"),
    ({"objectKey": KEY, "etag": "", "bucket": "media-1250000000", "size": 1, "mime": "video/mp4"},
     "invalid_params"),
    ({"objectKey": KEY, "etag": '""', "bucket": "media-1250000000", "size": 1, "mime": "video/mp4"},
     "invalid_params"),
    ({"objectKey": KEY, "etag": "e", "bucket": "media-1250000000", "size": "1", "mime": "video/mp4"},
     "invalid_params"),
    ({"objectKey": KEY, "etag": "e", "bucket": "media-1250000000", "size": True, "mime": "video/mp4"},
     "invalid_params"),
    ({"objectKey": KEY, "etag": "e", "bucket": "media-1250000000", "size": -1, "mime": "video/mp4"},
     "invalid_params"),
    ({"objectKey": KEY, "etag": "e", "bucket": "media-1250000000", "size": 1, "mime": "mp4"},
     "invalid_params"),
    ({"objectKey": "uploads/../etc/passwd", "etag": "e", "bucket": "media-1250000000", "size": 1,
      "mime": "video/mp4"}, "invalid_key"),
    ({"objectKey": "uploads/a\x00.mp4", "etag": "e", "bucket": "media-1250000000", "size": 1,
      "mime": "video/mp4"}, "invalid_key"),
    ({"objectKey": KEY, "etag": "e", "bucket": "other-1250000001", "size": 1, "mime": "video/mp4"},
     "invalid_params"),
    (["not", "an", "object"], "invalid_params"),
])
def test_invalid_body_is_400(sqlite_harness: Harness, body: object, message: str) -> None:
    status, payload = _send(sqlite_harness, json.dumps(body).encode())

    assert status == 400
    assert payload["message"] == message
    assert sqlite_harness.records() == []


def test_non_json_body_is_400(sqlite_harness: Harness) -> None:
    status, payload = _send(sqlite_harness, b"objectKey=a.mp4")

    assert status == 400
    assert payload["message"] == "invalid_json"


def test_get_is_405(sqlite_harness: Harness) -> None:
    status, payload = sqlite_harness.http(http_event(b"", {}, method="GET"))

    assert status == 405
    assert payload["message"] == "method_not_allowed"


def test_same_webhook_id_other_body_is_409(sqlite_harness: Harness) -> None:
    etag = put(sqlite_harness.root, KEY, MP4)
    other_etag = put(sqlite_harness.root, "uploads/u1/b.png", PNG)

    first = _send(sqlite_harness, callback_body(KEY, etag, len(MP4)), msg_id="msg_same")
    second = _send(sqlite_harness, callback_body("uploads/u1/b.png", other_etag, len(PNG), "image/png"),
                   msg_id="msg_same")

    assert first[0] == 200
    assert second[0] == 409
    assert second[1]["message"] == "idempotency_conflict"
    assert len(sqlite_harness.records()) == 1


def test_held_claim_is_409_in_progress(sqlite_harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    from scf_worker.app import get_services

    monkeypatch.setenv("IDEMPOTENCY_WAIT_MS", "0")
    reset_services()
    etag = put(sqlite_harness.root, KEY, MP4)
    body = callback_body(KEY, etag, len(MP4))
    get_services().idempotency.claim("cos-callback:webhook:msg_held", hashlib.sha256(body).hexdigest(), 60)

    status, payload = _send(sqlite_harness, body, msg_id="msg_held")

    assert status == 409
    assert payload["message"] == "in_progress"


def test_stored_size_above_declared_is_rejected(sqlite_harness: Harness) -> None:
    etag = put(sqlite_harness.root, KEY, MP4)

    status, payload = _send(sqlite_harness, callback_body(KEY, etag, len(MP4) - 1))

    assert status == 200
    assert payload["data"]["status"] == "rejected"
    assert payload["data"]["reason"] == "size_exceeds_limit"


def test_etag_of_older_version_is_superseded(sqlite_harness: Harness) -> None:
    put(sqlite_harness.root, KEY, MP4)

    status, payload = _send(sqlite_harness, callback_body(KEY, "0" * 32, len(MP4)))

    assert status == 200
    assert payload["data"]["status"] == "superseded"
    assert sqlite_harness.records() == []


def test_object_missing_is_object_gone(sqlite_harness: Harness) -> None:
    status, payload = _send(sqlite_harness, callback_body(KEY, "0" * 32, 10))

    assert status == 200
    assert payload["data"] == {"status": "object_gone", "key": KEY}


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_store_down_is_503(sqlite_harness: Harness, monkeypatch: pytest.MonkeyPatch, logs) -> None:  # type: ignore[no-untyped-def]
    etag = put(sqlite_harness.root, KEY, MP4)
    monkeypatch.setenv("IDEMPOTENCY_URL", f"redis://127.0.0.1:{_closed_port()}/0")
    reset_services()

    status, payload = _send(sqlite_harness, callback_body(KEY, etag, len(MP4)))

    assert status == 503
    assert payload["message"] == "unavailable"
    assert logs.events("callback_store_failed")[0]["errorClass"] == "StateError"
    assert sqlite_harness.records() == []


def test_store_down_raises_for_cos_retry(sqlite_harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    from callback_helpers import cos_record

    from scf_worker.callbacks.errors import RecordsPending

    etag = put(sqlite_harness.root, KEY, MP4)
    monkeypatch.setenv("IDEMPOTENCY_URL", f"redis://127.0.0.1:{_closed_port()}/0")
    reset_services()

    with pytest.raises(RecordsPending) as caught:
        sqlite_harness.cos(cos_record(KEY, etag, len(MP4)), cos_record("uploads/u1/b.mp4", None, 1))
    assert caught.value.pending == 2


def test_invocation_end_carries_outcome(sqlite_harness: Harness, logs) -> None:  # type: ignore[no-untyped-def]
    etag = put(sqlite_harness.root, KEY, MP4)
    body = callback_body(KEY, etag, len(MP4))
    headers = signature_headers(sqlite_harness.secret, body, msg_id="msg_logged")

    sqlite_harness.http(http_event(body, headers))
    sqlite_harness.http(http_event(body, headers))

    ends = logs.events("invocation_end")
    assert [(e["outcome"], e["replayed"]) for e in ends] == [("recorded", 0), ("recorded", 1)]
    assert ends[0]["key"] == KEY
    assert all(e["status"] == 200 for e in ends)
    assert sqlite_harness.secret not in logs.text
