"""Realistic sample events in the shapes SCF delivers, for the demo, tests and the CLI."""

from __future__ import annotations

import base64
import time
from typing import Any
from urllib.parse import quote

from scf_worker.runtime.ids import random_hex, uuid4_text


def apigw_event(method: str, path: str, body: str | bytes = "", headers: dict[str, str] | None = None,
                base64_body: bool = False, request_id: str | None = None) -> dict[str, Any]:
    raw = body.encode() if isinstance(body, str) else body
    request_id = request_id or uuid4_text()
    return {
        "requestContext": {"serviceId": "service-local", "path": path, "httpMethod": method,
                           "requestId": request_id, "identity": {}, "sourceIp": "127.0.0.1",
                           "stage": "release"},
        "headers": {"host": "127.0.0.1", "content-type": "application/json",
                    "x-api-requestid": request_id, **(headers or {})},
        "body": base64.b64encode(raw).decode() if base64_body else raw.decode("utf-8", "replace"),
        "isBase64Encoded": base64_body,
        "httpMethod": method,
        "path": path,
        "pathParameters": {},
        "headerParameters": {},
        "stageVariables": {"stage": "release"},
        "queryString": {},
        "queryStringParameters": {},
    }


def cos_record(bucket: str, key: str, size: int, etag: str | None, region: str = "ap-guangzhou",
               content_type: str | None = None, event_name: str = "cos:ObjectCreated:Put") -> dict[str, Any]:
    """Build one COS trigger record; the key gets the ``/<appid>/<short name>/`` prefix."""
    short_name, _, appid = bucket.rpartition("-")
    meta: dict[str, Any] = {"x-cos-request-id": random_hex(), "x-cos-storage-class": "Standard"}
    if etag is not None:
        meta["ETag"] = f'"{etag}"'
    if content_type:
        meta["Content-Type"] = content_type
    return {
        "cos": {
            "cosSchemaVersion": "1.0",
            "cosNotificationId": "unkown",
            "cosBucket": {"appid": appid, "name": short_name, "region": "gz", "cosRegion": region,
                          "s3Region": region},
            "cosObject": {
                "key": f"/{appid}/{short_name}/{key}",
                "size": size,
                "url": f"http://{bucket}.cos.{region}.myqcloud.com/{quote(key)}",
                "vid": "",
                "meta": meta,
            },
        },
        "event": {"eventName": event_name, "eventVersion": "1.0", "eventSource": "qcs::cos",
                  "eventTime": int(time.time()), "eventQueue": "qcs:0:scf:local", "reqid": 0,
                  "reservedInfo": "", "requestParameters": {"requestSourceIP": "127.0.0.1",
                                                            "requestHeaders": {}}},
    }


def cos_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def timer_event(name: str = "timer", message: str = "") -> dict[str, Any]:
    return {"Type": "Timer", "TriggerName": name,
            "Time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "Message": message}


def context(function_name: str, time_limit_ms: int = 3000, **extra: Any) -> dict[str, Any]:
    """Build the context dict SCF passes as the handler's second argument."""
    return {
        "memory_limit_in_mb": 128,
        "time_limit_in_ms": time_limit_ms,
        "request_id": uuid4_text(),
        "environment": '{"SCF_NAMESPACE":"default"}',
        "environ": "SCF_NAMESPACE=default",
        "function_version": "$LATEST",
        "function_name": function_name,
        "namespace": "default",
        "tencentcloud_region": "ap-guangzhou",
        "tencentcloud_appid": "1250000000",
        "tencentcloud_uin": "100000000001",
        **extra,
    }
