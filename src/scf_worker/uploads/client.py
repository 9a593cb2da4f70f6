"""Upload a file with a media-sign grant through the official ``cos-python-sdk-v5``.

This is what a Python client does with the ``data`` media-sign returns. A
grant without multipart actions is uploaded with one PUT Object. A multipart
grant uses the SDK's explicit calls (Initiate, UploadPart, Complete, Abort on
failure), because ``upload_file`` first calls List Multipart Uploads, a
bucket-level action the key-scoped credential does not include.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

DEFAULT_PART_BYTES = 8 * 1024 * 1024


def cos_client(grant: dict[str, Any], ip: str | None = None, port: int | None = None,
               scheme: str = "https") -> Any:
    """Build a ``CosS3Client`` from the grant; ``ip``/``port`` aim it at a local endpoint."""
    from qcloud_cos import CosConfig, CosS3Client

    credentials = grant["credentials"]
    config = CosConfig(
        Region=grant["region"],
        SecretId=credentials["tmpSecretId"],
        SecretKey=credentials["tmpSecretKey"],
        Token=credentials["sessionToken"],
        Scheme=scheme,
        IP=ip,
        Port=port,
        Timeout=30,
    )
    return CosS3Client(config, retry=0)


def upload_with_grant(client: Any, grant: dict[str, Any], path: Path,
                      part_bytes: int = DEFAULT_PART_BYTES) -> dict[str, Any]:
    """Upload ``path`` to the grant's key with its Content-Type; return the SDK's response."""
    bucket, key, mime = grant["bucket"], grant["key"], grant["mime"]
    size = path.stat().st_size
    if not grant.get("multipart") or size <= part_bytes:
        with path.open("rb") as body:
            response: dict[str, Any] = client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=mime)
        return response

    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key, ContentType=mime)["UploadId"]
    try:
        parts = []
        with path.open("rb") as handle:
            for number, chunk in enumerate(iter(lambda: handle.read(part_bytes), b""), start=1):
                result = client.upload_part(Bucket=bucket, Key=key, Body=chunk, PartNumber=number,
                                            UploadId=upload_id)
                parts.append({"PartNumber": number, "ETag": result["ETag"]})
        completed: dict[str, Any] = client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Part": parts})
        return completed
    except Exception:
        # Best effort: the first error is what the caller needs, even when the abort fails too.
        with contextlib.suppress(Exception):
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise
