"""A loopback COS-compatible HTTP endpoint that checks issued credentials for real.

Clients such as ``cos-python-sdk-v5`` talk to it as to COS: point the SDK at it
with ``IP``, ``Port`` and ``Scheme="http"``, and the SDK names the bucket in the
``Host`` header ``<bucket>.cos.<region>.myqcloud.com``. Every request must carry a COS
v5 signature made with a temporary key from the grant store and the matching
``x-cos-security-token``; the grant's policy is then evaluated for the
request's action, resource and condition keys. Objects land in the folder
object store, so the rest of the pipeline sees them.

Supported: PUT/HEAD/GET/DELETE Object, POST Object (form upload), Initiate /
UploadPart / ListParts / Complete / Abort multipart upload, and List Multipart
Uploads. Anything else answers 501. It binds to loopback addresses only.
"""

from __future__ import annotations

import hmac
import secrets
import shutil
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

from scf_worker.observability.logging import get_logger
from scf_worker.storage.local import LocalObjectStore
from scf_worker.uploads.cam import AccessRequest, ConditionValue, is_allowed
from scf_worker.uploads.config import is_loopback_host
from scf_worker.uploads.cos_form import FormUpload, check_post_policy, decode_policy
from scf_worker.uploads.cos_multipart import (
    MultipartRegistry,
)
from scf_worker.uploads.cos_signing import post_policy_signature, request_signature
from scf_worker.uploads.grants import Grant, GrantStore

log = get_logger(__name__)
# COS accepts signatures whose start time is a little ahead of its clock; the SDK signs from now-60.
MAX_CLOCK_SKEW_SECONDS = 900
MAX_XML_BODY_BYTES = 1024 * 1024
# A rejected upload's body is read and dropped up to this size so the client sees the 403, not a reset.
MAX_DRAIN_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_FORM_BYTES = 64 * 1024 * 1024
_HOST_SUFFIXES = (".myqcloud.com", ".tencentcos.cn")


class CosError(Exception):
    """A COS error response: HTTP status, error code and a message safe to return."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class CosRequest:
    """One parsed request: bucket, decoded key, query pairs and headers."""

    method: str
    bucket: str
    region: str
    path: str
    key: str
    params: list[tuple[str, str]]
    headers: Message
    client_ip: str
    request_id: str = field(default_factory=lambda: secrets.token_hex(12))

    def param(self, name: str) -> str | None:
        for key, value in self.params:
            if key.lower() == name:
                return value
        return None

    def has(self, name: str) -> bool:
        return any(key.lower() == name for key, _ in self.params)


class CosEndpoint:
    """Serve COS requests on 127.0.0.1 (or another loopback address) until closed.

    ``buckets`` maps each served bucket (``name-APPID``) to its region. A
    request whose Host names no served bucket goes to the only bucket when
    there is exactly one, so a browser form can post to ``http://127.0.0.1:port/``.
    """

    def __init__(self, store: LocalObjectStore, grants: GrantStore, buckets: Mapping[str, str],
                 host: str = "127.0.0.1", port: int = 0, clock: Callable[[], float] = time.time,
                 max_form_bytes: int = DEFAULT_MAX_FORM_BYTES) -> None:
        if not is_loopback_host(host):
            raise ValueError(f"the COS endpoint binds to loopback addresses only, not {host!r}")
        self.store = store
        self.grants = grants
        self.buckets = dict(buckets)
        self.clock = clock
        self.max_form_bytes = max_form_bytes
        staging = store.root / ".cos-endpoint"
        staging.mkdir(parents=True, exist_ok=True)
        self.staging = Path(tempfile.mkdtemp(dir=staging, prefix="run-"))
        self.multipart = MultipartRegistry(self.staging / "multipart")
        self._server = ThreadingHTTPServer((host, port), _handler_class(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="cos-endpoint")

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> CosEndpoint:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        shutil.rmtree(self.staging, ignore_errors=True)

    def __enter__(self) -> CosEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def bucket_for(self, host_header: str | None) -> tuple[str, str]:
        """Return (bucket, region) named by ``Host``, or the only served bucket."""
        host = (host_header or "").split(":")[0].lower()
        if host.endswith(_HOST_SUFFIXES) and ".cos." in host:
            bucket = host.partition(".cos.")[0]
            if bucket in self.buckets:
                return bucket, self.buckets[bucket]
        if len(self.buckets) == 1:
            return next(iter(self.buckets.items()))
        raise CosError(404, "NoSuchBucket", "the Host header names no bucket served here")

    def resource(self, request: CosRequest, key: str) -> str:
        appid = request.bucket.rsplit("-", 1)[-1]
        return f"qcs::cos:{request.region}:uid/{appid}:{request.bucket}/{key}"

    # --- authentication -------------------------------------------------------------------

    def authenticate(self, request: CosRequest) -> Grant:
        """Verify the COS v5 signature and the session token; return the grant."""
        fields = _signature_fields(request)
        if fields.get("q-sign-algorithm") != "sha1":
            raise CosError(403, "AccessDenied", "q-sign-algorithm must be sha1")
        grant = self._grant(fields.get("q-ak", ""), _token_of(request))
        key_time = fields.get("q-key-time", "")
        if fields.get("q-sign-time") != key_time:
            raise CosError(403, "AccessDenied", "q-sign-time and q-key-time differ")
        self._check_key_time(key_time)

        param_names = set(filter(None, fields.get("q-url-param-list", "").split(";")))
        header_names = [name for name in fields.get("q-header-list", "").split(";") if name]
        params = [(k, v) for k, v in request.params if quote(k, safe="-_.~").lower() in param_names]
        headers = [(name, request.headers.get(name, "")) for name in header_names]
        expected = request_signature(grant.secret_key, key_time, request.method, request.path,
                                     params, headers)
        if not hmac.compare_digest(expected, fields.get("q-signature", "")):
            raise CosError(403, "SignatureDoesNotMatch", "the request signature does not match")
        return grant

    def _grant(self, access_key_id: str, token: str | None) -> Grant:
        grant = self.grants.get(access_key_id) if access_key_id else None
        if grant is None:
            raise CosError(403, "InvalidAccessKeyId", "the access key id is not known")
        if not token:
            raise CosError(403, "AccessDenied", "temporary credentials need x-cos-security-token")
        if not hmac.compare_digest(token, grant.session_token):
            raise CosError(403, "InvalidToken", "the security token does not belong to this key")
        if self.clock() >= grant.expires_at:
            raise CosError(403, "ExpiredToken", "the temporary credentials have expired")
        return grant

    def _check_key_time(self, key_time: str) -> None:
        start_text, _, end_text = key_time.partition(";")
        try:
            start, end = int(start_text), int(end_text)
        except ValueError:
            raise CosError(403, "AccessDenied", "q-key-time is not <start>;<end>") from None
        now = self.clock()
        if start > now + MAX_CLOCK_SKEW_SECONDS:
            raise CosError(403, "RequestTimeTooSkewed", "the signature starts in the future")
        if now > end:
            raise CosError(403, "AccessDenied", "the request signature has expired")

    def authorize(self, grant: Grant, request: CosRequest, action: str, key: str,
                  values: Mapping[str, ConditionValue]) -> None:
        resource = self.resource(request, key)
        if not is_allowed(grant.policy, AccessRequest(f"name/cos:{action}", resource, values)):
            raise CosError(403, "AccessDenied",
                           f"the credential's policy does not allow {action} on this key")

    # --- POST Object ----------------------------------------------------------------------

    def authenticate_form(self, request: CosRequest, form: FormUpload) -> tuple[Grant, str]:
        """Verify a POST Object form: signature over the policy, token, policy conditions."""
        fields = form.fields
        if fields.get("q-sign-algorithm") != "sha1" or not fields.get("q-signature"):
            raise CosError(403, "AccessDenied", "the form needs q-sign-algorithm=sha1 and q-signature")
        grant = self._grant(fields.get("q-ak", ""), fields.get("x-cos-security-token"))
        key_time = fields.get("q-key-time", "")
        self._check_key_time(key_time)
        policy_bytes, policy = decode_policy(fields.get("policy", ""))
        expected = post_policy_signature(grant.secret_key, key_time, policy_bytes)
        if not hmac.compare_digest(expected, fields["q-signature"]):
            raise CosError(403, "SignatureDoesNotMatch", "the form signature does not match its policy")

        # COS substitutes ${filename} before checking the policy, so policies constrain the result.
        key = fields.get("key", "").replace("${filename}", form.filename)
        checked = FormUpload({**fields, "key": key}, form.filename, form.content)
        check_post_policy(policy, checked, request.bucket, self.clock())
        return grant, key


def _signature_fields(request: CosRequest) -> dict[str, str]:
    authorization = request.headers.get("authorization")
    if authorization:
        pairs = (item.partition("=") for item in authorization.split("&"))
        return {name.strip(): value for name, _, value in pairs}
    fields = {k: v for k, v in request.params if k.startswith("q-")}
    if not fields:
        raise CosError(403, "AccessDenied", "the request is not signed")
    return fields


def _token_of(request: CosRequest) -> str | None:
    return request.headers.get("x-cos-security-token") or request.param("x-cos-security-token")


def condition_values(request: CosRequest) -> dict[str, ConditionValue]:
    values: dict[str, ConditionValue] = {"qcs:ip": request.client_ip, "cos:secure-transport": "false"}
    for header, key in (("content-type", "cos:content-type"), ("x-cos-acl", "cos:x-cos-acl"),
                        ("x-cos-storage-class", "cos:x-cos-storage-class")):
        if request.headers.get(header) is not None:
            values[key] = str(request.headers.get(header))
    length = request.headers.get("content-length")
    if length is not None and length.strip().isdigit():
        values["cos:content-length"] = int(length)
    return values


def xml_document(root_tag: str, children: list[tuple[str, Any]]) -> bytes:
    root = ET.Element(root_tag)
    for tag, value in children:
        if isinstance(value, list):
            element = ET.SubElement(root, tag)
            for child_tag, child_value in value:
                ET.SubElement(element, child_tag).text = str(child_value)
        else:
            ET.SubElement(root, tag).text = str(value)
    document: bytes = ET.tostring(root, encoding="utf-8")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + document


def _handler_class(endpoint: CosEndpoint) -> type[BaseHTTPRequestHandler]:
    from scf_worker.uploads.cos_handler import CosRequestHandler

    return type("BoundCosRequestHandler", (CosRequestHandler,), {"endpoint": endpoint})

