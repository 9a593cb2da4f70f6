"""media-sign end to end: the official STS SDK against the loopback stand-in, and every rejection."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import time

import jwt
import pytest
from tests.uploads.conftest import BUCKET, REGION, STS_SECRET_ID, call_sign, make_token

from scf_worker.app import get_services
from scf_worker.uploads import service as service_module
from scf_worker.uploads.cos_signing import post_policy_signature
from scf_worker.uploads.policy import build_policy
from scf_worker.uploads.sts_local import CallerKey, LocalSts

KEY_RE = re.compile(r"^uploads/u1/\d{4}/\d{2}/\d{2}/[0-9a-f]{32}\.mp4$")


def test_sign_sends_expected_sts_request(sts: LocalSts, upload_env: dict[str, str]) -> None:
    result = call_sign(upload_env, {"filename": "clip.mp4", "mime": "video/mp4", "size": 1000})

    assert result.status == 200
    assert len(sts.calls) == 1
    call = sts.calls[0]
    assert call.action == "GetFederationToken"
    assert call.secret_id == STS_SECRET_ID
    assert call.region == REGION
    assert call.params["DurationSeconds"] == 600
    assert call.params["Name"].isalpha()
    key = result.data["key"]
    assert call.policy == build_policy(REGION, "1250000000", BUCKET, key, "video/mp4", 1000, multipart=False)


def test_sign_returns_stand_in_reply_as_data(sts: LocalSts, upload_env: dict[str, str], services) -> None:  # type: ignore[no-untyped-def]
    before = int(time.time())
    data = call_sign(upload_env).data

    grant = services.db.query("SELECT * FROM upload_grants WHERE access_key_id = ?",
                              (data["credentials"]["tmpSecretId"],))[0]
    assert data["credentials"]["tmpSecretKey"] == grant["secret_key"]
    assert data["credentials"]["sessionToken"] == grant["session_token"]
    assert data["expiredTime"] == int(grant["expires_at"])
    assert before <= data["startTime"] <= int(time.time())
    assert data["expiredTime"] - data["startTime"] <= 600
    assert data["expireAt"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(data["expiredTime"]))
    assert (data["bucket"], data["region"], data["mime"]) == (BUCKET, REGION, "video/mp4")
    assert KEY_RE.match(data["key"])


def test_sign_multipart_only_above_threshold(sts: LocalSts, upload_env: dict[str, str]) -> None:
    small = call_sign(upload_env, {"filename": "a.mp4", "mime": "video/mp4", "size": 1024 * 1024 - 1})
    large = call_sign(upload_env, {"filename": "a.mp4", "mime": "video/mp4", "size": 1024 * 1024})

    assert small.data["multipart"] is False
    assert large.data["multipart"] is True
    small_actions = {a for s in sts.calls[0].policy["statement"] for a in s["action"]}  # type: ignore[index]
    large_statements = sts.calls[1].policy["statement"]  # type: ignore[index]
    assert small_actions == {"name/cos:PutObject", "name/cos:PostObject"}
    assert len(large_statements) == 2
    assert "condition" not in large_statements[1]
    assert "name/cos:UploadPart" in large_statements[1]["action"]


def test_sign_assume_role_uses_role_session(upload_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                            services) -> None:  # type: ignore[no-untyped-def]
    from scf_worker.uploads.grants import SqlGrantStore

    role_key = CallerKey("role-session-secret-key-0000000001", token="role-session-token-0001")
    with LocalSts({"AKIDrolesession0001": role_key}, SqlGrantStore(services.db)) as server:
        monkeypatch.setenv("STS_ROLE_ARN", "qcs::cam::uin/100000000001:roleName/media-sign-uploader")
        monkeypatch.setenv("STS_ENDPOINT", server.endpoint)
        monkeypatch.setenv("TENCENTCLOUD_SECRETID", "AKIDrolesession0001")
        monkeypatch.setenv("TENCENTCLOUD_SECRETKEY", role_key.secret_key)
        monkeypatch.setenv("TENCENTCLOUD_SESSIONTOKEN", "role-session-token-0001")
        result = call_sign(upload_env)

    assert result.status == 200
    call = server.calls[0]
    assert call.action == "AssumeRole"
    assert call.params["RoleArn"] == "qcs::cam::uin/100000000001:roleName/media-sign-uploader"
    assert call.params["RoleSessionName"] == "media-sign-" + hashlib.sha256(b"u1").hexdigest()[:16]
    assert call.params["DurationSeconds"] == 600
    assert call.policy is not None


@pytest.mark.parametrize("token_case", ["missing", "garbage", "wrong_secret", "expired", "no_sub", "no_exp",
                                        "alg_none", "not_bearer"])
def test_sign_rejects_bad_token(sts: LocalSts, upload_env: dict[str, str], token_case: str) -> None:
    secret = upload_env["AUTH_JWT_SECRET"]
    headers = {
        "missing": {},
        "garbage": {"authorization": "Bearer not.a.jwt"},
        "wrong_secret": {"authorization": "Bearer " + make_token("w" * 40)},
        "expired": {"authorization": "Bearer " + make_token(secret, exp_in=-31)},
        "no_sub": {"authorization": "Bearer " + make_token(secret, sub=None)},
        "no_exp": {"authorization": "Bearer " + jwt.encode({"sub": "u1"}, secret, algorithm="HS256")},
        "alg_none": {"authorization": "Bearer " + jwt.encode({"sub": "u1", "exp": int(time.time()) + 60},
                                                             None, algorithm="none")},
        "not_bearer": {"authorization": "Basic dTE6cGFzcw=="},
    }[token_case]

    result = call_sign(upload_env, token="", headers=headers)

    assert result.status == 401
    assert result.body["message"] == "unauthorized"
    assert sts.calls == []


def test_sign_logs_token_rejection_reason(sts: LocalSts, upload_env: dict[str, str], logs) -> None:  # type: ignore[no-untyped-def]
    token = make_token(upload_env["AUTH_JWT_SECRET"], exp_in=-31)
    result = call_sign(upload_env, token=token)

    assert result.status == 401
    assert [line["reason"] for line in logs.events("token_rejected")] == ["ExpiredSignatureError"]
    assert token not in logs.text


def test_sign_accepts_token_within_leeway(sts: LocalSts, upload_env: dict[str, str]) -> None:
    token = make_token(upload_env["AUTH_JWT_SECRET"], exp_in=-20)
    assert call_sign(upload_env, token=token).status == 200


def test_sign_checks_issuer_and_audience(sts: LocalSts, upload_env: dict[str, str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_JWT_ISSUER", "https://id.example.com")
    monkeypatch.setenv("AUTH_JWT_AUDIENCE", "media-sign")
    secret = upload_env["AUTH_JWT_SECRET"]

    good = make_token(secret, iss="https://id.example.com", aud="media-sign")
    wrong_iss = make_token(secret, iss="https://evil.example.com", aud="media-sign")
    wrong_aud = make_token(secret, iss="https://id.example.com", aud="other")

    assert call_sign(upload_env, token=good).status == 200
    assert call_sign(upload_env, token=wrong_iss).status == 401
    assert call_sign(upload_env, token=wrong_aud).status == 401
    assert len(sts.calls) == 1


@pytest.mark.parametrize(("body", "key", "code"), [
    ({"filename": "a.exe", "mime": "application/octet-stream", "size": 10}, "mime_not_allowed", 40011),
    ({"filename": "a.png", "mime": "video/mp4", "size": 10}, "extension_mismatch", 40012),
    ({"filename": "a.mp4", "mime": "video/mp4", "size": 0}, "invalid_size", 40013),
    ({"filename": "a.mp4", "mime": "video/mp4", "size": 100 * 1024 * 1024 + 1}, "invalid_size", 40013),
])
def test_sign_rejects_bad_request(sts: LocalSts, upload_env: dict[str, str], body: dict, key: str,
                                  code: int) -> None:
    result = call_sign(upload_env, body)

    assert result.status == 400
    assert result.body["message"] == key
    assert result.body["code"] == code
    assert sts.calls == []


@pytest.mark.parametrize("user_id", ["../u2", "u1/../../x", "*", "u 1", "a\u0000", "x" * 129])
def test_sign_rejects_unsafe_user_id(sts: LocalSts, upload_env: dict[str, str], user_id: str) -> None:
    result = call_sign(upload_env, sub=user_id)

    assert result.status == 400
    assert result.body["message"] == "invalid_user_id"
    assert sts.calls == []


def test_sign_ignores_user_id_in_body(sts: LocalSts, upload_env: dict[str, str]) -> None:
    body = {"filename": "a.mp4", "mime": "video/mp4", "size": 10, "userId": "admin", "key": "uploads/admin/x"}
    result = call_sign(upload_env, body, sub="u1")

    assert result.data["key"].startswith("uploads/u1/")


def test_sign_rejects_get(sts: LocalSts, upload_env: dict[str, str]) -> None:
    assert call_sign(upload_env, method="GET").status == 405


def test_sign_maps_sts_error_to_502(sts: LocalSts, upload_env: dict[str, str], logs) -> None:  # type: ignore[no-untyped-def]
    sts.fail_next("InternalError")
    result = call_sign(upload_env)

    assert result.status == 502
    assert result.body == {"code": 50202, "message": "sts_failed", "requestId": result.body["requestId"]}
    failures = logs.events("sts_failed")
    assert [line["code"] for line in failures] == ["InternalError"]


def test_sign_maps_sts_auth_failure_to_502(sts: LocalSts, upload_env: dict[str, str],
                                           monkeypatch: pytest.MonkeyPatch, logs) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("STS_SECRET_KEY", "a-different-sub-account-key-000000")
    result = call_sign(upload_env)

    assert result.status == 502
    assert logs.events("sts_failed")[0]["code"] == "AuthFailure.SignatureFailure"
    assert "a-different-sub-account-key-000000" not in logs.text


def test_sign_maps_unreachable_sts_to_502(upload_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                          logs) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv("STS_SECRET_ID", STS_SECRET_ID)
    monkeypatch.setenv("STS_SECRET_KEY", "sub-account-secret-key-000000000001")
    monkeypatch.setenv("STS_ENDPOINT", f"127.0.0.1:{closed_port}")

    result = call_sign(upload_env)

    assert result.status == 502
    assert result.body["message"] == "sts_failed"
    assert logs.events("sts_failed")[0]["code"] == "ClientNetworkError"


def test_sign_rejects_failing_self_check(sts: LocalSts, upload_env: dict[str, str],
                                                monkeypatch: pytest.MonkeyPatch, logs) -> None:  # type: ignore[no-untyped-def]
    def wide_policy(*args: object, **kwargs: object) -> dict:
        return {"version": "2.0", "statement": [{
            "effect": "allow", "action": ["name/cos:PutObject"],
            "resource": [f"qcs::cos:{REGION}:uid/1250000000:{BUCKET}/uploads/*"]}]}

    monkeypatch.setattr(service_module, "build_policy", wide_policy)
    result = call_sign(upload_env)

    assert result.status == 500
    assert result.body["message"] == "policy_rejected"
    assert "outside" in logs.events("policy_rejected")[0]["problems"]
    assert sts.calls == []


def test_sign_never_logs_credentials(sts: LocalSts, upload_env: dict[str, str], logs) -> None:  # type: ignore[no-untyped-def]
    token = make_token(upload_env["AUTH_JWT_SECRET"])
    data = call_sign(upload_env, token=token, body={"filename": "a.mp4", "mime": "video/mp4", "size": 10,
                                                      "mode": "form"}).data

    secrets_out = [data["credentials"]["tmpSecretId"], data["credentials"]["tmpSecretKey"],
                   data["credentials"]["sessionToken"], data["form"]["fields"]["q-signature"], token]
    assert logs.lines()
    for value in secrets_out:
        assert value not in logs.text


def test_sign_form_mode_returns_signed_policy(sts: LocalSts, upload_env: dict[str, str]) -> None:
    data = call_sign(upload_env, {"filename": "a.mp4", "mime": "video/mp4", "size": 10, "mode": "form"}).data
    fields = data["form"]["fields"]

    import base64

    policy_bytes = base64.b64decode(fields["policy"])
    policy = json.loads(policy_bytes)
    assert list(fields)[:2] == ["key", "Content-Type"]
    assert fields["q-ak"] == data["credentials"]["tmpSecretId"]
    assert fields["x-cos-security-token"] == data["credentials"]["sessionToken"]
    assert fields["q-key-time"] == f"{data['startTime']};{data['expiredTime']}"
    assert fields["q-signature"] == post_policy_signature(data["credentials"]["tmpSecretKey"],
                                                          fields["q-key-time"], policy_bytes)
    assert ["eq", "$key", data["key"]] in policy["conditions"]
    assert ["content-length-range", 1, 10] in policy["conditions"]
    assert ["eq", "$Content-Type", "video/mp4"] in policy["conditions"]
    assert {"x-cos-security-token": fields["x-cos-security-token"]} in policy["conditions"]
    assert {"bucket": BUCKET} in policy["conditions"]


def test_sign_gateway_mode_logs_once(upload_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                     logs) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AUTH_MODE", "gateway")
    monkeypatch.setenv("AUTH_GATEWAY_USER_HEADER", "x-cms-user")
    from scf_worker.app import reset_services

    reset_services()

    first = call_sign(upload_env, token="", headers={"x-cms-user": "u7"})
    second = call_sign(upload_env, token="", headers={"x-cms-user": "u8"})
    missing = call_sign(upload_env, token="", headers={})

    assert first.data["key"].startswith("uploads/u7/")
    assert second.data["key"].startswith("uploads/u8/")
    assert missing.status == 401
    assert len(logs.events("auth_mode_gateway")) == 1
    assert get_services().extensions["sign"].settings.auth_mode == "gateway"


def test_cors_preflight_allowed_origin(upload_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ALLOWED_ORIGINS", "https://cms.example.com")
    result = call_sign(upload_env, method="OPTIONS", token="", headers={"origin": "https://cms.example.com"})

    assert result.status == 204
    assert result.headers["Access-Control-Allow-Origin"] == "https://cms.example.com"
    assert "POST" in result.headers["Access-Control-Allow-Methods"]
    assert "authorization" in result.headers["Access-Control-Allow-Headers"]
    assert result.headers["Vary"] == "Origin"


def test_cors_preflight_unlisted_origin(upload_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ALLOWED_ORIGINS", "https://cms.example.com")
    result = call_sign(upload_env, method="OPTIONS", token="", headers={"origin": "https://evil.example.com"})

    assert result.status == 403
    assert not [name for name in result.headers if name.lower().startswith("access-control-")]


def test_cors_headers_on_sign(sts: LocalSts, upload_env: dict[str, str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ALLOWED_ORIGINS", "https://cms.example.com")
    listed = call_sign(upload_env, headers={"origin": "https://cms.example.com"})
    unlisted = call_sign(upload_env, headers={"origin": "https://evil.example.com"})

    assert listed.headers["Access-Control-Allow-Origin"] == "https://cms.example.com"
    assert unlisted.status == 200
    assert "Access-Control-Allow-Origin" not in unlisted.headers
