"""HTTP handling for the loopback COS endpoint: parse, route, authenticate, authorize, execute.

Every request is authenticated and authorized from its headers before any
body is stored. A rejected body is drained, up to a cap, so the client reads
the error instead of a reset connection.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from scf_worker.storage.base import check_key
from scf_worker.storage.errors import InvalidObjectKey
from scf_worker.uploads.cos_endpoint import (
    MAX_DRAIN_BYTES,
    MAX_XML_BODY_BYTES,
    CosEndpoint,
    CosError,
    CosRequest,
    condition_values,
    log,
    xml_document,
)
from scf_worker.uploads.cos_form import FormRejected, parse_form
from scf_worker.uploads.cos_multipart import MAX_PART_NUMBER, MIN_PART_BYTES, MultipartUpload
from scf_worker.uploads.grants import Grant

Route = Callable[[CosRequest], None]


class CosRequestHandler(BaseHTTPRequestHandler):
    """One connection's requests; ``endpoint`` is bound by ``CosEndpoint``."""

    endpoint: ClassVar[CosEndpoint]
    protocol_version = "HTTP/1.1"
    server_version = "scf-worker-cos"

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_GET(self) -> None:
        self._serve("GET")

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        return  # one JSON line per request is written by _serve instead

    # --- dispatch ---------------------------------------------------------------------------

    def _serve(self, method: str) -> None:
        self._body_read = False
        self._sent_status = 200
        request: CosRequest | None = None
        action = "Unknown"
        status, code = 500, "InternalError"
        try:
            request = self._parse(method)
            action, route = self._route(request)
            route(request)
            status, code = self._sent_status, "ok"
        except CosError as exc:
            status, code = exc.status, exc.code
            self._send_error(exc, request)
        except FormRejected as exc:
            status, code = exc.status, exc.code
            self._send_error(CosError(exc.status, exc.code, str(exc)), request)
        except InvalidObjectKey as exc:
            status, code = 400, "InvalidArgument"
            self._send_error(CosError(400, "InvalidArgument", str(exc)), request)
        except Exception:  # noqa: BLE001 (the client gets a 500; the error is logged)
            log.exception("cos_endpoint_error", action=action)
            self._send_error(CosError(500, "InternalError", "the endpoint failed"), request)
        log.info("cos_request", method=method, action=action, status=status, code=code,
                 key=request.key if request else None, bucket=request.bucket if request else None)

    def _parse(self, method: str) -> CosRequest:
        split = urlsplit(self.path)
        try:
            path = unquote(split.path, encoding="utf-8", errors="strict") or "/"
        except UnicodeDecodeError:
            raise CosError(400, "InvalidURI", "the path is not valid UTF-8") from None
        bucket, region = self.endpoint.bucket_for(self.headers.get("host"))
        params = parse_qsl(split.query, keep_blank_values=True)
        return CosRequest(method, bucket, region, path, path[1:], params, self.headers,
                          self.client_address[0])

    def _route(self, request: CosRequest) -> tuple[str, Route]:
        method, has = request.method, request.has
        if not request.key:
            if method == "POST" and "multipart/form-data" in (request.headers.get("content-type") or ""):
                return "PostObject", self._post_object
            if method == "GET" and has("uploads"):
                return "ListMultipartUploads", self._list_multipart_uploads
            raise CosError(501, "NotImplemented", f"{method} on the bucket is not supported here")
        check_key(request.key)
        routes: dict[tuple[str, bool, bool, bool], tuple[str, Route]] = {
            ("PUT", False, False, False): ("PutObject", self._put_object),
            ("PUT", True, False, True): ("UploadPart", self._upload_part),
            ("POST", False, True, False): ("InitiateMultipartUpload", self._initiate),
            ("POST", True, False, False): ("CompleteMultipartUpload", self._complete),
            ("GET", True, False, False): ("ListParts", self._list_parts),
            ("DELETE", True, False, False): ("AbortMultipartUpload", self._abort),
            ("GET", False, False, False): ("GetObject", self._get_object),
            ("HEAD", False, False, False): ("HeadObject", self._head_object),
            ("DELETE", False, False, False): ("DeleteObject", self._delete_object),
        }
        route = routes.get((method, has("uploadid"), has("uploads"), has("partnumber")))
        if route is None or request.headers.get("x-cos-copy-source"):
            raise CosError(501, "NotImplemented", f"this {method} request is not supported here")
        return route

    def _authorized(self, request: CosRequest, action: str, key: str | None = None) -> Grant:
        grant = self.endpoint.authenticate(request)
        values = condition_values(request)
        self.endpoint.authorize(grant, request, action, request.key if key is None else key, values)
        return grant

    # --- objects ----------------------------------------------------------------------------

    def _put_object(self, request: CosRequest) -> None:
        self._authorized(request, "PutObject")
        source = self._receive_to_file(self._content_length(request))
        try:
            info = self.endpoint.store.upload(request.bucket, request.key, source,
                                              request.headers.get("content-type"))
        finally:
            source.unlink(missing_ok=True)
        self._send(200, request, headers={"ETag": f'"{info.etag}"'})

    def _head_object(self, request: CosRequest) -> None:
        self._authorized(request, "HeadObject")
        info = self._existing(request)
        self._send(200, request, headers=self._object_headers(info), content_length=info.size)

    def _get_object(self, request: CosRequest) -> None:
        self._authorized(request, "GetObject")
        info = self._existing(request)
        path = self.endpoint.store.path_of(request.bucket, request.key)
        self._send(200, request, headers=self._object_headers(info), content_length=info.size)
        with path.open("rb") as handle:
            shutil.copyfileobj(handle, self.wfile)

    def _delete_object(self, request: CosRequest) -> None:
        self._authorized(request, "DeleteObject")
        self.endpoint.store.delete(request.bucket, request.key)
        self._send(204, request)

    def _existing(self, request: CosRequest) -> Any:
        info = self.endpoint.store.head(request.bucket, request.key)
        if info is None:
            raise CosError(404, "NoSuchKey", "the object does not exist")
        return info

    @staticmethod
    def _object_headers(info: Any) -> dict[str, str]:
        return {"ETag": f'"{info.etag}"', "Content-Type": info.content_type or "application/octet-stream"}

    # --- multipart --------------------------------------------------------------------------

    def _initiate(self, request: CosRequest) -> None:
        self._authorized(request, "InitiateMultipartUpload")
        upload = self.endpoint.multipart.initiate(request.bucket, request.key,
                                                  request.headers.get("content-type"), self.endpoint.clock())
        body = xml_document("InitiateMultipartUploadResult", [
            ("Bucket", request.bucket), ("Key", request.key), ("UploadId", upload.upload_id)])
        self._send(200, request, body)

    def _upload_part(self, request: CosRequest) -> None:
        self._authorized(request, "UploadPart")
        upload = self._upload(request)
        number_text = request.param("partnumber") or ""
        if not number_text.isdigit() or not 1 <= int(number_text) <= MAX_PART_NUMBER:
            raise CosError(400, "InvalidArgument", f"partNumber must be 1..{MAX_PART_NUMBER}")
        source = self._receive_to_file(self._content_length(request))
        part = self.endpoint.multipart.add_part(upload, int(number_text), source)
        self._send(200, request, headers={"ETag": f'"{part.etag}"'})

    def _list_parts(self, request: CosRequest) -> None:
        self._authorized(request, "ListParts")
        upload = self._upload(request)
        children: list[tuple[str, Any]] = [
            ("Bucket", request.bucket), ("Key", self._key_for_listing(request, upload.key)),
            ("UploadId", upload.upload_id), ("StorageClass", "STANDARD"), ("PartNumberMarker", 0),
            ("MaxParts", 1000), ("IsTruncated", "false")]
        for part in sorted(upload.parts.values(), key=lambda p: p.number):
            children.append(("Part", [("PartNumber", part.number), ("ETag", f'"{part.etag}"'),
                                      ("Size", part.size),
                                      ("LastModified", _http_iso(part.path.stat().st_mtime))]))
        if "encoding-type" in {k.lower() for k, _ in request.params}:
            children.append(("EncodingType", "url"))
        self._send(200, request, xml_document("ListPartsResult", children))

    def _complete(self, request: CosRequest) -> None:
        self._authorized(request, "CompleteMultipartUpload")
        upload = self._upload(request)
        listed = self._completed_parts(request)
        parts = [upload.parts.get(number) for number, _ in listed]
        for (number, etag), part in zip(listed, parts, strict=True):
            if part is None or part.etag != etag:
                raise CosError(400, "InvalidPart", f"part {number} was not uploaded with that ETag")
        if [n for n, _ in listed] != sorted({n for n, _ in listed}):
            raise CosError(400, "InvalidPartOrder", "parts must be listed in ascending order")
        if any(p is not None and p.size < MIN_PART_BYTES for p in parts[:-1]):
            raise CosError(400, "EntityTooSmall", "every part except the last must be at least 1 MB")

        assembled = self._new_staging_file()
        try:
            with assembled.open("wb") as out:
                for part in parts:
                    assert part is not None
                    with part.path.open("rb") as handle:
                        shutil.copyfileobj(handle, out)
            info = self.endpoint.store.upload(upload.bucket, upload.key, assembled, upload.content_type)
        finally:
            assembled.unlink(missing_ok=True)
        self.endpoint.multipart.remove(upload)
        body = xml_document("CompleteMultipartUploadResult", [
            ("Location", f"{upload.bucket}.cos.{request.region}.myqcloud.com/{upload.key}"),
            ("Bucket", upload.bucket), ("Key", upload.key), ("ETag", f'"{info.etag}"')])
        self._send(200, request, body)

    def _abort(self, request: CosRequest) -> None:
        self._authorized(request, "AbortMultipartUpload")
        self.endpoint.multipart.remove(self._upload(request))
        self._send(204, request)

    def _list_multipart_uploads(self, request: CosRequest) -> None:
        # A bucket-level action: COS checks it against the bucket resource, not a key.
        self._authorized(request, "ListMultipartUploads", key="*")
        prefix = request.param("prefix") or ""
        children: list[tuple[str, Any]] = [("Bucket", request.bucket), ("Prefix", prefix),
                                           ("IsTruncated", "false"), ("MaxUploads", 1000)]
        if request.param("encoding-type") == "url":
            children.append(("EncodingType", "url"))
        for upload in self.endpoint.multipart.list_in_progress(request.bucket, prefix):
            children.append(("Upload", [("Key", self._key_for_listing(request, upload.key)),
                                        ("UploadId", upload.upload_id), ("StorageClass", "STANDARD"),
                                        ("Initiated", _http_iso(upload.initiated_at))]))
        self._send(200, request, xml_document("ListMultipartUploadsResult", children))

    def _upload(self, request: CosRequest) -> MultipartUpload:
        upload = self.endpoint.multipart.get(request.param("uploadid") or "", request.bucket, request.key)
        if upload is None:
            raise CosError(404, "NoSuchUpload", "the upload id does not exist for this key")
        return upload

    def _completed_parts(self, request: CosRequest) -> list[tuple[int, str]]:
        length = self._content_length(request)
        if length > MAX_XML_BODY_BYTES:
            raise CosError(400, "EntityTooLarge", "the CompleteMultipartUpload body is too large")
        self._body_read = True
        try:
            # The body is capped at 1 MiB and expat rejects entity-expansion bombs.
            root = ET.fromstring(self.rfile.read(length))  # noqa: S314
            return [(int(part.findtext("PartNumber") or ""), (part.findtext("ETag") or "").strip('"'))
                    for part in root.iter("Part")]
        except (ET.ParseError, ValueError):
            raise CosError(400, "MalformedXML", "the CompleteMultipartUpload body is not valid") from None

    @staticmethod
    def _key_for_listing(request: CosRequest, key: str) -> str:
        # The SDK requests encoding-type=url and decodes the returned keys.
        return quote(key, safe="/") if request.param("encoding-type") == "url" else key

    # --- POST Object ------------------------------------------------------------------------

    def _post_object(self, request: CosRequest) -> None:
        length = self._content_length(request)
        if length > self.endpoint.max_form_bytes:
            raise CosError(400, "EntityTooLarge", "the form is larger than this endpoint accepts")
        self._body_read = True
        form = parse_form(request.headers.get("content-type") or "", self.rfile.read(length))
        grant, key = self.endpoint.authenticate_form(request, form)
        check_key(key)
        # NOTE: COS does not document which values cos:content-type and cos:content-length take
        # for PostObject. This endpoint uses the form's Content-Type field and the file's size,
        # because those are what the issued policy's conditions are meant to limit.
        values = {**condition_values(request), "cos:content-length": len(form.content)}
        values.pop("cos:content-type", None)
        if "content-type" in form.fields:
            values["cos:content-type"] = form.fields["content-type"]
        self.endpoint.authorize(grant, request, "PostObject", key, values)

        source = self._new_staging_file()
        try:
            source.write_bytes(form.content)
            info = self.endpoint.store.upload(request.bucket, key, source, form.fields.get("content-type"))
        finally:
            source.unlink(missing_ok=True)
        headers = {"ETag": f'"{info.etag}"',
                   "Location": f"http://{request.bucket}.cos.{request.region}.myqcloud.com/{quote(key)}"}
        status_text = form.fields.get("success_action_status", "204")
        status = int(status_text) if status_text in ("200", "201", "204") else 204
        body = b""
        if status == 201:
            body = xml_document("PostResponse", [("Bucket", request.bucket), ("Key", key),
                                                 ("ETag", f'"{info.etag}"')])
        self._send(status, request, body, headers=headers)

    # --- bodies and responses ---------------------------------------------------------------

    def _content_length(self, request: CosRequest) -> int:
        raw = request.headers.get("content-length")
        if raw is None or not raw.strip().isdigit():
            raise CosError(411, "MissingContentLength",
                           "send Content-Length (chunked bodies are not supported)")
        return int(raw)

    def _new_staging_file(self) -> Path:
        handle = tempfile.NamedTemporaryFile(dir=self.endpoint.staging, prefix="body-", delete=False)
        handle.close()
        return Path(handle.name)

    def _receive_to_file(self, length: int) -> Path:
        target = self._new_staging_file()
        self._body_read = True
        remaining = length
        with target.open("wb") as out:
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 1 << 20))
                if not chunk:
                    target.unlink(missing_ok=True)
                    raise CosError(400, "IncompleteBody", "the body is shorter than Content-Length")
                out.write(chunk)
                remaining -= len(chunk)
        return target

    def _drain_body(self) -> None:
        """Read and drop an unread body so the client sees the response; close when it is too big."""
        if self._body_read:
            return
        raw = self.headers.get("content-length") or "0"
        length = int(raw) if raw.strip().isdigit() else 0
        if length > MAX_DRAIN_BYTES or self.headers.get("transfer-encoding"):
            self.close_connection = True
            return
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 20))
            if not chunk:
                break
            length -= len(chunk)
        self._body_read = True

    def _send(self, status: int, request: CosRequest | None, body: bytes = b"",
              headers: dict[str, str] | None = None, content_length: int | None = None) -> None:
        self._drain_body()
        self._sent_status = status
        self.send_response(status)
        if body:
            self.send_header("Content-Type", "application/xml")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body) if content_length is None else content_length))
        self.send_header("x-cos-request-id", request.request_id if request else "none")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _send_error(self, error: CosError, request: CosRequest | None) -> None:
        body = xml_document("Error", [
            ("Code", error.code), ("Message", error.message),
            ("Resource", request.path if request else self.path.split("?")[0]),
            ("RequestId", request.request_id if request else "none")])
        self._send(error.status, request, b"" if self.command == "HEAD" else body)


def _http_iso(epoch_seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(epoch_seconds))
