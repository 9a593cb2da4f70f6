"""Multipart uploads in progress at the loopback COS endpoint: parts kept as files until Complete."""

from __future__ import annotations

import hashlib
import secrets
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

MIN_PART_BYTES = 1024 * 1024  # COS rejects a non-final part below 1 MB with EntityTooSmall.
MAX_PART_NUMBER = 10_000


@dataclass(frozen=True)
class Part:
    number: int
    etag: str
    size: int
    path: Path


@dataclass
class MultipartUpload:
    upload_id: str
    bucket: str
    key: str
    content_type: str | None
    initiated_at: float
    directory: Path
    parts: dict[int, Part] = field(default_factory=dict)


class MultipartRegistry:
    """Uploads by id; each part is written to its own file under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._uploads: dict[str, MultipartUpload] = {}
        self._lock = threading.Lock()

    def initiate(self, bucket: str, key: str, content_type: str | None, now: float) -> MultipartUpload:
        upload_id = secrets.token_hex(16)
        directory = self.root / upload_id
        directory.mkdir(parents=True)
        upload = MultipartUpload(upload_id, bucket, key, content_type, now, directory)
        with self._lock:
            self._uploads[upload_id] = upload
        return upload

    def get(self, upload_id: str, bucket: str, key: str) -> MultipartUpload | None:
        with self._lock:
            upload = self._uploads.get(upload_id)
        if upload is None or upload.bucket != bucket or upload.key != key:
            return None
        return upload

    def add_part(self, upload: MultipartUpload, number: int, source: Path) -> Part:
        digest = hashlib.md5(usedforsecurity=False)
        with source.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        target = upload.directory / f"part-{number:05d}"
        shutil.move(str(source), target)
        part = Part(number, digest.hexdigest(), target.stat().st_size, target)
        with self._lock:
            upload.parts[number] = part
        return part

    def list_in_progress(self, bucket: str, prefix: str) -> list[MultipartUpload]:
        with self._lock:
            uploads = [u for u in self._uploads.values() if u.bucket == bucket and u.key.startswith(prefix)]
        return sorted(uploads, key=lambda u: (u.key, u.initiated_at))

    def remove(self, upload: MultipartUpload) -> None:
        with self._lock:
            self._uploads.pop(upload.upload_id, None)
        shutil.rmtree(upload.directory, ignore_errors=True)
