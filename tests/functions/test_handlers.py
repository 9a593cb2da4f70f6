"""Each function's happy path and its responses to bad input: catalog codes, never 500."""

import hashlib
import json

import pytest

from scf_worker.handlers import cos_callback, media_sign, transcode, webhook_forward
from scf_worker.retry.deadletter import DeadLetterQuery, list_entries
from scf_worker.runtime import samples
from scf_worker.runtime.errors import CATALOG

from .helpers import bearer, callback_event, response_body, sign_event

UPLOAD = {"filename": "clip.mp4", "mime": "video/mp4", "size": 1024}
# Enough of an MP4 header for the after-upload magic-byte check.
MP4_BYTES = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64
MP4_ETAG = hashlib.md5(MP4_BYTES, usedforsecurity=False).hexdigest()


def _callback_body(key="uploads/u1/a.mp4", etag=MP4_ETAG):
    return {"objectKey": key, "etag": etag, "bucket": "media-1250000000", "size": len(MP4_BYTES),
            "mime": "video/mp4"}


def test_media_sign_issues_credentials_for_a_server_chosen_key(local_env):
    response = media_sign.main_handler(sign_event(local_env, UPLOAD), samples.context("media-sign"))
    body = response_body(response)
    assert response["statusCode"] == 200
    assert body["code"] == 0
    data = body["data"]
    assert data["key"].startswith("uploads/u1/")
    assert data["key"].endswith(".mp4")
    assert set(data["credentials"]) == {"tmpSecretId", "tmpSecretKey", "sessionToken"}
    assert data["expiredTime"] - data["startTime"] <= 600
    assert body["requestId"]


def test_media_sign_ignores_user_id_in_body(local_env):
    event = sign_event(local_env, {**UPLOAD, "userId": "admin"})
    data = response_body(media_sign.main_handler(event, samples.context("media-sign")))["data"]
    assert data["key"].startswith("uploads/u1/")


@pytest.mark.parametrize("body, status, key", [
    ("{not json", 400, "invalid_json"),
    ("", 400, "missing_params"),
    ({"filename": "a.mp4"}, 400, "missing_params"),
    ({**UPLOAD, "size": "big"}, 400, "invalid_params"),
    ({**UPLOAD, "size": True}, 400, "invalid_params"),
    ([1, 2], 400, "invalid_params"),
    ({**UPLOAD, "mime": "application/x-sh"}, 400, "mime_not_allowed"),
    ({**UPLOAD, "filename": "clip.exe"}, 400, "extension_mismatch"),
    ({**UPLOAD, "size": 0}, 400, "invalid_size"),
    ({**UPLOAD, "size": 10**12}, 400, "invalid_size"),
])
def test_media_sign_bad_input(local_env, body, status, key):
    response = media_sign.main_handler(sign_event(local_env, body), samples.context("media-sign"))
    assert response["statusCode"] == status
    assert response_body(response)["message"] == key
    assert response_body(response)["code"] == CATALOG[key].code


@pytest.mark.parametrize("headers", [
    {},
    {"authorization": "Bearer not-a-jwt"},
    {"authorization": "Basic dTpw"},
])
def test_media_sign_rejects_missing_or_invalid_token(local_env, headers):
    response = media_sign.main_handler(sign_event(local_env, UPLOAD, headers),
                                       samples.context("media-sign"))
    assert response["statusCode"] == 401
    assert response_body(response)["message"] == "unauthorized"


def test_media_sign_rejects_expired_and_foreign_tokens(local_env):
    expired = bearer(local_env["AUTH_JWT_SECRET"], expires_in=-3600)
    foreign = bearer("another-secret-of-enough-length-123")
    for headers in (expired, foreign):
        response = media_sign.main_handler(sign_event(local_env, UPLOAD, headers),
                                           samples.context("media-sign"))
        assert response["statusCode"] == 401


def test_media_sign_rejects_unsafe_user_id(local_env):
    headers = bearer(local_env["AUTH_JWT_SECRET"], user_id="../admin")
    response = media_sign.main_handler(sign_event(local_env, UPLOAD, headers),
                                       samples.context("media-sign"))
    assert response["statusCode"] == 400
    assert response_body(response)["message"] == "invalid_user_id"


@pytest.mark.parametrize("handler", [media_sign.main_handler])
@pytest.mark.parametrize("event", [samples.timer_event(), {"Records": [{"x": 1}]}, "text"])
def test_http_function_rejects_other_event_shapes(local_env, handler, event):
    response = handler(event, samples.context("media-sign"))
    assert response["statusCode"] == 400
    assert response_body(response)["message"] == "unsupported_event"


def test_cos_callback_http_records_once(local_env, services):
    services.store.put_bytes("media-1250000000", "uploads/u1/a.mp4", MP4_BYTES)
    first = cos_callback.main_handler(callback_event(local_env, _callback_body()), samples.context("c"))
    second = cos_callback.main_handler(callback_event(local_env, _callback_body()), samples.context("c"))
    assert first["statusCode"] == 200
    assert second["statusCode"] == 200
    assert response_body(first)["data"]["status"] == "recorded"
    assert response_body(second)["data"]["status"] == "duplicate"
    types = sorted(job.type for job in services.jobs.list_jobs())
    assert types == ["media.transcode", "media.upload"]


@pytest.mark.parametrize("body, key", [
    ("{oops", "invalid_json"),
    ({"objectKey": "a.mp4"}, "missing_params"),
    ({**_callback_body(), "size": "10"}, "invalid_params"),
    ({**_callback_body(), "etag": 5}, "invalid_params"),
    ({**_callback_body(), "objectKey": "../etc/passwd"}, "invalid_key"),
])
def test_cos_callback_bad_body(local_env, body, key):
    response = cos_callback.main_handler(callback_event(local_env, body), samples.context("c"))
    assert response["statusCode"] == 400
    assert response_body(response)["message"] == key


def test_cos_callback_bad_signature_is_403(local_env):
    response = cos_callback.main_handler(callback_event(local_env, _callback_body(), tamper=True),
                                         samples.context("c"))
    assert response["statusCode"] == 403
    assert response_body(response)["message"] == "invalid_signature"


def test_cos_callback_missing_signature_is_403(local_env):
    event = samples.apigw_event("POST", "/cos/callback", json.dumps(_callback_body()))
    response = cos_callback.main_handler(event, samples.context("c"))
    assert response["statusCode"] == 403


def test_cos_callback_body_over_cap_is_413(local_env, monkeypatch):
    monkeypatch.setenv("CALLBACK_MAX_BODY_BYTES", "100")
    from scf_worker.app import reset_services

    reset_services()
    response = cos_callback.main_handler(callback_event(local_env, {"pad": "x" * 200}),
                                         samples.context("c"))
    assert response["statusCode"] == 413


def test_cos_trigger_records_every_record_with_its_own_outcome(local_env, services):
    store = services.store
    store.put_bytes("media-1250000000", "uploads/u1/a.mp4", MP4_BYTES)
    good = samples.cos_record("media-1250000000", "uploads/u1/a.mp4", 5, None)
    foreign = samples.cos_record("other-1250000001", "uploads/u1/b.mp4", 5, "e")
    gone = samples.cos_record("media-1250000000", "uploads/u1/missing.mp4", 5, None)
    unsafe = samples.cos_record("media-1250000000", "uploads/../x.mp4", 5, "e")
    result = cos_callback.main_handler(samples.cos_event(good, foreign, gone, unsafe),
                                       samples.context("c"))
    statuses = [r["status"] for r in result["results"]]
    assert statuses == ["recorded", "wrong_bucket", "object_gone", "invalid_key"]
    assert result["results"][0]["key"] == "uploads/u1/a.mp4"
    row = services.db.query("SELECT etag FROM media_jobs")[0]
    assert row["etag"] == MP4_ETAG


def test_cos_trigger_keeps_plus_and_percent_in_keys(local_env, services):
    key = "uploads/u1/a+b %41 中文:1.mp4"
    services.store.put_bytes("media-1250000000", key, MP4_BYTES)
    result = cos_callback.main_handler(
        samples.cos_event(samples.cos_record("media-1250000000", key, 1, None)), samples.context("c"))
    assert result["results"][0]["status"] == "recorded"
    assert services.db.query("SELECT object_key FROM media_jobs")[0]["object_key"] == key


@pytest.mark.parametrize("handler", [transcode.main_handler, webhook_forward.main_handler])
def test_job_functions_reject_http_and_cos_shapes(local_env, services, handler):
    events = [samples.apigw_event("POST", "/x", "{}"),
              samples.cos_event(samples.cos_record("media-1250000000", "a.mp4", 1, "e")),
              ["not", "an", "object"]]
    for event in events:
        result = handler(event, samples.context("job"))
        assert result["message"] == "unsupported_event"
        assert result["code"] == CATALOG["unsupported_event"].code

    # An async trigger does not resend an event that got a response, so each one is kept.
    kept = list_entries(services.dead_letters, DeadLetterQuery())
    assert len(kept) == len(events)
    assert all("does not take" in entry.last_failure.message for entry in kept)


def test_transcode_bad_payload_is_dead_lettered_not_raised(local_env, services):
    result = transcode.main_handler({"job": 1}, samples.context("transcode"))
    assert result["results"][0]["status"] == "dead"
    assert result["results"][0]["code"] == "invalid_params"
    dead = services.db.query("SELECT * FROM scf_dlq")
    assert len(dead) == 1
    assert dead[0]["function"] == "transcode"


def test_transcode_unknown_job_is_dead_lettered(local_env, services):
    result = transcode.main_handler({"jobId": "nope"}, samples.context("transcode"))
    assert result["results"][0]["code"] == "job_not_found"


def test_webhook_forward_rejects_non_event_payload(local_env, services):
    result = webhook_forward.main_handler({"hello": "world"}, samples.context("webhook-forward"))
    assert result["results"][0]["status"] == "dead"
    assert result["results"][0]["code"] == "invalid_event"


@pytest.mark.parametrize("mutate", [
    lambda e: e.update(headers=["a", "b"]),
    lambda e: e.update(headers="text"),
    lambda e: e.update(isBase64Encoded="false"),
    lambda e: e.update(isBase64Encoded=True, body={"a": 1}),
    lambda e: e.update(body=12),
    lambda e: e.update(body='{"n": ' + "9" * 5000 + "}"),
    lambda e: e.update(body="[" * 30000 + "]" * 30000),
    lambda e: e.update(body='{"filename": "\\ud800.mp4", "mime": "video/mp4", "size": 1}'),
])
def test_http_functions_answer_malformed_events_with_4xx(local_env, mutate):
    for handler, event in ((media_sign.main_handler, sign_event(local_env, UPLOAD)),
                           (cos_callback.main_handler, callback_event(local_env, _callback_body()))):
        mutate(event)
        response = handler(event, samples.context("x"))
        assert 400 <= response["statusCode"] < 500, response
        assert response_body(response)["code"] in {entry.code for entry in CATALOG.values()}


def test_string_request_context_is_ignored(local_env):
    event = sign_event(local_env, UPLOAD)
    event["requestContext"] = "ctx"
    assert media_sign.main_handler(event, samples.context("s"))["statusCode"] == 200


def test_non_string_request_id_is_not_echoed(local_env):
    event = sign_event(local_env, UPLOAD)
    event["requestContext"]["requestId"] = {"nested": 1}
    body = response_body(media_sign.main_handler(event, samples.context("s")))
    assert isinstance(body["requestId"], str)


@pytest.mark.parametrize("limit", [float("inf"), "abc", -5, None])
def test_odd_time_limits_fall_back_to_default(local_env, limit):
    context = samples.context("s")
    context["time_limit_in_ms"] = limit
    response = media_sign.main_handler(sign_event(local_env, UPLOAD), context)
    assert response["statusCode"] == 200


def test_unreachable_state_store_answers_503(local_env, monkeypatch):
    from scf_worker.app import reset_services

    monkeypatch.setenv("STATE_URL", "mysql://root@127.0.0.1:1/test")
    reset_services()
    response = cos_callback.main_handler(callback_event(local_env, _callback_body()),
                                         samples.context("c"))
    assert response["statusCode"] == 503
    assert response_body(response)["message"] == "unavailable"


def test_cos_callback_rejects_over_long_key(local_env):
    body = {**_callback_body(), "objectKey": "uploads/u1/" + "a" * 900}
    response = cos_callback.main_handler(callback_event(local_env, body), samples.context("c"))
    assert response["statusCode"] == 400
    assert response_body(response)["message"] == "invalid_key"


def test_object_gone_is_not_cached_for_redelivery(local_env, services):
    key = "uploads/u1/late.mp4"
    record = samples.cos_record("media-1250000000", key, len(MP4_BYTES), MP4_ETAG)
    first = cos_callback.main_handler(samples.cos_event(record), samples.context("c"))
    assert first["results"][0]["status"] == "object_gone"
    services.store.put_bytes("media-1250000000", key, MP4_BYTES)
    second = cos_callback.main_handler(samples.cos_event(record), samples.context("c"))
    assert second["results"][0]["status"] == "recorded"
