"""A folder as object store: the object with key K of bucket B lives at ``<root>/<B>/<K>``.

A person can drop a file into the folder to simulate an upload. The ETag is the
MD5 hex of the content, as COS reports it for simple uploads.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import shutil
import tempfile
from pathlib import Path

from scf_worker.storage.base import ObjectInfo, check_key
from scf_worker.storage.errors import ObjectNotFound, StorageError


class LocalObjectStore:
    """Objects kept as plain files below one root folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def from_url(cls, url: str) -> LocalObjectStore:
        return cls(Path(url[len("file://") :]))

    def path_of(self, bucket: str, key: str) -> Path:
        check_key(key)
        if not bucket or "/" in bucket or bucket in (".", ".."):
            raise StorageError(f"invalid bucket name {bucket!r}")
        return self.root / bucket / key

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        path = self.path_of(bucket, key)
        if not path.is_file():
            return None
        return self._info(key, path)

    def download(self, bucket: str, key: str, dest: Path) -> ObjectInfo:
        path = self.path_of(bucket, key)
        if not path.is_file():
            raise ObjectNotFound(f"object not found: {bucket}/{key}")
        shutil.copyfile(path, dest)
        return self._info(key, path)

    def upload(self, bucket: str, key: str, src: Path, content_type: str | None) -> ObjectInfo:
        path = self.path_of(bucket, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write to a temporary file then rename, so readers never see a partial object.
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        os.close(fd)
        try:
            shutil.copyfile(src, tmp_name)
            os.replace(tmp_name, path)
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
        return self._info(key, path)

    def put_bytes(self, bucket: str, key: str, data: bytes) -> ObjectInfo:
        with tempfile.NamedTemporaryFile(delete=False) as handle:
            handle.write(data)
        try:
            return self.upload(bucket, key, Path(handle.name), None)
        finally:
            os.unlink(handle.name)

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        base = self.root / bucket
        if not base.is_dir():
            return []
        keys = []
        for path in base.rglob("*"):
            if path.is_file() and not path.name.startswith(".upload-"):
                key = path.relative_to(base).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def delete(self, bucket: str, key: str) -> None:
        self.path_of(bucket, key).unlink(missing_ok=True)

    def read_first_bytes(self, bucket: str, key: str, length: int) -> bytes | None:
        path = self.path_of(bucket, key)
        try:
            with path.open("rb") as handle:
                return handle.read(length)
        except (FileNotFoundError, IsADirectoryError):
            return None

    def copy(self, bucket: str, source_key: str, dest_key: str) -> ObjectInfo:
        source = self.path_of(bucket, source_key)
        if not source.is_file():
            raise ObjectNotFound(f"object not found: {bucket}/{source_key}")
        return self.upload(bucket, dest_key, source, None)

    @staticmethod
    def _info(key: str, path: Path) -> ObjectInfo:
        digest = hashlib.md5(usedforsecurity=False)
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        content_type = mimetypes.guess_type(path.name)[0]
        return ObjectInfo(key=key, size=path.stat().st_size, etag=digest.hexdigest(),
                          content_type=content_type)
