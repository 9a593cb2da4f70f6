"""Adapters from the event shapes SCF delivers to small typed objects.

Shapes: the API Gateway trigger, the COS trigger, CMQ and CKafka queue
records, the timer trigger, and direct async invocation (a plain dict).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scf_worker.runtime.errors import ApiError


@dataclass(frozen=True)
class HttpRequest:
    """An API Gateway integration request."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    query: Mapping[str, Any]
    request_id: str | None
    source_ip: str | None = None

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        """Parse the body as JSON; raise ApiError for an empty or malformed body."""
        if not self.body.strip():
            raise ApiError("missing_params", "the request body is empty")
        try:
            parsed = json.loads(self.body)
            # A lone surrogate such as "\ud800" parses but cannot be stored or logged as UTF-8.
            json.dumps(parsed, ensure_ascii=False).encode("utf-8")
        except (UnicodeError, ValueError, RecursionError):
            # ValueError covers malformed JSON and integers past Python's digit limit.
            raise ApiError("invalid_json") from None
        return parsed


@dataclass(frozen=True)
class CosRecord:
    """One record of a COS trigger event, with the raw key as delivered."""

    event_name: str
    appid: str
    bucket_short_name: str
    region: str
    raw_key: str
    size: int | None
    etag: str | None
    content_type: str | None
    version_id: str
    event_time: str | int | None
    meta: Mapping[str, Any] = field(default_factory=dict)
    url: str | None = None

    @property
    def is_object_created(self) -> bool:
        return self.event_name.startswith("cos:ObjectCreated:")


@dataclass(frozen=True)
class TimerEvent:
    trigger_name: str
    time: str
    message: str


@dataclass(frozen=True)
class QueueMessage:
    """A message from a queue trigger or the local worker; ``body`` is parsed JSON."""

    message_id: str | None
    body: Any
    source: str


def kind_of(event: Any) -> str:
    """Classify an event: ``http``, ``cos``, ``queue``, ``timer``, ``direct`` or ``unknown``."""
    if not isinstance(event, Mapping):
        return "unknown"
    if "httpMethod" in event and ("headers" in event or "requestContext" in event):
        return "http"
    if event.get("Type") == "Timer":
        return "timer"
    records = event.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], Mapping):
        if "cos" in records[0]:
            return "cos"
        if "CMQ" in records[0] or "Ckafka" in records[0]:
            return "queue"
        return "unknown"
    if "Records" in event:
        return "unknown"
    return "direct"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_http(event: Mapping[str, Any]) -> HttpRequest:
    """Read an API Gateway event; fields of the wrong type raise ApiError("invalid_params")."""
    raw_headers = event.get("headers") or {}
    if not isinstance(raw_headers, Mapping):
        raise ApiError("invalid_params", "headers must be an object")
    headers: dict[str, str] = {}
    for name, value in raw_headers.items():
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        headers[str(name).lower()] = str(value)

    body_field = event.get("body")
    if body_field is None:
        body_field = ""
    if not isinstance(body_field, str):
        raise ApiError("invalid_params", "body must be a string")
    encoded = event.get("isBase64Encoded", False)
    if not isinstance(encoded, bool):
        raise ApiError("invalid_params", "isBase64Encoded must be true or false")
    if encoded:
        try:
            body = base64.b64decode(body_field, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError("invalid_params", "isBase64Encoded is set but body is not base64") from None
    else:
        try:
            body = body_field.encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError("invalid_json", "body is not valid UTF-8") from None

    context = _mapping(event.get("requestContext"))
    request_id = _text(context.get("requestId")) or _text(headers.get("x-api-requestid"))
    method = _text(event.get("httpMethod")) or _text(context.get("httpMethod")) or "GET"
    query = event.get("queryString") or event.get("queryStringParameters") or {}
    return HttpRequest(
        method=method.upper(),
        path=_text(event.get("path")) or _text(context.get("path")) or "/",
        headers=headers,
        body=body,
        query=query if isinstance(query, Mapping) else {},
        request_id=request_id,
        source_ip=_text(context.get("sourceIp")),
    )


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_cos_record(record: Mapping[str, Any]) -> CosRecord:
    """Read one COS record; raise ValueError naming the missing field."""
    cos = record.get("cos")
    if not isinstance(cos, Mapping):
        raise ValueError("record has no cos object")
    bucket = cos.get("cosBucket") or {}
    obj = cos.get("cosObject") or {}
    meta = obj.get("meta") or {}
    event = record.get("event") or {}
    if not all(isinstance(part, Mapping) for part in (bucket, obj, meta, event)):
        raise ValueError("cos.cosBucket, cos.cosObject, its meta and event must be objects")
    key = obj.get("key")
    if not isinstance(key, str) or not key:
        raise ValueError("cos.cosObject.key is missing")
    return CosRecord(
        event_name=str(event.get("eventName") or ""),
        appid=str(bucket.get("appid") or ""),
        bucket_short_name=str(bucket.get("name") or ""),
        region=str(bucket.get("cosRegion") or bucket.get("region") or ""),
        raw_key=key,
        size=_int_or_none(obj.get("size")),
        etag=_str_or_none(meta.get("ETag") or meta.get("etag")),
        content_type=_str_or_none(meta.get("Content-Type")),
        version_id=str(obj.get("vid") or ""),
        event_time=event.get("eventTime"),
        meta=meta,
        url=obj.get("url") if isinstance(obj.get("url"), str) else None,
    )


def parse_timer(event: Mapping[str, Any]) -> TimerEvent:
    return TimerEvent(
        trigger_name=str(event.get("TriggerName") or ""),
        time=str(event.get("Time") or ""),
        message=str(event.get("Message") or ""),
    )


def parse_queue(event: Mapping[str, Any]) -> list[QueueMessage]:
    """Read every CMQ or CKafka record; a body that is not JSON stays a string.

    A record that is not an object becomes a message whose body is None, so the
    caller dead-letters it instead of failing the whole batch.
    """
    messages = []
    for index, record in enumerate(event.get("Records") or []):
        if not isinstance(record, Mapping):
            messages.append(QueueMessage(message_id=f"record-{index}", body=None, source="unknown"))
            continue
        source = "CMQ" if "CMQ" in record else "Ckafka"
        inner = _mapping(record.get(source))
        raw = inner.get("msgBody")
        try:
            body = json.loads(raw) if isinstance(raw, str) else raw
        except (ValueError, RecursionError):
            body = raw
        message_id = _text(inner.get("msgId")) or (
            f"{inner.get('topic')}:{inner.get('partition')}:{inner.get('offset')}"
            if source == "Ckafka"
            else f"record-{index}"
        )
        messages.append(QueueMessage(message_id=message_id, body=body, source=source))
    return messages
