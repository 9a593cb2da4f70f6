"""Builders for requests each function takes, used across handler tests."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt

from scf_worker.runtime import samples
from scf_worker.webhooks.signing import decode_secret, signature_headers


def bearer(secret: str, user_id: str = "u1", expires_in: int = 300) -> dict[str, str]:
    token = jwt.encode({"sub": user_id, "exp": int(time.time()) + expires_in}, secret,
                       algorithm="HS256")
    return {"authorization": f"Bearer {token}"}


def sign_event(env: dict[str, str], body: Any, headers: dict[str, str] | None = None) -> dict:
    raw = body if isinstance(body, str) else json.dumps(body)
    auth = bearer(env["AUTH_JWT_SECRET"]) if headers is None else headers
    return samples.apigw_event("POST", "/upload/sign", raw, auth)


def callback_event(env: dict[str, str], body: Any, tamper: bool = False) -> dict:
    raw = (body if isinstance(body, str) else json.dumps(body)).encode()
    key = decode_secret(env["CALLBACK_SHARED_SECRET"])
    headers = signature_headers([key], f"msg_{uuid.uuid4().hex}", int(time.time()), raw)
    sent = raw + b" " if tamper else raw
    return samples.apigw_event("POST", "/cos/callback", sent, headers)


def response_body(response: dict) -> dict:
    return json.loads(response["body"])
