"""Upload notices from the two sources cos-callback accepts.

An HTTP callback carries ``{"objectKey", "etag", "bucket", "size", "mime"}``
with the exact key. A COS trigger record carries the key with a
``/<appid>/<bucket short name>/`` prefix and in an encoding COS does not
document, so ``callbacks.keys`` turns it into candidate keys that a HEAD resolves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scf_worker.callbacks.errors import RecordRejected
from scf_worker.callbacks.keys import key_candidates, strip_prefix
from scf_worker.runtime.errors import ApiError
from scf_worker.runtime.events import CosRecord
from scf_worker.storage.base import check_key, normalize_etag
from scf_worker.storage.errors import InvalidObjectKey

SOURCE_HTTP = "http"
SOURCE_COS = "cos"


@dataclass(frozen=True)
class UploadNotice:
    """One uploaded object to record.

    ``keys`` contains the keys the notice may name, most likely first (one for an
    HTTP callback). ``etag`` is None when the source did not send one; a HEAD
    fills it in. ``declared_size`` is the size the sender vouches for.
    """

    source: str
    bucket: str
    keys: tuple[str, ...]
    etag: str | None
    declared_size: int | None
    mime: str | None
    version_id: str = ""

    @property
    def key(self) -> str:
        return self.keys[0]


_FIELD_TYPES: dict[str, type] = {"objectKey": str, "etag": str, "bucket": str, "size": int, "mime": str}


def notice_from_callback(body: Any) -> UploadNotice:
    """Validate an HTTP callback body; raise ApiError with missing_params or invalid_params."""
    if not isinstance(body, dict):
        raise ApiError("invalid_params", "body must be a JSON object")
    missing = [name for name in _FIELD_TYPES if name not in body]
    if missing:
        raise ApiError("missing_params", f"missing fields: {', '.join(missing)}")
    for name, expected in _FIELD_TYPES.items():
        value = body[name]
        if isinstance(value, bool) or not isinstance(value, expected):
            raise ApiError("invalid_params", f"{name} must be a {'string' if expected is str else 'integer'}")
        if isinstance(value, str) and not value.strip():
            raise ApiError("invalid_params", f"{name} must not be empty")
    if body["size"] < 0:
        raise ApiError("invalid_params", "size must not be negative")
    etag = normalize_etag(body["etag"])
    if not etag:
        raise ApiError("invalid_params", "etag must not be empty")
    mime = body["mime"].split(";")[0].strip().lower()
    if "/" not in mime:
        raise ApiError("invalid_params", "mime must look like type/subtype")
    try:
        key = check_key(body["objectKey"])
    except InvalidObjectKey as exc:
        raise ApiError("invalid_key", str(exc)) from None
    return UploadNotice(SOURCE_HTTP, body["bucket"], (key,), etag, body["size"], mime)


def notice_from_record(record: CosRecord, bucket: str, appid: str, short_name: str) -> UploadNotice:
    """Turn a COS record for our bucket into a notice; raise RecordRejected otherwise."""
    if not record.is_object_created:
        raise RecordRejected("ignored_event", f"event {record.event_name!r} is not ObjectCreated")
    if record.appid != appid or record.bucket_short_name != short_name:
        raise RecordRejected("wrong_bucket", "record is for another bucket or APPID")
    keys = key_candidates(strip_prefix(record.raw_key, appid, short_name), record.url)
    etag = normalize_etag(record.etag) if record.etag else None
    mime = record.content_type.split(";")[0].strip().lower() if record.content_type else None
    return UploadNotice(SOURCE_COS, bucket, keys, etag or None, None, mime, record.version_id)
