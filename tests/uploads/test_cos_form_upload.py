"""Browser form uploads (POST Object) with the fields media-sign returns in form mode."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import requests
from tests.uploads.conftest import BUCKET, REGION, Clock, call_sign

from scf_worker.uploads.cos_signing import post_policy_signature

HOST = f"{BUCKET}.cos.{REGION}.myqcloud.com"


def form_grant(env: dict[str, str], size: int = 100) -> dict[str, Any]:
    result = call_sign(env, {"filename": "clip.mp4", "mime": "video/mp4", "size": size, "mode": "form"})
    assert result.status == 200, result.body
    return result.data


def post_form(endpoint, fields: dict[str, str], content: bytes) -> requests.Response:  # type: ignore[no-untyped-def]
    return requests.post(endpoint.url + "/", data=fields, headers={"Host": HOST}, timeout=10,
                         files={"file": ("clip.mp4", content, "application/octet-stream")})


def error_code(response: requests.Response) -> str:
    return response.text.split("<Code>")[1].split("</Code>")[0]


def test_form_upload_succeeds(upload_env, endpoint, services) -> None:  # type: ignore[no-untyped-def]
    grant = form_grant(upload_env)

    response = post_form(endpoint, grant["form"]["fields"], b"m" * 100)

    assert response.status_code == 204
    assert services.store.path_of(BUCKET, grant["key"]).read_bytes() == b"m" * 100
    assert response.headers["ETag"].strip('"') == services.store.head(BUCKET, grant["key"]).etag


def test_form_larger_file_rejected(upload_env, endpoint, services) -> None:  # type: ignore[no-untyped-def]
    grant = form_grant(upload_env, size=100)

    response = post_form(endpoint, grant["form"]["fields"], b"m" * 101)

    assert response.status_code == 400
    assert error_code(response) == "EntityTooLarge"
    assert services.store.head(BUCKET, grant["key"]) is None


@pytest.mark.parametrize(("field", "value"), [
    ("key", "uploads/u1/2026/01/01/other.mp4"),
    ("key", "uploads/u10/2026/01/01/other.mp4"),
    ("Content-Type", "text/html"),
])
def test_form_changed_field_rejected(upload_env, endpoint, services, field: str, value: str) -> None:  # type: ignore[no-untyped-def]
    grant = form_grant(upload_env)
    fields = {**grant["form"]["fields"], field: value}

    response = post_form(endpoint, fields, b"m" * 100)

    assert response.status_code == 403
    assert error_code(response) == "AccessDenied"


def test_form_tampered_policy_rejected(upload_env, endpoint) -> None:  # type: ignore[no-untyped-def]
    grant = form_grant(upload_env)
    fields = dict(grant["form"]["fields"])
    policy = json.loads(base64.b64decode(fields["policy"]))
    policy["conditions"] = [c for c in policy["conditions"] if c != ["content-length-range", 1, 100]]
    fields["policy"] = base64.b64encode(json.dumps(policy).encode()).decode()

    response = post_form(endpoint, fields, b"m" * 5000)

    assert response.status_code == 403
    assert error_code(response) == "SignatureDoesNotMatch"


def test_form_resigned_wider_policy_still_limited_by_sts(upload_env, endpoint) -> None:  # type: ignore[no-untyped-def]
    # A client holding the temporary key can sign its own POST policy; the STS policy still binds.
    grant = form_grant(upload_env, size=100)
    fields = dict(grant["form"]["fields"])
    policy = {"expiration": "2099-01-01T00:00:00.000Z", "conditions": [{"bucket": BUCKET}]}
    policy_bytes = json.dumps(policy).encode()
    fields["policy"] = base64.b64encode(policy_bytes).decode()
    fields["q-signature"] = post_policy_signature(grant["credentials"]["tmpSecretKey"], fields["q-key-time"],
                                                  policy_bytes)

    too_large = post_form(endpoint, fields, b"m" * 101)
    other_key = post_form(endpoint, {**fields, "key": "uploads/u1/x.mp4"}, b"m" * 10)

    assert too_large.status_code == 403
    assert other_key.status_code == 403


def test_form_missing_token_rejected(upload_env, endpoint) -> None:  # type: ignore[no-untyped-def]
    grant = form_grant(upload_env)
    fields = {k: v for k, v in grant["form"]["fields"].items() if k != "x-cos-security-token"}

    response = post_form(endpoint, fields, b"m" * 100)

    assert response.status_code == 403


def test_form_expired_rejected(upload_env, endpoint, endpoint_clock: Clock) -> None:  # type: ignore[no-untyped-def]
    grant = form_grant(upload_env)
    endpoint_clock.offset = 601

    response = post_form(endpoint, grant["form"]["fields"], b"m" * 100)

    assert response.status_code == 403
    assert error_code(response) == "ExpiredToken"
