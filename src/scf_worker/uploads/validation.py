"""Request validation for media-sign: user ids, MIME types, extensions and sizes."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
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
MAX_FILENAME_LENGTH = 255
# Characters that change a key's meaning: path separators and the CAM resource wildcard.
_FORBIDDEN_USER_ID_CHARS = frozenset("/\\*?")


@dataclass(frozen=True)
class UploadRequest:
    """A validated media-sign request body."""

    filename: str
    mime: str
    size: int
    mode: str
    extension: str


def check_user_id(user_id: str) -> str:
    """Return the user id when it is safe inside an object key; raise ApiError("invalid_user_id")."""
    problem = _user_id_problem(user_id)
    if problem:
        raise ApiError("invalid_user_id", f"the user id {problem}")
    return user_id


def _user_id_problem(user_id: str) -> str | None:
    if not user_id:
        return "is empty"
    if len(user_id) > MAX_USER_ID_LENGTH:
        return f"is longer than {MAX_USER_ID_LENGTH} characters"
    if ".." in user_id or user_id == ".":
        return "contains .."
    for char in user_id:
        # Categories C* are control, format and unassigned characters; Z* are spaces and separators.
        if char in _FORBIDDEN_USER_ID_CHARS or unicodedata.category(char)[0] in ("C", "Z") or char.isspace():
            return "contains /, \\, *, ?, whitespace or a control character"
    return None


def parse_upload_request(body: Any, allowed_types: Mapping[str, tuple[str, ...]],
                         max_bytes_for: Callable[[str], int]) -> UploadRequest:
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
    if not 1 <= len(filename) <= MAX_FILENAME_LENGTH:
        raise ApiError("invalid_params", f"filename must be 1 to {MAX_FILENAME_LENGTH} characters")
    if isinstance(size, bool) or not isinstance(size, int):
        raise ApiError("invalid_params", "size must be an integer number of bytes")
    if mode not in ("sts", "form"):
        raise ApiError("invalid_params", "mode must be sts or form")

    mime = mime.strip().lower()
    if mime not in allowed_types:
        raise ApiError("mime_not_allowed", f"allowed types: {', '.join(sorted(allowed_types))}")
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extension not in allowed_types[mime]:
        raise ApiError("extension_mismatch", f"{mime} expects .{' or .'.join(allowed_types[mime])}")
    max_bytes = max_bytes_for(mime)
    if not 1 <= size <= max_bytes:
        raise ApiError("invalid_size", f"size must be from 1 to {max_bytes} bytes for {mime}")
    return UploadRequest(filename, mime, size, mode, extension)
