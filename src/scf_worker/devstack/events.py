"""Sample events for ``scf-worker event generate``, in the shapes SCF delivers."""

from __future__ import annotations

import json
import uuid
from typing import Any

from scf_worker.runtime import samples

KINDS = ("apigw", "cos", "timer", "queue")


def apigw(method: str = "POST", path: str = "/upload/sign", body: str = "",
          headers: dict[str, str] | None = None) -> dict[str, Any]:
    return samples.apigw_event(method.upper(), path, body, headers)


def cos(bucket: str = "media-1250000000", key: str = "uploads/demo-user/clip.mp4", size: int = 1024,
        etag: str | None = "d41d8cd98f00b204e9800998ecf8427e", content_type: str | None = "video/mp4",
        region: str = "ap-guangzhou") -> dict[str, Any]:
    return samples.cos_event(samples.cos_record(bucket, key, size, etag, region, content_type))


def timer(name: str = "timer", message: str = "") -> dict[str, Any]:
    return samples.timer_event(name, message)


def queue(topic: str = "transcode", body: Any = None) -> dict[str, Any]:
    """A CMQ queue trigger event carrying one message."""
    message_id = uuid.uuid4().hex
    payload = body if body is not None else {"jobId": "media-transcode-0000000000"}
    return {"Records": [{"CMQ": {
        "type": "queue", "topicOwner": "1250000000", "topicName": topic, "subscriptionName": "scf",
        "publishTime": samples.timer_event()["Time"], "msgId": message_id, "requestId": message_id,
        "msgBody": payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False),
        "msgTag": [],
    }}]}
