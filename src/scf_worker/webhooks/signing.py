"""Standard Webhooks signatures: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``.

The signed content is the raw body bytes, never re-serialised JSON. Secrets are
``whsec_`` followed by strict base64; comparison is constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping

from scf_worker.webhooks.errors import InvalidSecret, VerificationError

SECRET_PREFIX = "whsec_"  # noqa: S105 (a format prefix, not a secret)
MIN_KEY_BYTES = 24
DEFAULT_TOLERANCE_SECONDS = 300


def decode_secret(secret: str, min_bytes: int = MIN_KEY_BYTES) -> bytes:
    """Decode ``whsec_<base64>`` strictly; raise InvalidSecret without echoing the value."""
    if not secret.startswith(SECRET_PREFIX):
        raise InvalidSecret("secret must start with whsec_")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSecret("secret after whsec_ is not valid base64") from None
    if len(key) < min_bytes:
        raise InvalidSecret(f"secret key is {len(key)} bytes; at least {min_bytes} are required")
    return key


def generate_secret(num_bytes: int = 32) -> str:
    import secrets

    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(num_bytes)).decode()


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_headers(keys: Iterable[bytes], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Build the three headers; several keys (during rotation) give several signatures."""
    signatures = " ".join(sign(key, msg_id, timestamp, body) for key in keys)
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signatures}


def verify(headers: Mapping[str, str], body: bytes, keys: Iterable[bytes],
           tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS, now: float | None = None) -> str:
    """Check the headers against the body; return the message id or raise VerificationError.

    ``headers`` must be keyed by lower-case names.
    """
    msg_id = headers.get("webhook-id", "")
    raw_timestamp = headers.get("webhook-timestamp", "")
    raw_signatures = headers.get("webhook-signature", "")
    if not msg_id or not raw_timestamp or not raw_signatures:
        raise VerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    # More than 12 digits is past the year 33000 and would overflow the float comparison.
    if not raw_timestamp.isascii() or not raw_timestamp.isdigit() or len(raw_timestamp) > 12:
        raise VerificationError("webhook-timestamp is not a Unix timestamp")
    timestamp = int(raw_timestamp)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise VerificationError("webhook-timestamp is outside the tolerance")

    candidates = []
    for entry in raw_signatures.split(" "):
        version, comma, value = entry.partition(",")
        if version != "v1" or not comma or not value or "," in value:
            continue
        try:
            candidates.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            continue
    if not candidates:
        raise VerificationError("webhook-signature has no well-formed v1 entry")

    content = f"{msg_id}.{timestamp}.".encode() + body
    for key in keys:
        expected = hmac.new(key, content, hashlib.sha256).digest()
        # Compare against every candidate so timing does not depend on which one matched.
        matched = False
        for candidate in candidates:
            matched |= hmac.compare_digest(expected, candidate)
        if matched:
            return msg_id
    raise VerificationError("no signature matched")
