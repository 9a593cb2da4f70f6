"""Manifest locations (an object in the bucket, or a local file for the CLI) and their reports.

The report is written next to the manifest, as ``<manifest>.report.jsonl``.
An import is identified by the manifest's location and content, so a changed
manifest under the same name is a new import.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from scf_worker.batch.config import REPORT_SUFFIX
from scf_worker.batch.errors import ManifestError
from scf_worker.storage.base import ObjectStore
from scf_worker.storage.errors import ObjectNotFound

REPORT_CONTENT_TYPE = "application/x-ndjson; charset=utf-8"
_UNSAFE_KEY_CHARS = re.compile(r"[^\w.-]+")


@dataclass(frozen=True)
class ManifestRef:
    """A manifest: ``bucket`` and ``key`` for a stored one, ``path`` for a local file."""

    bucket: str | None = None
    key: str | None = None
    path: Path | None = None

    @classmethod
    def stored(cls, bucket: str, key: str) -> ManifestRef:
        return cls(bucket=bucket, key=key)

    @classmethod
    def local(cls, path: Path) -> ManifestRef:
        return cls(path=path.resolve())

    @property
    def url(self) -> str:
        """Return ``cos://bucket/key`` or ``file:///path``: how imports and logs name the manifest."""
        if self.path is not None:
            return self.path.as_uri()
        return f"cos://{self.bucket}/{self.key}"

    @property
    def name(self) -> str:
        return self.path.name if self.path is not None else PurePosixPath(self.key or "").name

    @property
    def stem(self) -> str:
        """Return the file name without its suffix, made safe for an object key."""
        stem = self.name.rsplit(".", 1)[0] or "manifest"
        return _UNSAFE_KEY_CHARS.sub("_", stem).strip("._") or "manifest"

    @property
    def report_url(self) -> str:
        if self.path is not None:
            return self.path.with_name(self.path.name + REPORT_SUFFIX).as_uri()
        return f"cos://{self.bucket}/{self.key}{REPORT_SUFFIX}"


def import_id_for(ref: ManifestRef, etag: str) -> str:
    digest = hashlib.sha256(f"{ref.url}\n{etag}".encode()).hexdigest()[:24]
    return f"imp-{digest}"


def safe_label(text: str) -> str:
    """Make a row label usable as the last segment of an object key."""
    return _UNSAFE_KEY_CHARS.sub("_", text).strip("._")[:120] or "row"


def read_manifest(ref: ManifestRef, store: ObjectStore, max_bytes: int, scratch: Path) -> tuple[bytes, str]:
    """Return the manifest's bytes and a content tag (ETag, or MD5 for a local file)."""
    if ref.path is not None:
        try:
            size = ref.path.stat().st_size
        except OSError as exc:
            raise ManifestError(f"cannot read {ref.path}: {exc.strerror}") from None
        _check_size(size, max_bytes, None)
        data = ref.path.read_bytes()
        return data, hashlib.md5(data, usedforsecurity=False).hexdigest()

    assert ref.bucket is not None and ref.key is not None
    info = store.head(ref.bucket, ref.key)
    if info is None:
        raise ManifestError(f"manifest {ref.key} does not exist in bucket {ref.bucket}")
    _check_size(info.size, max_bytes, info.etag)
    fd, name = tempfile.mkstemp(prefix="manifest-", dir=scratch)
    os.close(fd)
    try:
        try:
            store.download(ref.bucket, ref.key, Path(name))
        except ObjectNotFound:
            raise ManifestError(f"manifest {ref.key} was deleted while being read") from None
        return Path(name).read_bytes(), info.etag
    finally:
        os.unlink(name)


def _check_size(size: int, max_bytes: int, etag: str | None) -> None:
    if size > max_bytes:
        raise ManifestError(f"the manifest has {size} bytes, over the {max_bytes}-byte limit"
                            " (IMPORT_MAX_MANIFEST_BYTES)", etag)


def write_report(ref: ManifestRef, store: ObjectStore, data: bytes, scratch: Path) -> str:
    """Write the report next to the manifest; return where it went."""
    if ref.path is not None:
        target = ref.path.with_name(ref.path.name + REPORT_SUFFIX)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        return target.as_uri()

    assert ref.bucket is not None and ref.key is not None
    fd, name = tempfile.mkstemp(prefix="report-", dir=scratch)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        store.upload(ref.bucket, ref.key + REPORT_SUFFIX, Path(name), REPORT_CONTENT_TYPE)
    finally:
        os.unlink(name)
    return ref.report_url
