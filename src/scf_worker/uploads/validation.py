"""Request validation for media-sign: user ids, MIME types, extensions and sizes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from scf_worker.runtime.errors import ApiError

# MIME type -> allowed filename extensions (lower case, without the dot).
DEFAULT_MIME_TYPES: dict[str, tuple[str, ...]] = {
    "image/jpeg": ("jpg", "jpeg"),
    "image/png": ("png",),
    "image/webp": ("webp",),
    "image/gif": ("gif",),
    "video/mp4": ("mp4", "m4v"),
    "video/quicktime": ("mov",),
    "video/webm": ("webm",),
    "video/x-matroska": ("mkv",),
    "audio/mpeg": ("mp3",),
    "audio/mp4": ("m4a",),
    "audio/aac": ("aac",),
    "audio/wav": ("wav",),
    "audio/ogg": ("ogg", "oga"),
}
MAX_USER_ID_LENGTH = 128
_BAD_USER_ID = re.compile(r"[/*\s\x00-\x1f\x7f\\]|\.\.")


@dataclass(frozen=True)
class UploadRequest:
    filename: str
    mime: str
    size: int
    mode: str
    extension: str


def check_user_id(user_id: str) -> str:
    if not user_id or len(user_id) > MAX_USER_ID_LENGTH or _BAD_USER_ID.search(user_id):
        raise ApiError("invalid_user_id", "user id must be 1-128 characters without / .. * or spaces")
    return user_id


def parse_upload_request(body: Any, max_bytes: int,
                         mime_types: dict[str, tuple[str, ...]] = DEFAULT_MIME_TYPES) -> UploadRequest:
    """Validate the JSON body; each violation raises its own catalog error."""
    if not isinstance(body, dict):
        raise ApiError("invalid_params", "body must be a JSON object")
    missing = [name for name in ("filename", "mime", "size") if name not in body]
    if missing:
        raise ApiError("missing_params", f"missing fields: {', '.join(missing)}")
    filename, mime, size = body["filename"], body["mime"], body["size"]
    mode = body.get("mode", "sts")
    if not isinstance(filename, str) or not isinstance(mime, str):
        raise ApiError("invalid_params", "filename and mime must be strings")
    if isinstance(size, bool) or not isinstance(size, int):
        raise ApiError("invalid_params", "size must be an integer number of bytes")
    if mode not in ("sts", "form"):
        raise ApiError("invalid_params", "mode must be sts or form")

    mime = mime.strip().lower()
    if mime not in mime_types:
        raise ApiError("mime_not_allowed", f"allowed types: {', '.join(sorted(mime_types))}")
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extension not in mime_types[mime]:
        raise ApiError("extension_mismatch", f"{mime} expects .{' or .'.join(mime_types[mime])}")
    if not 1 <= size <= max_bytes:
        raise ApiError("invalid_size", f"size must be from 1 to {max_bytes} bytes")
    return UploadRequest(filename, mime, size, mode, extension)
