"""Signed callback events, small real media headers and a view of what was recorded."""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

from backends import Backend
from scf_worker.app import get_services
from scf_worker.handlers import cos_callback
from scf_worker.runtime import samples
from scf_worker.storage.local import LocalObjectStore
from scf_worker.webhooks.signing import decode_secret, sign

BUCKET = "media-1250000000"
# The first bytes of real files are all the magic-byte check reads.
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(64)
MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(64)
MOV = b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  " + bytes(64)
WEBM = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x84webm" + bytes(64)
SCRIPT = b"#!/bin/sh\necho not a video\n" + bytes(64)


def signature_headers(secret: str, body: bytes, msg_id: str | None = None,
                      timestamp: int | None = None) -> dict[str, str]:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(decode_secret(secret), msg_id, timestamp, body)}


def callback_body(key: str, etag: str, size: int, mime: str = "video/mp4",
                  bucket: str = BUCKET) -> bytes:
    return json.dumps({"objectKey": key, "etag": etag, "bucket": bucket, "size": size, "mime": mime},
                      ensure_ascii=False).encode()


def http_event(body: bytes, headers: dict[str, str], method: str = "POST",
               base64_body: bool = False) -> dict[str, Any]:
    return samples.apigw_event(method, "/cos/callback", body, headers, base64_body=base64_body)


def response_of(result: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return result["statusCode"], json.loads(result["body"])


def cos_record(key: str, etag: str | None, size: int, content_type: str | None = "video/mp4",
               encoded_key: bool = False, url: str | bool | None = True,
               bucket: str = BUCKET) -> dict[str, Any]:
    """A COS record whose key field is raw or percent-encoded, with or without the url field."""
    record = samples.cos_record(bucket, key, size, etag, content_type=content_type)
    short_name, _, appid = bucket.rpartition("-")
    if encoded_key:
        record["cos"]["cosObject"]["key"] = f"/{appid}/{short_name}/{quote(key)}"
    if url is False or url is None:
        record["cos"]["cosObject"].pop("url")
    elif isinstance(url, str):
        record["cos"]["cosObject"]["url"] = url
    return record


def put(root: Path, key: str, data: bytes, bucket: str = BUCKET) -> str:
    """Store an object in the folder store; return its ETag."""
    return LocalObjectStore(root).put_bytes(bucket, key, data).etag


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Harness:
    """Drive cos-callback's main_handler on one store and read back what it recorded."""

    def __init__(self, chosen: Backend, env: dict[str, str]) -> None:
        self.backend = chosen
        self.env = env
        self.root = Path(env["STORAGE_URL"][len("file://"):])
        self.secret = env["CALLBACK_SHARED_SECRET"].split()[0]

    def http(self, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return response_of(cos_callback.main_handler(event, samples.context("cos-callback")))

    def cos(self, *records: dict[str, Any], time_limit_ms: int = 3000) -> dict[str, Any]:
        context = samples.context("cos-callback", time_limit_ms=time_limit_ms)
        result: dict[str, Any] = cos_callback.main_handler(samples.cos_event(*records), context)
        return result

    def _recorder(self) -> Any:
        return cos_callback.callback_service(get_services()).recorder

    def records(self) -> list[dict[str, Any]]:
        if self.backend.is_redis:
            recorder = self._recorder()
            client = recorder.target.client
            rows = []
            for job_key in client.zrange(recorder.index_key, 0, -1):
                raw = client.hgetall(recorder.record_key(job_key.decode()))
                rows.append({k.decode(): v.decode() for k, v in raw.items()})
            return rows
        return get_services().db.query("SELECT * FROM media_jobs ORDER BY id")

    def outbox(self) -> list[tuple[str, dict[str, Any]]]:
        """Every (topic, payload) scheduled: webhook-forward events and transcode messages."""
        if self.backend.is_redis:
            recorder = self._recorder()
            entries = recorder.target.client.xrange(recorder.outbox_key)
            return [(data[b"topic"].decode(), json.loads(data[b"payload"])) for _, data in entries]
        rows = get_services().db.query("SELECT topic, payload FROM queue ORDER BY id")
        return [(row["topic"], json.loads(row["payload"])) for row in rows]

    def transcode_messages(self) -> list[dict[str, Any]]:
        return [payload for topic, payload in self.outbox() if topic == "transcode"]

    def event_names(self) -> list[str]:
        return [payload["event"] for topic, payload in self.outbox() if topic == "webhook-forward"]
