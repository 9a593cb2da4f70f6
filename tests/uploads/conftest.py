"""Fixtures for media-sign: a signed caller, the loopback STS stand-in and the COS endpoint."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest

from scf_worker.handlers import media_sign
from scf_worker.runtime import samples
from scf_worker.storage.local import LocalObjectStore
from scf_worker.uploads.cos_endpoint import CosEndpoint
from scf_worker.uploads.grants import SqlGrantStore
from scf_worker.uploads.sts_local import CallerKey, LocalSts

BUCKET = "media-1250000000"
REGION = "ap-guangzhou"
STS_SECRET_ID = "AKIDsubaccount0000000000000000000001"
STS_SECRET_KEY = "sub-account-secret-key-000000000001"
MIB = 1024 * 1024


class Clock:
    """A settable clock: real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class SignResult:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def data(self) -> dict[str, Any]:
        return self.body["data"]


def make_token(secret: str, sub: str | None = "u1", exp_in: int = 300, **claims: Any) -> str:
    payload: dict[str, Any] = {**claims}
    if sub is not None:
        payload["sub"] = sub
    if exp_in is not None:
        payload["exp"] = int(time.time()) + exp_in
    return jwt.encode(payload, secret, algorithm="HS256")


@pytest.fixture
def upload_env(local_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The embedded defaults plus a 1 MiB multipart threshold, so multipart tests stay small."""
    for name in ("STS_ENDPOINT", "STS_ROLE_ARN", "CORS_ALLOWED_ORIGINS", "UPLOAD_ALLOWED_TYPES",
                 "UPLOAD_MAX_BYTES_BY_MIME", "AUTH_JWT_ISSUER", "AUTH_JWT_AUDIENCE", "TENCENTCLOUD_SECRETID",
                 "TENCENTCLOUD_SECRETKEY", "TENCENTCLOUD_SESSIONTOKEN", "SIGN_EXPIRE_SEC"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("UPLOAD_MULTIPART_THRESHOLD_BYTES", str(MIB))
    return {**local_env, "UPLOAD_MULTIPART_THRESHOLD_BYTES": str(MIB)}


def call_sign(env: dict[str, str], body: Any = None, token: str | None = None, method: str = "POST",
              headers: dict[str, str] | None = None, sub: str = "u1") -> SignResult:
    if body is None:
        body = {"filename": "clip.mp4", "mime": "video/mp4", "size": 1000}
    all_headers = dict(headers or {})
    if token is None and "authorization" not in all_headers:
        token = make_token(env["AUTH_JWT_SECRET"], sub=sub)
    if token:
        all_headers["authorization"] = f"Bearer {token}"
    raw = body if isinstance(body, str) else json.dumps(body)
    response = media_sign.main_handler(samples.apigw_event(method, "/upload/sign", raw, all_headers),
                                       samples.context("media-sign"))
    parsed = json.loads(response["body"]) if response["body"] else {}
    return SignResult(response["statusCode"], parsed, response["headers"])


@pytest.fixture
def sts(upload_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, services) -> Iterator[LocalSts]:  # type: ignore[no-untyped-def]
    """The loopback STS stand-in, with media-sign configured to call it through the SDK."""
    server = LocalSts({STS_SECRET_ID: CallerKey(STS_SECRET_KEY)}, SqlGrantStore(services.db))
    with server:
        monkeypatch.setenv("STS_SECRET_ID", STS_SECRET_ID)
        monkeypatch.setenv("STS_SECRET_KEY", STS_SECRET_KEY)
        monkeypatch.setenv("STS_ENDPOINT", server.endpoint)
        yield server


@pytest.fixture
def endpoint_clock() -> Clock:
    return Clock()


@pytest.fixture
def endpoint(services, endpoint_clock: Clock) -> Iterator[CosEndpoint]:  # type: ignore[no-untyped-def]
    store = services.store
    assert isinstance(store, LocalObjectStore)
    with CosEndpoint(store, SqlGrantStore(services.db), {BUCKET: REGION}, clock=endpoint_clock) as server:
        yield server
