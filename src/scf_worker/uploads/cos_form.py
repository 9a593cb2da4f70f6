"""POST Object (browser form upload) checks for the loopback COS endpoint.

``parse_form`` splits a ``multipart/form-data`` body. ``check_post_policy``
verifies the policy's expiration and conditions against the form, with the
condition forms COS documents: exact match (``{"field": v}`` or ``["eq", "$field", v]``),
``["starts-with", "$field", prefix]`` and ``["content-length-range", min, max]``.
Field names compare case-insensitively; every constrained field except
``bucket`` must be present in the form.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scf_worker.uploads.errors import UploadError


class FormRejected(UploadError):
    """The form or its policy does not allow this upload; carries the COS status and code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class FormUpload:
    """The form fields before ``file`` (names lower-cased), and the file itself."""

    fields: dict[str, str]
    filename: str
    content: bytes


def _boundary(content_type: str) -> bytes:
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary" and value:
            return value.strip('"').encode("latin-1")
    raise FormRejected(400, "InvalidArgument", "multipart/form-data needs a boundary")


def _disposition(header_block: bytes) -> dict[str, str]:
    params: dict[str, str] = {}
    for line in header_block.decode("utf-8", "replace").split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip().lower() != "content-disposition":
            continue
        for item in value.split(";")[1:]:
            key, _, raw = item.strip().partition("=")
            params[key.lower()] = raw.strip().strip('"')
    return params


def parse_form(content_type: str, body: bytes) -> FormUpload:
    """Split the form; fields after ``file`` are ignored, as COS does."""
    # Each part starts after CRLF "--" boundary; prefixing CRLF makes the first one look the same.
    delimiter = b"\r\n--" + _boundary(content_type)
    fields: dict[str, str] = {}
    for chunk in (b"\r\n" + body).split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        header_block, separator, content = chunk.partition(b"\r\n\r\n")
        if not separator:
            raise FormRejected(400, "InvalidArgument", "a form part has no header separator")
        disposition = _disposition(header_block)
        name = disposition.get("name", "")
        if name == "file":
            return FormUpload(fields, disposition.get("filename", ""), content)
        fields[name.lower()] = content.decode("utf-8", "replace")
    raise FormRejected(400, "InvalidArgument", "the form has no file field")


def decode_policy(encoded: str) -> tuple[bytes, dict[str, Any]]:
    """Return the raw policy bytes (what the signature covers) and the parsed policy."""
    try:
        raw = base64.b64decode(encoded, validate=True)
        policy = json.loads(raw)
    except (binascii.Error, ValueError):
        raise FormRejected(400, "InvalidPolicyDocument", "policy is not base64-encoded JSON") from None
    if not isinstance(policy, dict) or not isinstance(policy.get("conditions"), list):
        raise FormRejected(400, "InvalidPolicyDocument", "policy needs expiration and conditions")
    return raw, policy


def _expiration(policy: dict[str, Any]) -> float:
    raw = policy.get("expiration")
    try:
        return datetime.fromisoformat(str(raw).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise FormRejected(400, "InvalidPolicyDocument", "policy expiration is not ISO-8601") from None


def _field(values: dict[str, str], name: str) -> str:
    field = name.lstrip("$").lower()
    if field not in values:
        raise FormRejected(403, "AccessDenied", f"policy constrains {field} but the form lacks it")
    return values[field]


def _check_condition(condition: Any, values: dict[str, str], size: int) -> None:
    if isinstance(condition, dict):
        for name, expected in condition.items():
            if _field(values, name) != str(expected):
                raise FormRejected(403, "AccessDenied", f"form field {name} does not match the policy")
        return
    if not isinstance(condition, list) or len(condition) != 3:
        raise FormRejected(400, "InvalidPolicyDocument", "a condition is neither an object nor a triple")
    operator = str(condition[0]).lower()
    if operator == "content-length-range":
        low, high = int(condition[1]), int(condition[2])
        if size > high:
            raise FormRejected(400, "EntityTooLarge", "the file is larger than content-length-range allows")
        if size < low:
            raise FormRejected(400, "EntityTooSmall", "the file is smaller than content-length-range allows")
        return
    actual = _field(values, str(condition[1]))
    if operator == "eq" and actual == str(condition[2]):
        return
    if operator == "starts-with" and actual.startswith(str(condition[2])):
        return
    if operator not in ("eq", "starts-with"):
        raise FormRejected(400, "InvalidPolicyDocument", f"unknown policy condition {operator}")
    raise FormRejected(403, "AccessDenied", f"form field {condition[1]} does not match the policy")


def check_post_policy(policy: dict[str, Any], form: FormUpload, bucket: str, now: float) -> None:
    """Raise FormRejected unless the policy is unexpired and every condition holds."""
    if _expiration(policy) <= now:
        raise FormRejected(403, "AccessDenied", "the form policy has expired")
    values = dict(form.fields)
    values["bucket"] = bucket
    # The policy names the signing time q-sign-time; the form carries it as q-key-time.
    values.setdefault("q-sign-time", values.get("q-key-time", ""))
    for condition in policy["conditions"]:
        _check_condition(condition, values, len(form.content))
