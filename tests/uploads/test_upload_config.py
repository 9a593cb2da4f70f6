"""media-sign configuration fails at cold start, naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from scf_worker.runtime.config import load_settings
from scf_worker.runtime.errors import ConfigError
from scf_worker.uploads.config import load_upload_settings, parse_sts_endpoint

BASE = {
    "COS_BUCKET": "media-1250000000",
    "AUTH_JWT_SECRET": "s" * 40,
    "STORAGE_URL": "file:///tmp/scf-worker-test-cos",
    "STATE_URL": "sqlite:////tmp/scf-worker-test.db",
}


def load(**overrides: str):  # type: ignore[no-untyped-def]
    env = {**BASE, **overrides}
    return load_upload_settings(load_settings(env), env)


@pytest.mark.parametrize(("overrides", "variable"), [
    ({"COS_BUCKET": "media"}, "COS_BUCKET"),
    ({"COS_ALLOWED_PREFIX": "uploads/u${userId}/"}, "COS_ALLOWED_PREFIX"),
    ({"COS_ALLOWED_PREFIX": "/uploads/${userId}/"}, "COS_ALLOWED_PREFIX"),
    ({"COS_ALLOWED_PREFIX": "uploads/*/${userId}/"}, "COS_ALLOWED_PREFIX"),
    ({"AUTH_JWT_SECRET": "short"}, "AUTH_JWT_SECRET"),
    ({"AUTH_JWT_LEEWAY_SEC": "31"}, "AUTH_JWT_LEEWAY_SEC"),
    ({"AUTH_GATEWAY_USER_HEADER": "x user"}, "AUTH_GATEWAY_USER_HEADER"),
    ({"CORS_ALLOWED_ORIGINS": "https://cms.example.com/path"}, "CORS_ALLOWED_ORIGINS"),
    ({"CORS_ALLOWED_ORIGINS": "*"}, "CORS_ALLOWED_ORIGINS"),
    ({"UPLOAD_ALLOWED_TYPES": '{"video/*": ["mp4"]}'}, "UPLOAD_ALLOWED_TYPES"),
    ({"UPLOAD_ALLOWED_TYPES": '{"video/mp4": []}'}, "UPLOAD_ALLOWED_TYPES"),
    ({"UPLOAD_MAX_BYTES_BY_MIME": '{"text/html": 10}'}, "UPLOAD_MAX_BYTES_BY_MIME"),
    ({"UPLOAD_MULTIPART_THRESHOLD_BYTES": "1000"}, "UPLOAD_MULTIPART_THRESHOLD_BYTES"),
    ({"STS_SECRET_ID": "AKIDonly"}, "STS_SECRET_KEY"),
    ({"STS_ROLE_ARN": "role/uploader"}, "STS_ROLE_ARN"),
    ({"STS_SECRET_ID": "AKIDx", "STS_SECRET_KEY": "k", "STS_ENDPOINT": "http://sts.example.com"},
     "STS_ENDPOINT"),
    ({"STS_SECRET_ID": "AKIDx", "STS_SECRET_KEY": "k", "STS_ENDPOINT": "http://10.0.0.8:8080"},
     "STS_ENDPOINT"),
])
def test_load_upload_settings_rejects(overrides: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(**overrides)
    assert caught.value.variable == variable


def test_sign_expire_above_600_rejected() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**BASE, "SIGN_EXPIRE_SEC": "601"})
    assert caught.value.variable == "SIGN_EXPIRE_SEC"


def test_cos_store_without_sts_rejected() -> None:
    env = {k: v for k, v in BASE.items() if k != "STORAGE_URL"}
    with pytest.raises(ConfigError) as caught:
        load_upload_settings(load_settings(env), env)
    assert caught.value.variable == "STS_SECRET_ID"


@pytest.mark.parametrize(("raw", "expected"), [
    ("127.0.0.1:9000", ("127.0.0.1:9000", "http")),
    ("localhost:9000", ("localhost:9000", "http")),
    ("[::1]:9000", ("[::1]:9000", "http")),
    ("https://127.0.0.1:9443", ("127.0.0.1:9443", "https")),
    ("sts.tencentcloudapi.com", ("sts.tencentcloudapi.com", "https")),
    ("sts.internal.tencentcloudapi.com", ("sts.internal.tencentcloudapi.com", "https")),
])
def test_parse_sts_endpoint(raw: str, expected: tuple[str, str]) -> None:
    assert parse_sts_endpoint(raw) == expected


def test_load_upload_settings_defaults() -> None:
    settings = load()
    assert settings.appid == "1250000000"
    assert settings.prefix_template == "uploads/${userId}/"
    assert settings.user_prefix("u1") == "uploads/u1/"
    assert settings.duration_seconds == 600
    assert settings.max_bytes_for("video/mp4") == 100 * 1024 * 1024
    assert settings.jwt_leeway_seconds == 30
    assert settings.sts is None


def test_load_upload_settings_role_and_limits(tmp_path: Path) -> None:
    settings = load(STS_ROLE_ARN="qcs::cam::uin/100000000001:roleName/media-sign-uploader",
                    UPLOAD_MAX_BYTES_BY_MIME='{"video/mp4": 2147483648}',
                    CORS_ALLOWED_ORIGINS="https://cms.example.com, http://localhost:5173")
    assert settings.sts is not None
    assert settings.sts.action == "AssumeRole"
    assert settings.max_bytes_for("video/mp4") == 2147483648
    assert settings.max_bytes_for("image/png") == 100 * 1024 * 1024
    assert settings.cors_allowed_origins == ("https://cms.example.com", "http://localhost:5173")
