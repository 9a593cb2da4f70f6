"""A loopback stand-in for Tencent Cloud STS (API 2018-08-13) that the official SDK can call.

It handles ``GetFederationToken`` and ``AssumeRole`` like STS: the request must
carry a valid ``TC3-HMAC-SHA256`` signature made with a key it knows (and, for
role-session keys, the matching ``X-TC-Token``), the ``Policy`` is URL-decoded
and parsed, and the reply has the ``Response.Credentials`` shape. Each minted
credential is recorded in a grant store, so the loopback COS endpoint enforces
the policy exactly as issued. Every call is kept in ``calls`` for tests, and
``fail_next`` makes the next replies STS errors.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import unquote

from scf_worker.observability.logging import get_logger
from scf_worker.uploads.config import is_loopback_host
from scf_worker.uploads.grants import Grant, GrantStore
from scf_worker.uploads.issuers import mint_credentials

log = get_logger(__name__)
API_VERSION = "2018-08-13"
MAX_TIMESTAMP_SKEW_SECONDS = 300
# Upper bounds STS documents: GetFederationToken up to 129600 s for sub-accounts, AssumeRole up to 43200 s.
MAX_DURATION_SECONDS = {"GetFederationToken": 129_600, "AssumeRole": 43_200}


@dataclass(frozen=True)
class CallerKey:
    """A key the stand-in accepts; ``token`` is set for role-session (temporary) keys."""

    secret_key: str = field(repr=False)
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class StsCall:
    """One request as received: action, caller, decoded parameters and policy."""

    action: str
    secret_id: str
    region: str | None
    params: dict[str, Any]
    policy: dict[str, Any] | None


class StsError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class LocalSts:
    """Serve STS on a loopback port until closed."""

    def __init__(self, keys: Mapping[str, CallerKey], grants: GrantStore, host: str = "127.0.0.1",
                 port: int = 0, clock: Callable[[], float] = time.time) -> None:
        if not is_loopback_host(host):
            raise ValueError(f"the STS stand-in binds to loopback addresses only, not {host!r}")
        self.keys = dict(keys)
        self.grants = grants
        self.clock = clock
        self.calls: list[StsCall] = []
        self._failures: list[str] = []
        self._lock = threading.Lock()
        handler = type("BoundStsHandler", (_StsHandler,), {"sts": self})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="sts-local")

    @property
    def endpoint(self) -> str:
        """``host:port`` for ``STS_ENDPOINT``."""
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> LocalSts:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LocalSts:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fail_next(self, code: str = "InternalError", times: int = 1) -> None:
        """Fail the next ``times`` calls with the STS error ``code``."""
        with self._lock:
            self._failures.extend([code] * times)

    def handle(self, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        """Process one API call; return the ``Response`` object (credentials or error)."""
        request_id = str(uuid.uuid4())
        try:
            action, secret_id = self._verify(headers, body)
            params = _json_params(body)
            policy = _policy(params, action)
            with self._lock:
                self.calls.append(StsCall(action, secret_id, headers.get("x-tc-region"), params, policy))
                failure = self._failures.pop(0) if self._failures else None
            if failure is not None:
                raise StsError(failure, "injected failure")
            return {**self._issue(action, params, policy), "RequestId": request_id}
        except StsError as exc:
            log.info("sts_local_rejected", code=exc.code)
            return {"Error": {"Code": exc.code, "Message": exc.message}, "RequestId": request_id}

    def _verify(self, headers: Mapping[str, str], body: bytes) -> tuple[str, str]:
        authorization = headers.get("authorization", "")
        algorithm, _, rest = authorization.partition(" ")
        if algorithm != "TC3-HMAC-SHA256":
            raise StsError("AuthFailure.SignatureFailure", "only TC3-HMAC-SHA256 is accepted")
        parts = dict(item.strip().partition("=")[::2] for item in rest.split(","))
        secret_id, _, scope = parts.get("Credential", "").partition("/")
        key = self.keys.get(secret_id)
        if key is None:
            raise StsError("AuthFailure.SecretIdNotFound", "the SecretId is not known")
        if key.token is not None and not hmac.compare_digest(headers.get("x-tc-token", ""), key.token):
            raise StsError("AuthFailure.TokenFailure", "the X-TC-Token does not belong to this key")

        timestamp_text = headers.get("x-tc-timestamp", "")
        skew = abs(int(timestamp_text) - self.clock()) if timestamp_text.isdigit() else None
        if skew is None or skew > MAX_TIMESTAMP_SKEW_SECONDS:
            raise StsError("AuthFailure.SignatureExpire", "X-TC-Timestamp is missing or too far from now")
        date = datetime.fromtimestamp(int(timestamp_text), timezone.utc).strftime("%Y-%m-%d")
        if scope != f"{date}/sts/tc3_request" or parts.get("SignedHeaders") != "content-type;host":
            raise StsError("AuthFailure.SignatureFailure", "the credential scope or signed headers are wrong")

        expected = _tc3_signature(key.secret_key, headers, body, date, timestamp_text)
        if not hmac.compare_digest(expected, parts.get("Signature", "")):
            raise StsError("AuthFailure.SignatureFailure", "the request signature does not match")
        action = headers.get("x-tc-action", "")
        if headers.get("x-tc-version") != API_VERSION or action not in MAX_DURATION_SECONDS:
            raise StsError("InvalidAction", f"unsupported action {action!r}")
        return action, secret_id

    def _issue(self, action: str, params: dict[str, Any], policy: dict[str, Any] | None) -> dict[str, Any]:
        duration = params.get("DurationSeconds", 1800 if action == "GetFederationToken" else 7200)
        if not isinstance(duration, int) or not 1 <= duration <= MAX_DURATION_SECONDS[action]:
            raise StsError("InvalidParameter.DurationSeconds", "DurationSeconds is out of range")
        if action == "AssumeRole" and not str(params.get("RoleArn", "")).startswith("qcs::cam::uin/"):
            raise StsError("InvalidParameter.RoleArn", "RoleArn is missing or malformed")
        credentials = mint_credentials(int(self.clock()), duration)
        self.grants.put(Grant(credentials.tmp_secret_id, credentials.tmp_secret_key,
                              credentials.session_token, policy or {}, credentials.expired_time))
        expiration = datetime.fromtimestamp(credentials.expired_time, timezone.utc)
        return {
            "Credentials": {"Token": credentials.session_token, "TmpSecretId": credentials.tmp_secret_id,
                            "TmpSecretKey": credentials.tmp_secret_key},
            "ExpiredTime": credentials.expired_time,
            "Expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


def _tc3_signature(secret_key: str, headers: Mapping[str, str], body: bytes, date: str,
                   timestamp: str) -> str:
    canonical_request = "\n".join([
        "POST", "/", "",
        f"content-type:{headers.get('content-type', '')}\nhost:{headers.get('host', '')}\n",
        "content-type;host",
        hashlib.sha256(body).hexdigest(),
    ])
    string_to_sign = "\n".join([
        "TC3-HMAC-SHA256", timestamp, f"{date}/sts/tc3_request",
        hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
    ])

    def _hmac(key: bytes, message: str) -> bytes:
        return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()

    signing_key = _hmac(_hmac(_hmac(("TC3" + secret_key).encode("utf-8"), date), "sts"), "tc3_request")
    return hmac.new(signing_key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def _json_params(body: bytes) -> dict[str, Any]:
    try:
        params = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise StsError("InvalidParameter", "the body is not JSON") from None
    if not isinstance(params, dict):
        raise StsError("InvalidParameter", "the body is not a JSON object")
    return params


def _policy(params: dict[str, Any], action: str) -> dict[str, Any] | None:
    raw = params.get("Policy")
    if raw is None and action == "AssumeRole":
        return None
    if not isinstance(raw, str) or not raw:
        raise StsError("MissingParameter", "Policy is required")
    try:
        policy: Any = json.loads(unquote(raw))
    except json.JSONDecodeError:
        raise StsError("InvalidParameter", "Policy is not URL-encoded JSON") from None
    if not isinstance(policy, dict):
        raise StsError("InvalidParameter", "Policy must be a JSON object")
    statements = policy.get("statement")
    if not isinstance(statements, list) or any(
        not isinstance(statement, dict) or "principal" in statement for statement in statements
    ):
        raise StsError("InvalidParameter", "Policy statements must be objects without principal")
    return policy


class _StsHandler(BaseHTTPRequestHandler):
    sts: ClassVar[LocalSts]
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length_text = self.headers.get("content-length") or "0"
        body = self.rfile.read(int(length_text) if length_text.isdigit() else 0)
        headers = {k.lower(): v for k, v in self.headers.items()}
        payload = json.dumps({"Response": self.sts.handle(headers, body)}).encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        return
