"""API Gateway integration responses with the ``{code, message, data, requestId}`` body."""

from __future__ import annotations

import json
from typing import Any

from scf_worker.runtime.errors import ApiError

JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}


def ok(data: Any, request_id: str | None, status: int = 200, message: str = "ok") -> dict[str, Any]:
    body = {"code": 0, "message": message, "data": data, "requestId": request_id}
    return _response(status, body)


def error(err: ApiError, request_id: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": err.entry.code, "message": err.entry.key, "requestId": request_id}
    if err.detail:
        body["detail"] = err.detail
    return _response(err.status, body)


def _response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "isBase64Encoded": False,
        "statusCode": status,
        "headers": dict(JSON_HEADERS),
        "body": json.dumps(body, ensure_ascii=False),
    }
