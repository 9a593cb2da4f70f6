"""Signature matrix: every bad or malformed signature is 403 invalid_signature, never 500."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime, timezone

import pytest
from callback_helpers import MP4, Harness, callback_body, http_event, put, signature_headers
from standardwebhooks import Webhook

from scf_worker.app import reset_services
from scf_worker.webhooks.signing import decode_secret, generate_secret

KEY = "uploads/u1/a.mp4"


def _body(harness: Harness) -> bytes:
    etag = put(harness.root, KEY, MP4)
    return callback_body(KEY, etag, len(MP4))


def _assert_rejected(harness: Harness, body: bytes, headers: dict[str, str]) -> None:
    status, payload = harness.http(http_event(body, headers))
    assert status == 403
    assert payload["message"] == "invalid_signature"
    assert harness.records() == []


def _tamper(header: str, value: str | None):  # type: ignore[no-untyped-def]
    def change(headers: dict[str, str]) -> dict[str, str]:
        changed = dict(headers)
        if value is None:
            changed.pop(header)
        else:
            changed[header] = value
        return changed
    return change


HEADER_CASES = {
    "signature missing": _tamper("webhook-signature", None),
    "id missing": _tamper("webhook-id", None),
    "timestamp missing": _tamper("webhook-timestamp", None),
    "signature empty": _tamper("webhook-signature", ""),
    "signature spaces only": _tamper("webhook-signature", "   "),
    "wrong version": lambda h: {**h, "webhook-signature": h["webhook-signature"].replace("v1,", "v2,")},
    "asymmetric version": lambda h: {**h, "webhook-signature": h["webhook-signature"].replace("v1,", "v1a,")},
    "no comma": lambda h: {**h, "webhook-signature": h["webhook-signature"].replace("v1,", "v1")},
    "extra comma": lambda h: {**h, "webhook-signature": h["webhook-signature"] + ",extra"},
    "leading comma": lambda h: {**h, "webhook-signature": "," + h["webhook-signature"]},
    "double comma": lambda h: {**h, "webhook-signature": h["webhook-signature"].replace("v1,", "v1,,")},
    "not base64": _tamper("webhook-signature", "v1,%%%not-base64%%%"),
    "unpadded base64": lambda h: {**h, "webhook-signature": h["webhook-signature"].rstrip("=")},
    "non-ascii signature": _tamper("webhook-signature", "v1,签名签名"),
    "truncated digest": lambda h: {**h, "webhook-signature": "v1," + "QUJD"},
    "timestamp not a number": _tamper("webhook-timestamp", "yesterday"),
    "timestamp negative": _tamper("webhook-timestamp", "-1700000000"),
    "timestamp full-width digits": _tamper("webhook-timestamp", "１７００００００００"),
    "timestamp huge": _tamper("webhook-timestamp", "9" * 400),
    "timestamp float": _tamper("webhook-timestamp", "1700000000.5"),
    "id changed": _tamper("webhook-id", "msg_other"),
}


@pytest.mark.parametrize("case", sorted(HEADER_CASES))
def test_malformed_headers_rejected(sqlite_harness: Harness, case: str) -> None:
    body = _body(sqlite_harness)
    headers = HEADER_CASES[case](signature_headers(sqlite_harness.secret, body))

    _assert_rejected(sqlite_harness, body, headers)


def test_all_headers_missing_rejected(sqlite_harness: Harness) -> None:
    _assert_rejected(sqlite_harness, _body(sqlite_harness), {})


def test_wrong_secret_rejected(sqlite_harness: Harness) -> None:
    body = _body(sqlite_harness)

    _assert_rejected(sqlite_harness, body, signature_headers(generate_secret(), body))


def test_body_changed_by_one_byte_rejected(sqlite_harness: Harness) -> None:
    body = _body(sqlite_harness)
    headers = signature_headers(sqlite_harness.secret, body)
    changed = body.replace(b'"size": ', b'"size":  ')

    assert len(changed) == len(body) + 1
    _assert_rejected(sqlite_harness, changed, headers)


def test_body_reserialised_rejected(sqlite_harness: Harness) -> None:
    body = _body(sqlite_harness)
    headers = signature_headers(sqlite_harness.secret, body)
    reserialised = json.dumps(json.loads(body), separators=(",", ":")).encode()

    assert reserialised != body
    _assert_rejected(sqlite_harness, reserialised, headers)


@pytest.mark.parametrize("offset", [-330, 330, -86_400, 86_400])
def test_timestamp_outside_tolerance_rejected(sqlite_harness: Harness, offset: int) -> None:
    body = _body(sqlite_harness)
    headers = signature_headers(sqlite_harness.secret, body, timestamp=int(time.time()) + offset)

    _assert_rejected(sqlite_harness, body, headers)


@pytest.mark.parametrize("offset", [-290, 290])
def test_timestamp_inside_tolerance_accepted(sqlite_harness: Harness, offset: int) -> None:
    body = _body(sqlite_harness)
    headers = signature_headers(sqlite_harness.secret, body, timestamp=int(time.time()) + offset)

    assert sqlite_harness.http(http_event(body, headers))[0] == 200


def test_rotated_secret_accepted(sqlite_harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = sqlite_harness.secret, generate_secret()
    monkeypatch.setenv("CALLBACK_SHARED_SECRET", f"{old} {new}")
    reset_services()
    body = _body(sqlite_harness)

    status, payload = sqlite_harness.http(http_event(body, signature_headers(new, body)))

    assert status == 200
    assert payload["data"]["status"] == "recorded"


def test_one_of_several_signatures_matches(sqlite_harness: Harness) -> None:
    body = _body(sqlite_harness)
    headers = signature_headers(sqlite_harness.secret, body)
    stale = signature_headers(generate_secret(), body, msg_id=headers["webhook-id"],
                              timestamp=int(headers["webhook-timestamp"]))
    headers["webhook-signature"] = f"{stale['webhook-signature']} {headers['webhook-signature']}"

    assert sqlite_harness.http(http_event(body, headers))[0] == 200


def test_base64_encoded_body_verified_on_raw_bytes(sqlite_harness: Harness) -> None:
    body = _body(sqlite_harness)

    result = sqlite_harness.http(http_event(body, signature_headers(sqlite_harness.secret, body),
                                            base64_body=True))

    assert result[0] == 200


def test_reference_library_signature_accepted(sqlite_harness: Harness) -> None:
    body = _body(sqlite_harness)
    timestamp = int(time.time())
    signed_at = datetime.fromtimestamp(timestamp, timezone.utc)

    reference = Webhook(sqlite_harness.secret).sign("msg_ref", signed_at, body.decode())
    headers = {"webhook-id": "msg_ref", "webhook-timestamp": str(timestamp), "webhook-signature": reference}

    assert sqlite_harness.http(http_event(body, headers))[0] == 200


def test_legacy_header_rejected_when_disabled(sqlite_harness: Harness) -> None:
    body = _body(sqlite_harness)
    digest = hmac.new(decode_secret(sqlite_harness.secret), body, hashlib.sha256).hexdigest()

    _assert_rejected(sqlite_harness, body, {"x-cos-signature": digest})


def test_legacy_header_accepted_when_enabled(sqlite_harness: Harness,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBACK_LEGACY_SIGNATURE", "true")
    reset_services()
    body = _body(sqlite_harness)
    digest = hmac.new(decode_secret(sqlite_harness.secret), body, hashlib.sha256).hexdigest()

    assert sqlite_harness.http(http_event(body, {"x-cos-signature": digest}))[0] == 200


@pytest.mark.parametrize("value", ["", "zz" * 32, "ab" * 31, "签" * 64, "ab" * 32])
def test_bad_legacy_header_rejected(sqlite_harness: Harness, monkeypatch: pytest.MonkeyPatch,
                                    value: str) -> None:
    monkeypatch.setenv("CALLBACK_LEGACY_SIGNATURE", "true")
    reset_services()

    _assert_rejected(sqlite_harness, _body(sqlite_harness), {"x-cos-signature": value})


def test_rejection_logs_no_signature(sqlite_harness: Harness, logs) -> None:  # type: ignore[no-untyped-def]
    body = _body(sqlite_harness)
    headers = signature_headers(generate_secret(), body)

    sqlite_harness.http(http_event(body, headers))

    assert logs.events("signature_rejected")
    signature_value = headers["webhook-signature"].split(",", 1)[1]
    assert signature_value not in logs.text
    assert sqlite_harness.secret not in logs.text
