"""The error catalog shared by every HTTP function.

Each entry pairs an HTTP status with a numeric code and a message key. Response
bodies carry only the key and an optional safe detail, never internal text.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorCode:
    """One catalog entry: HTTP status, numeric code and message key."""

    status: int
    code: int
    key: str
    description: str


CATALOG: dict[str, ErrorCode] = {
    entry.key: entry
    for entry in (
        ErrorCode(400, 40001, "missing_params", "A required field or parameter is missing."),
        ErrorCode(400, 40002, "invalid_params", "A field has the wrong type or value."),
        ErrorCode(400, 40003, "invalid_json", "The body is not valid JSON."),
        ErrorCode(400, 40004, "unsupported_event", "The function does not take this event shape."),
        ErrorCode(400, 40010, "invalid_user_id", "The caller's user id is not allowed in a key."),
        ErrorCode(400, 40011, "mime_not_allowed", "The MIME type is not on the allow-list."),
        ErrorCode(400, 40012, "extension_mismatch", "The filename extension does not match."),
        ErrorCode(400, 40013, "invalid_size", "The declared size is out of range."),
        ErrorCode(400, 40014, "invalid_key", "The object key is not allowed."),
        ErrorCode(401, 40101, "unauthorized", "The bearer token is missing or invalid."),
        ErrorCode(403, 40301, "invalid_signature", "The request signature did not verify."),
        ErrorCode(403, 40302, "forbidden", "The credential does not allow this request."),
        ErrorCode(404, 40401, "not_found", "The route or resource does not exist."),
        ErrorCode(405, 40501, "method_not_allowed", "The HTTP method is not allowed here."),
        ErrorCode(409, 40901, "idempotency_conflict", "The key was used with another payload."),
        ErrorCode(409, 40902, "in_progress", "The same request is being processed."),
        ErrorCode(413, 41301, "payload_too_large", "The body exceeds the configured cap."),
        ErrorCode(500, 50001, "internal_error", "An internal error occurred."),
        ErrorCode(500, 50002, "policy_rejected", "The credential policy failed its self-check."),
        ErrorCode(502, 50201, "upstream_error", "An upstream service failed."),
        ErrorCode(502, 50202, "sts_failed", "The credential service (STS) failed; retry later."),
        ErrorCode(503, 50301, "unavailable", "A dependency is unavailable; retry later."),
    )
}


class ApiError(Exception):
    """An error that maps to a catalog entry and is safe to show the caller."""

    def __init__(self, key: str, detail: str | None = None) -> None:
        if key not in CATALOG:
            raise KeyError(f"unknown error key {key!r}; add it to runtime.errors.CATALOG")
        self.entry = CATALOG[key]
        self.detail = detail
        super().__init__(f"{key}: {detail}" if detail else key)

    @property
    def status(self) -> int:
        return self.entry.status

    @property
    def key(self) -> str:
        return self.entry.key


class ConfigError(Exception):
    """A configuration variable is missing or malformed; raised at cold start."""

    def __init__(self, variable: str, expected: str, value: str | None = None) -> None:
        self.variable = variable
        self.expected = expected
        shown = "" if value is None else f" (got {value!r})"
        super().__init__(f"invalid configuration {variable}{shown}: expected {expected}")
