"""The post-upload check for what an STS policy cannot enforce.

A multipart upload can push more bytes than the size the credential was
issued for: ``cos:content-length`` only limits single requests, and part
requests carry no Content-Type. cos-callback therefore checks every object
under the upload prefix once it exists: the extension must be on the
allow-list, the Content-Type must be a MIME type for that extension, and the
size must not exceed that MIME type's limit. Objects that fail are deleted.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from scf_worker.runtime.config import Settings
from scf_worker.uploads.config import allowed_types_from_env, max_bytes_by_mime_from_env


@dataclass(frozen=True)
class UploadLimits:
    """The allow-list and size limits media-sign issues credentials under."""

    upload_root: str
    allowed_types: Mapping[str, tuple[str, ...]]
    default_max_bytes: int
    max_bytes_by_mime: Mapping[str, int]


def load_upload_limits(settings: Settings, environ: Mapping[str, str] | None = None) -> UploadLimits:
    """Read the same ``UPLOAD_*`` variables media-sign reads; set them on both functions."""
    env = os.environ if environ is None else environ
    types = allowed_types_from_env(env)
    root = settings.allowed_prefix.split("${userId}", 1)[0]
    return UploadLimits(root, types, settings.max_upload_bytes, max_bytes_by_mime_from_env(env, types))


def upload_violation(limits: UploadLimits, key: str, size: int | None,
                     content_type: str | None) -> str | None:
    """Return why an uploaded object breaks the upload rules, or None when it is fine or out of scope."""
    if not key.startswith(limits.upload_root):
        return None
    extension = key.rsplit(".", 1)[-1].lower() if "." in key.rsplit("/", 1)[-1] else ""
    mimes = [mime for mime, extensions in limits.allowed_types.items() if extension in extensions]
    if not mimes:
        return f"extension .{extension} is not on the allow-list"
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if content_type is not None and mime not in mimes:
        return f"Content-Type {mime or 'empty'} does not match .{extension}"
    candidates = [mime] if mime else mimes
    limit = max(limits.max_bytes_by_mime.get(m, limits.default_max_bytes) for m in candidates)
    if size is not None and size > limit:
        return f"size {size} exceeds the {limit}-byte limit"
    return None
