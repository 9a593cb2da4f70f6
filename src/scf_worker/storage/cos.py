"""COS through the official ``cos-python-sdk-v5``, imported on first use.

Credentials come from the function role (``TENCENTCLOUD_*``), re-read for each
client because role keys expire. ``COS_ENDPOINT`` points the SDK elsewhere,
for example at a loopback COS-compatible server in tests.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from scf_worker.storage.base import ObjectInfo, check_key, normalize_etag
from scf_worker.storage.errors import ObjectNotFound, StorageError


class CosObjectStore:
    """A COS bucket behind the ObjectStore interface."""

    def __init__(self, region: str, endpoint: str | None = None, scheme: str = "https") -> None:
        self.region = region
        self.endpoint = endpoint
        self.scheme = scheme

    def _client(self) -> Any:
        from qcloud_cos import CosConfig, CosS3Client

        config = CosConfig(
            Region=self.region,
            SecretId=os.environ.get("TENCENTCLOUD_SECRETID"),
            SecretKey=os.environ.get("TENCENTCLOUD_SECRETKEY"),
            Token=os.environ.get("TENCENTCLOUD_SESSIONTOKEN"),
            Scheme=self.scheme,
            Endpoint=self.endpoint,
        )
        return CosS3Client(config)

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        from qcloud_cos.cos_exception import CosServiceError

        check_key(key)
        try:
            headers = self._client().head_object(Bucket=bucket, Key=key)
        except CosServiceError as exc:
            if exc.get_status_code() == 404:
                return None
            raise StorageError(f"HEAD {key} failed with {exc.get_status_code()}") from exc
        return ObjectInfo(
            key=key,
            size=int(headers.get("Content-Length", 0)),
            etag=normalize_etag(headers.get("ETag", "")),
            content_type=headers.get("Content-Type"),
        )

    def download(self, bucket: str, key: str, dest: Path) -> ObjectInfo:
        info = self.head(bucket, key)
        if info is None:
            raise ObjectNotFound(f"object not found: {bucket}/{key}")
        response = self._client().get_object(Bucket=bucket, Key=key)
        response["Body"].get_stream_to_file(str(dest))
        return info

    def upload(self, bucket: str, key: str, src: Path, content_type: str | None) -> ObjectInfo:
        check_key(key)
        extra = {"ContentType": content_type} if content_type else {}
        self._client().upload_file(Bucket=bucket, Key=key, LocalFilePath=str(src), **extra)
        info = self.head(bucket, key)
        if info is None:
            raise StorageError(f"object {key} is missing right after upload")
        return info

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        client = self._client()
        keys: list[str] = []
        marker = ""
        while True:
            page = client.list_objects(Bucket=bucket, Prefix=prefix, Marker=marker, MaxKeys=1000)
            keys.extend(item["Key"] for item in page.get("Contents", []))
            if page.get("IsTruncated") != "true":
                return keys
            marker = page.get("NextMarker") or keys[-1]

    def delete(self, bucket: str, key: str) -> None:
        self._client().delete_object(Bucket=bucket, Key=check_key(key))

    def read_first_bytes(self, bucket: str, key: str, length: int) -> bytes | None:
        from qcloud_cos.cos_exception import CosServiceError

        check_key(key)
        try:
            response = self._client().get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{length - 1}")
        except CosServiceError as exc:
            if exc.get_status_code() == 404:
                return None
            # 416: the object is empty, so there is no first byte to return.
            if exc.get_status_code() == 416:
                return b""
            raise StorageError(f"GET {key} (first {length} bytes) failed with"
                               f" {exc.get_status_code()}") from exc
        data: bytes = response["Body"].get_raw_stream().read(length)
        return data

    def copy(self, bucket: str, source_key: str, dest_key: str) -> ObjectInfo:
        from qcloud_cos.cos_exception import CosServiceError

        check_key(source_key)
        check_key(dest_key)
        client = self._client()
        source = {"Bucket": bucket, "Key": source_key, "Region": self.region}
        if self.endpoint:
            source["Endpoint"] = self.endpoint
        try:
            client.copy_object(Bucket=bucket, Key=dest_key, CopySource=source)
        except CosServiceError as exc:
            if exc.get_status_code() == 404:
                raise ObjectNotFound(f"object not found: {bucket}/{source_key}") from exc
            raise StorageError(f"COPY {source_key} failed with {exc.get_status_code()}") from exc
        info = self.head(bucket, dest_key)
        if info is None:
            raise StorageError(f"object {dest_key} is missing right after copy")
        return info
