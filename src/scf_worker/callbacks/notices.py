"""Upload notices from the two sources cos-callback accepts.

An HTTP callback carries ``{"objectKey", "etag", "bucket", "size", "mime"}``; a
COS trigger record carries the key with a ``/<appid>/<bucket short name>/``
prefix, which is stripped exactly once and never URL-decoded, because a key may
legally contain ``%`` and ``+``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scf_worker.callbacks.errors import RecordRejected
from scf_worker.runtime.errors import ApiError
from scf_worker.runtime.events import CosRecord
from scf_worker.storage.base import check_key, normalize_etag
from scf_worker.storage.errors import InvalidObjectKey


@dataclass(frozen=True)
class UploadNotice:
    """One uploaded object to record; ``etag`` is None until a HEAD fills it in."""

    bucket: str
    key: str
    etag: str | None
    size: int | None
    mime: str | None


_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "objectKey": (str,), "etag": (str,), "bucket": (str,), "size": (int,), "mime": (str,),
}


def notice_from_callback(body: Any) -> UploadNotice:
    """Validate an HTTP callback body; raise ApiError with missing_params or invalid_params."""
    if not isinstance(body, dict):
        raise ApiError("invalid_params", "body must be a JSON object")
    missing = [name for name in _FIELD_TYPES if name not in body]
    if missing:
        raise ApiError("missing_params", f"missing fields: {', '.join(missing)}")
    for name, types in _FIELD_TYPES.items():
        value = body[name]
        if isinstance(value, bool) or not isinstance(value, types) or value in ("", None):
            raise ApiError("invalid_params", f"{name} must be a non-empty {types[0].__name__}")
    if body["size"] < 0:
        raise ApiError("invalid_params", "size must not be negative")
    try:
        key = check_key(body["objectKey"])
    except InvalidObjectKey as exc:
        raise ApiError("invalid_key", str(exc)) from None
    return UploadNotice(body["bucket"], key, normalize_etag(body["etag"]), body["size"], body["mime"])


def notice_from_record(record: CosRecord, bucket: str, appid: str, short_name: str) -> UploadNotice:
    """Turn a COS record for our bucket into a notice; raise RecordRejected otherwise."""
    if not record.is_object_created:
        raise RecordRejected("ignored_event", f"event {record.event_name!r} is not ObjectCreated")
    if record.appid != appid or record.bucket_short_name != short_name:
        raise RecordRejected("wrong_bucket", "record is for another bucket or APPID")
    prefix = f"/{appid}/{short_name}/"
    if not record.raw_key.startswith(prefix):
        raise RecordRejected("invalid_key", "key lacks the /<appid>/<bucket>/ prefix")
    try:
        key = check_key(record.raw_key[len(prefix):])
    except InvalidObjectKey as exc:
        raise RecordRejected("invalid_key", str(exc)) from None
    etag = normalize_etag(record.etag) if record.etag else None
    return UploadNotice(bucket, key, etag, record.size, record.content_type)
