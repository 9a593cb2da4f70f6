"""API Gateway emulation: HTTP on loopback in, the integration event SCF sends, the response out.

Routes come from the ``apigw`` triggers in each config.json. The event has
the fields the real gateway sends (lower-cased headers, ``queryString`` with
lists for repeated keys and ``true`` for a bare key, base64 for binary
bodies), and the function's integrated response becomes the HTTP response.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from scf_worker.observability.logging import get_logger
from scf_worker.runtime.errors import ApiError
from scf_worker.runtime.responses import error as error_response

log = get_logger(__name__)
MAX_BODY_BYTES = 6 * 1024 * 1024  # SCF's sync request limit
_TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded", "application/xml")


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str
    invoke: Callable[[dict[str, Any]], Any]


def query_string(raw: str) -> dict[str, Any]:
    """Parse a query the way the gateway shows it: repeated keys become lists, a bare key is true."""
    query: dict[str, Any] = {}
    for part in raw.split("&") if raw else []:
        if not part:
            continue
        pairs = parse_qsl(part, keep_blank_values=True)
        key, value = pairs[0] if pairs else (part, "")
        value_or_flag: Any = True if "=" not in part else value
        if key in query:
            existing = query[key]
            query[key] = [*(existing if isinstance(existing, list) else [existing]), value_or_flag]
        else:
            query[key] = value_or_flag
    return query


def build_event(method: str, target: str, headers: dict[str, str], body: bytes,
                client_ip: str) -> dict[str, Any]:
    parts = urlsplit(target)
    request_id = str(uuid.uuid4())
    content_type = headers.get("content-type", "")
    is_text = not body or any(content_type.startswith(t) for t in _TEXT_TYPES)
    if is_text:
        try:
            body_text = body.decode("utf-8")
        except UnicodeDecodeError:
            is_text = False
    if not is_text:
        body_text = base64.b64encode(body).decode()
    query = query_string(parts.query)
    return {
        "requestContext": {"serviceId": "service-local", "path": parts.path, "httpMethod": method,
                           "requestId": request_id, "identity": {}, "sourceIp": client_ip,
                           "stage": "release"},
        "headers": {**headers, "x-api-requestid": request_id, "x-api-scheme": "http",
                    "x-qualifier": "$DEFAULT", "requestsource": "APIGW"},
        "body": body_text,
        "isBase64Encoded": not is_text,
        "httpMethod": method,
        "path": parts.path,
        "pathParameters": {},
        "headerParameters": {},
        "stageVariables": {"stage": "release"},
        "queryString": query,
        "queryStringParameters": {k: v for k, v in query.items() if isinstance(v, str)},
    }


class ApiGateway:
    """A threading HTTP server on loopback that turns requests into integration events."""

    def __init__(self, routes: list[Route], host: str = "127.0.0.1", port: int = 0,
                 metrics: Callable[[], str] | None = None) -> None:
        self.routes = {(r.method, r.path): r for r in routes}
        # GET /metrics serves Prometheus text when the stack provides it.
        self.metrics = metrics
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="apigw", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        # shutdown() waits for serve_forever(), so it is only called once the thread runs.
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def dispatch(self, method: str, target: str, headers: dict[str, str], body: bytes,
                 client_ip: str) -> tuple[int, dict[str, str], bytes]:
        path = urlsplit(target).path
        if method == "GET" and path == "/metrics" and self.metrics is not None:
            from scf_worker.observability.prometheus import CONTENT_TYPE

            return 200, {"Content-Type": CONTENT_TYPE}, self.metrics().encode()
        route = self.routes.get((method, path)) or self.routes.get(("ANY", path))
        if route is None:
            known_path = any(p == path for _, p in self.routes)
            key = "method_not_allowed" if known_path else "not_found"
            return self._integrated(error_response(ApiError(key), None))
        if len(body) > MAX_BODY_BYTES:
            return self._integrated(error_response(ApiError("payload_too_large", "over 6 MB"), None))
        event = build_event(method, target, headers, body, client_ip)
        try:
            response = route.invoke(event)
        except Exception:
            # SCF turns a handler crash into a gateway error; the function logged the details.
            log.exception("function_crashed", function=route.function)
            return 502, {"Content-Type": "application/json"}, b'{"code":50201,"message":"upstream_error"}'
        return self._integrated(response)

    @staticmethod
    def _integrated(response: Any) -> tuple[int, dict[str, str], bytes]:
        if not isinstance(response, dict) or "statusCode" not in response:
            return 200, {"Content-Type": "application/json"}, json.dumps(response).encode()
        body = response.get("body") or ""
        raw = base64.b64decode(body) if response.get("isBase64Encoded") else str(body).encode()
        headers = {}
        for name, value in (response.get("headers") or {}).items():
            headers[str(name)] = ", ".join(value) if isinstance(value, list) else str(value)
        return int(response["statusCode"]), headers, raw

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    length = -1
                if length < 0 or length > MAX_BODY_BYTES:
                    status, headers, body = gateway._integrated(
                        error_response(ApiError("payload_too_large", "over 6 MB"), None))
                    self.close_connection = True
                else:
                    raw = self.rfile.read(length)
                    status, headers, body = gateway.dispatch(
                        self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, raw,
                        self.client_address[0])
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in ("content-length", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler
