"""Browser form uploads: a COS POST Object policy signed with the temporary credentials.

The policy pins the bucket, the exact key, the size range, the Content-Type
and the session token, and carries the signature fields COS requires
(``q-sign-algorithm``, ``q-ak``, ``q-sign-time``). The browser posts the
returned fields in order, then the ``file`` field last.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from scf_worker.uploads.cos_signing import post_policy_signature
from scf_worker.uploads.issuers import TemporaryCredentials


def iso_utc(epoch_seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(epoch_seconds))


def build_form(credentials: TemporaryCredentials, bucket: str, region: str, key: str, mime: str,
               size: int) -> dict[str, Any]:
    """Return ``{"url", "fields"}`` for a POST Object upload of exactly ``key``."""
    key_time = f"{credentials.start_time};{credentials.expired_time}"
    policy = {
        "expiration": iso_utc(credentials.expired_time),
        "conditions": [
            {"bucket": bucket},
            ["eq", "$key", key],
            ["content-length-range", 1, size],
            ["eq", "$Content-Type", mime],
            {"x-cos-security-token": credentials.session_token},
            {"q-sign-algorithm": "sha1"},
            {"q-ak": credentials.tmp_secret_id},
            {"q-sign-time": key_time},
        ],
    }
    # Sign exactly the bytes that are base64-encoded; re-serialising would change the hash.
    policy_bytes = json.dumps(policy, separators=(",", ":")).encode("utf-8")
    fields = {
        "key": key,
        "Content-Type": mime,
        "policy": base64.b64encode(policy_bytes).decode("ascii"),
        "x-cos-security-token": credentials.session_token,
        "q-sign-algorithm": "sha1",
        "q-ak": credentials.tmp_secret_id,
        "q-key-time": key_time,
        "q-signature": post_policy_signature(credentials.tmp_secret_key, key_time, policy_bytes),
    }
    return {"url": f"https://{bucket}.cos.{region}.myqcloud.com/", "fields": fields}
