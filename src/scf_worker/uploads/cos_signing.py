"""COS v5 signatures (``q-sign-algorithm=sha1``): request signatures and POST Object policies.

Request signature (COS XML API, as ``cos-python-sdk-v5`` computes it):

- ``SignKey = hex(HMAC-SHA1(SecretKey, KeyTime))`` with ``KeyTime = "<start>;<end>"``.
- ``HttpString = lower(method) \\n path \\n params \\n headers \\n`` where the path is the
  decoded URI path and params/headers are ``k=v`` pairs joined by ``&``, keys lower-cased,
  both sides RFC 3986 encoded (only ``A-Za-z0-9-_.~`` kept), sorted by key.
- ``StringToSign = "sha1\\n" KeyTime "\\n" hex(SHA1(HttpString)) "\\n"``.
- ``Signature = hex(HMAC-SHA1(SignKey, StringToSign))``.

POST Object: ``Signature = hex(HMAC-SHA1(SignKey, hex(SHA1(policy bytes))))`` over the
exact JSON bytes that are base64-encoded into the ``policy`` form field.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import quote


def cos_quote(value: str) -> str:
    return quote(value.encode("utf-8"), safe="-_.~")


def _hmac_sha1_hex(key: str, message: str) -> str:
    return hmac.new(key.encode("utf-8"), message.encode("utf-8"), hashlib.sha1).hexdigest()


def sign_key(secret_key: str, key_time: str) -> str:
    return _hmac_sha1_hex(secret_key, key_time)


def canonical_pairs(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Encode and sort name/value pairs the way the signature expects."""
    return sorted((cos_quote(name).lower(), cos_quote(value)) for name, value in pairs)


def request_signature(secret_key: str, key_time: str, method: str, path: str,
                      params: Iterable[tuple[str, str]], headers: Iterable[tuple[str, str]]) -> str:
    """Compute ``q-signature`` for a request; ``path`` is the decoded path starting with ``/``."""
    joined_params = "&".join(f"{k}={v}" for k, v in canonical_pairs(params))
    joined_headers = "&".join(f"{k}={v}" for k, v in canonical_pairs(headers))
    http_string = f"{method.lower()}\n{path}\n{joined_params}\n{joined_headers}\n"
    http_digest = hashlib.sha1(http_string.encode("utf-8")).hexdigest()  # noqa: S324 (COS v5 protocol)
    string_to_sign = f"sha1\n{key_time}\n{http_digest}\n"
    return _hmac_sha1_hex(sign_key(secret_key, key_time), string_to_sign)


def post_policy_signature(secret_key: str, key_time: str, policy_bytes: bytes) -> str:
    """Compute ``q-signature`` for a POST Object form over the raw policy JSON bytes."""
    string_to_sign = hashlib.sha1(policy_bytes).hexdigest()  # noqa: S324 (COS v5 protocol)
    return _hmac_sha1_hex(sign_key(secret_key, key_time), string_to_sign)
