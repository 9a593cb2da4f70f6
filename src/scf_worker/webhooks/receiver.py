"""Verification for backends that receive our webhooks (Standard Webhooks, HMAC-SHA256)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from scf_worker.webhooks.errors import VerificationError
from scf_worker.webhooks.signing import DEFAULT_TOLERANCE_SECONDS, decode_secret
from scf_worker.webhooks.signing import verify as verify_signature


@dataclass(frozen=True)
class VerifiedWebhook:
    """A webhook whose signature checked out; dedupe on ``id``, it is stable across retries."""

    id: str
    timestamp: int
    payload: Any


def verify(headers: Mapping[str, str], body: bytes | str, secrets: str | Iterable[str],
           tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS, now: float | None = None) -> VerifiedWebhook:
    """Verify a received webhook and return it parsed; raise VerificationError otherwise.

    ``headers`` may use any letter case (a framework's header mapping works);
    ``body`` must be the raw request body, since re-serialised JSON will not
    match. ``secrets`` is one ``whsec_`` value or several during a rotation;
    any one matching signature is enough. A secret that does not decode raises
    InvalidSecret, which is a configuration error rather than a bad request.
    """
    secret_list = [secrets] if isinstance(secrets, str) else list(secrets)
    keys = [decode_secret(secret) for secret in secret_list]
    lowered = {str(name).lower(): str(value) for name, value in headers.items()}
    raw = body.encode() if isinstance(body, str) else bytes(body)

    webhook_id = verify_signature(lowered, raw, keys, tolerance_seconds, now)
    try:
        payload = json.loads(raw)
    except ValueError:
        raise VerificationError("the signed body is not valid JSON") from None
    return VerifiedWebhook(webhook_id, int(lowered["webhook-timestamp"]), payload)
