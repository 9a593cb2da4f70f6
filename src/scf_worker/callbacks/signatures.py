"""Callback signature checks: Standard Webhooks, and optionally the legacy header.

Standard Webhooks: ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature``
(space-separated ``v1,<base64>`` entries) over ``id.timestamp.body``, where the
body is the raw bytes as received. Every secret in ``CALLBACK_SHARED_SECRET``
is tried, so a rotated secret verifies while the old one is still configured.

Legacy, only with ``CALLBACK_LEGACY_SIGNATURE=true``: ``x-cos-signature`` is the
hex HMAC-SHA256 of the raw body, keyed with the same decoded secret bytes. It
carries no timestamp, so a captured request can be replayed until the
idempotency record expires; prefer Standard Webhooks.

Any failure, however malformed the headers, is ``ApiError("invalid_signature")``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping, Sequence

from scf_worker.observability.logging import get_logger
from scf_worker.runtime.errors import ApiError
from scf_worker.webhooks.errors import VerificationError
from scf_worker.webhooks.signing import decode_secret, verify

log = get_logger(__name__)
LEGACY_HEADER = "x-cos-signature"
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


class CallbackVerifier:
    """Check one request's signature headers against the configured secrets."""

    def __init__(self, secrets: Sequence[str], tolerance_seconds: int, legacy_enabled: bool,
                 clock: Callable[[], float] = time.time) -> None:
        # Decoding here, once per cold start, rejects a malformed or short secret early.
        self.keys = [decode_secret(secret) for secret in secrets]
        self.tolerance_seconds = tolerance_seconds
        self.legacy_enabled = legacy_enabled
        self.clock = clock

    def verify(self, headers: Mapping[str, str], body: bytes) -> str | None:
        """Return the ``webhook-id`` (None for a legacy signature) or raise invalid_signature.

        ``headers`` must be keyed by lower-case names.
        """
        if not self.keys:
            raise self._reject("no callback secret is configured")
        if self.legacy_enabled and "webhook-signature" not in headers and LEGACY_HEADER in headers:
            self._verify_legacy(headers[LEGACY_HEADER], body)
            return None
        try:
            return verify(headers, body, self.keys, self.tolerance_seconds, self.clock())
        except (VerificationError, ValueError, TypeError, OverflowError) as exc:
            reason = str(exc) if isinstance(exc, VerificationError) else "malformed signature headers"
            raise self._reject(reason) from None

    def _verify_legacy(self, signature: str, body: bytes) -> None:
        value = signature.strip()
        if len(value) != 64 or not set(value) <= _HEX_DIGITS:
            raise self._reject("x-cos-signature is not 64 hex digits")
        received = bytes.fromhex(value)
        matched = False
        for key in self.keys:
            matched |= hmac.compare_digest(hmac.new(key, body, hashlib.sha256).digest(), received)
        if not matched:
            raise self._reject("x-cos-signature did not match")

    @staticmethod
    def _reject(reason: str) -> ApiError:
        # The reason names the check that failed; header values are never logged.
        log.warning("signature_rejected", reason=reason)
        return ApiError("invalid_signature")
