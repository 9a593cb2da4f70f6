"""The object store interface and key rules shared by every backend."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from scf_worker.storage.errors import InvalidObjectKey

_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class ObjectInfo:
    """What a HEAD returns: size, normalised ETag and content type."""

    key: str
    size: int
    etag: str
    content_type: str | None


class ObjectStore(Protocol):
    """Put, fetch and inspect objects of one bucket namespace."""

    def head(self, bucket: str, key: str) -> ObjectInfo | None: ...

    def download(self, bucket: str, key: str, dest: Path) -> ObjectInfo: ...

    def upload(self, bucket: str, key: str, src: Path, content_type: str | None) -> ObjectInfo: ...

    def list_keys(self, bucket: str, prefix: str) -> list[str]: ...

    def delete(self, bucket: str, key: str) -> None: ...

    def read_first_bytes(self, bucket: str, key: str, length: int) -> bytes | None:
        """Return up to ``length`` bytes from the start of the object, or None when it is missing."""
        ...

    def copy(self, bucket: str, source_key: str, dest_key: str) -> ObjectInfo:
        """Copy an object inside the bucket; raise ObjectNotFound when the source is missing."""
        ...


# COS limits an object key to 850 bytes of UTF-8.
MAX_KEY_BYTES = 850


def check_key(key: str) -> str:
    """Return the key unchanged, or raise InvalidObjectKey when it is unsafe to use."""
    if not key or key.startswith("/"):
        raise InvalidObjectKey("object key is empty or starts with /")
    if _CONTROL_CHARACTER.search(key):
        raise InvalidObjectKey("object key contains a control character")
    if any(segment in (".", "..") for segment in key.split("/")):
        raise InvalidObjectKey("object key contains a . or .. segment")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidObjectKey(f"object key is longer than {MAX_KEY_BYTES} bytes of UTF-8")
    return key


def normalize_etag(raw: str) -> str:
    """Strip quotes and a weak ``W/`` marker; a multipart ``-N`` suffix stays as part of it."""
    etag = raw.strip()
    if etag.startswith("W/"):
        etag = etag[2:]
    return etag.strip('"')
