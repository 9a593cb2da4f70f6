"""A loopback stand-in for the Tencent Cloud API (SCF and KMS actions), for tests and rehearsals.

It speaks API 3.0 as the official SDK sends it: POST / with JSON, the action
in ``X-TC-Action`` and a TC3-HMAC-SHA256 ``Authorization`` header, which it
verifies with the one key pair it knows. It keeps functions, versions,
aliases and triggers in memory, records every call in order, and reports a
function as Creating or Updating once before it becomes Active, so a client
has to wait the way it must on SCF. KMS ``Encrypt``/``Decrypt`` use a random
key held in memory; the blobs mean nothing outside this process.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class RecordedCall:
    service: str
    action: str
    params: dict[str, Any]


class StandInError(Exception):
    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass
class _Function:
    config: dict[str, Any]
    code_sha256: str
    pending_polls: int = 1
    status: str = "Creating"
    versions: list[dict[str, Any]] = field(default_factory=list)
    aliases: dict[str, dict[str, Any]] = field(default_factory=dict)
    triggers: list[dict[str, Any]] = field(default_factory=list)


def tc3_signature(secret_key: str, date: str, service: str, string_to_sign: str) -> str:
    def sign(key: bytes, message: str) -> bytes:
        return hmac.new(key, message.encode(), hashlib.sha256).digest()

    signing_key = sign(sign(sign(("TC3" + secret_key).encode(), date), service), "tc3_request")
    return hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()


class TencentCloudStandIn:
    """Serve SCF and KMS actions on 127.0.0.1; ``calls`` lists what arrived, in order."""

    def __init__(self, secret_id: str = "AKIDstandin", secret_key: str | None = None,  # noqa: S107
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.secret_id = secret_id
        self.secret_key = secret_key or secrets.token_urlsafe(24)
        self.calls: list[RecordedCall] = []
        self.functions: dict[str, _Function] = {}
        self._kms_key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def __enter__(self) -> TencentCloudStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def actions(self, service: str = "scf") -> list[str]:
        return [c.action for c in self.calls if c.service == service]

    # -- protocol ---------------------------------------------------------------------------

    def _verify(self, headers: dict[str, str], body: bytes) -> str:
        auth = headers.get("authorization", "")
        try:
            algorithm, rest = auth.split(" ", 1)
            parts = dict(item.strip().split("=", 1) for item in rest.split(","))
            secret_id, date, service, _ = parts["Credential"].split("/")
        except ValueError as exc:
            raise StandInError("AuthFailure.SignatureFailure", "malformed Authorization") from exc
        if algorithm != "TC3-HMAC-SHA256" or secret_id != self.secret_id:
            raise StandInError("AuthFailure.SecretIdNotFound", "unknown SecretId")
        canonical = "\n".join(["POST", "/", "", f"content-type:{headers.get('content-type', '')}",
                               f"host:{headers.get('host', '')}", "", "content-type;host",
                               hashlib.sha256(body).hexdigest()])
        timestamp = headers.get("x-tc-timestamp", "")
        day = datetime.fromtimestamp(int(timestamp or 0), timezone.utc).strftime("%Y-%m-%d")
        to_sign = "\n".join(["TC3-HMAC-SHA256", timestamp, f"{date}/{service}/tc3_request",
                             hashlib.sha256(canonical.encode()).hexdigest()])
        expected = tc3_signature(self.secret_key, date, service, to_sign)
        if day != date or not hmac.compare_digest(expected, parts.get("Signature", "")):
            raise StandInError("AuthFailure.SignatureFailure", "signature does not match")
        return service

    def handle(self, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        request_id = str(uuid.uuid4())
        try:
            service = self._verify(headers, body)
            action = headers.get("x-tc-action", "")
            params = json.loads(body or b"{}")
            with self._lock:
                self.calls.append(RecordedCall(service, action, params))
                method = getattr(self, f"_{service}_{action}", None)
                if method is None:
                    raise StandInError("InvalidAction", f"{service} has no action {action}")
                result: dict[str, Any] = method(params)
        except StandInError as exc:
            return {"Response": {"Error": {"Code": exc.code, "Message": str(exc)}, "RequestId": request_id}}
        return {"Response": {**result, "RequestId": request_id}}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                payload = json.dumps(standin.handle(headers, body)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler

    # -- SCF --------------------------------------------------------------------------------

    def _function(self, params: dict[str, Any]) -> _Function:
        function = self.functions.get(params.get("FunctionName", ""))
        if function is None:
            raise StandInError("ResourceNotFound.Function", "function not found")
        return function

    def _scf_GetFunction(self, params: dict[str, Any]) -> dict[str, Any]:
        function = self._function(params)
        if function.pending_polls > 0:
            function.pending_polls -= 1
        else:
            function.status = "Active"
        return {**function.config, "FunctionName": params["FunctionName"], "Status": function.status,
                "FunctionVersion": "$LATEST"}

    def _scf_CreateFunction(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("FunctionName", "")
        if name in self.functions:
            raise StandInError("ResourceInUse.Function", "function exists")
        code = base64.b64decode(params["Code"]["ZipFile"])
        config = {k: v for k, v in params.items() if k not in ("Code", "FunctionName", "Namespace")}
        self.functions[name] = _Function(config, hashlib.sha256(code).hexdigest())
        return {}

    def _busy(self, function: _Function, status: str) -> None:
        if function.status != "Active":
            raise StandInError("FailedOperation.UpdateFunctionCode", f"function is {function.status}")
        function.status, function.pending_polls = status, 1

    def _scf_UpdateFunctionCode(self, params: dict[str, Any]) -> dict[str, Any]:
        function = self._function(params)
        self._busy(function, "Updating")
        function.code_sha256 = hashlib.sha256(base64.b64decode(params["ZipFile"])).hexdigest()
        return {}

    def _scf_UpdateFunctionConfiguration(self, params: dict[str, Any]) -> dict[str, Any]:
        function = self._function(params)
        self._busy(function, "Updating")
        function.config.update({k: v for k, v in params.items() if k not in ("FunctionName", "Namespace")})
        return {}

    def _scf_UpdateFunctionEventInvokeConfig(self, params: dict[str, Any]) -> dict[str, Any]:
        self._function(params).config["AsyncTriggerConfig"] = params["AsyncTriggerConfig"]
        return {}

    def _scf_PutReservedConcurrencyConfig(self, params: dict[str, Any]) -> dict[str, Any]:
        self._function(params).config["ReservedConcurrencyMem"] = params["ReservedConcurrencyMem"]
        return {}

    def _scf_PublishVersion(self, params: dict[str, Any]) -> dict[str, Any]:
        function = self._function(params)
        self._busy(function, "Publishing")
        version = str(len(function.versions) + 1)
        function.versions.append({"Version": version, "CodeSha256": function.code_sha256,
                                  "Config": dict(function.config)})
        return {"FunctionVersion": version}

    def _scf_ListVersionByFunction(self, params: dict[str, Any]) -> dict[str, Any]:
        published = [{"Version": v["Version"]} for v in self._function(params).versions]
        versions = [{"Version": "$LATEST"}, *published]
        return {"FunctionVersion": [v["Version"] for v in versions], "Versions": versions,
                "TotalCount": len(versions)}

    def _alias(self, params: dict[str, Any]) -> dict[str, Any]:
        alias = self._function(params).aliases.get(params.get("Name", ""))
        if alias is None:
            raise StandInError("ResourceNotFound.Alias", "alias not found")
        return alias

    def _check_version(self, function: _Function, version: str) -> None:
        if version not in {v["Version"] for v in function.versions}:
            raise StandInError("ResourceNotFound.Version", f"version {version} not found")

    def _scf_GetAlias(self, params: dict[str, Any]) -> dict[str, Any]:
        return dict(self._alias(params))

    def _scf_CreateAlias(self, params: dict[str, Any]) -> dict[str, Any]:
        function = self._function(params)
        if params["Name"] in function.aliases:
            raise StandInError("ResourceInUse.Alias", "alias exists")
        self._check_version(function, params["FunctionVersion"])
        function.aliases[params["Name"]] = {
            "Name": params["Name"], "FunctionVersion": params["FunctionVersion"],
            "RoutingConfig": params.get("RoutingConfig") or {"AdditionalVersionWeights": []}}
        return {}

    def _scf_UpdateAlias(self, params: dict[str, Any]) -> dict[str, Any]:
        function = self._function(params)
        alias = self._alias(params)
        self._check_version(function, params["FunctionVersion"])
        routing = params.get("RoutingConfig") or {"AdditionalVersionWeights": []}
        for weight in routing.get("AdditionalVersionWeights") or []:
            self._check_version(function, weight["Version"])
            if weight["Version"] == params["FunctionVersion"] or not 0 < weight["Weight"] < 1:
                raise StandInError("InvalidParameterValue.RoutingConfig", "bad additional version")
        alias.update(FunctionVersion=params["FunctionVersion"], RoutingConfig=routing)
        return {}

    def _scf_ListTriggers(self, params: dict[str, Any]) -> dict[str, Any]:
        triggers = self._function(params).triggers
        return {"Triggers": triggers, "TotalCount": len(triggers)}

    def _scf_CreateTrigger(self, params: dict[str, Any]) -> dict[str, Any]:
        function = self._function(params)
        trigger = {"Type": params["Type"], "TriggerName": params["TriggerName"],
                   "TriggerDesc": params.get("TriggerDesc", ""), "Qualifier": params.get("Qualifier", "")}
        function.triggers.append(trigger)
        return {"TriggerInfo": trigger}

    # -- KMS --------------------------------------------------------------------------------

    def _keystream(self, nonce: bytes, length: int) -> bytes:
        blocks = (hmac.new(self._kms_key, nonce + i.to_bytes(4, "big"), hashlib.sha256).digest()
                  for i in range(length // 32 + 1))
        return b"".join(blocks)[:length]

    def _kms_Encrypt(self, params: dict[str, Any]) -> dict[str, Any]:
        plaintext = base64.b64decode(params["Plaintext"])
        nonce = secrets.token_bytes(16)
        sealed = bytes(a ^ b for a, b in zip(plaintext, self._keystream(nonce, len(plaintext)), strict=True))
        tag = hmac.new(self._kms_key, nonce + sealed, hashlib.sha256).digest()[:16]
        blob = base64.b64encode(nonce + tag + sealed).decode()
        return {"CiphertextBlob": blob, "KeyId": params["KeyId"]}

    def _kms_Decrypt(self, params: dict[str, Any]) -> dict[str, Any]:
        try:
            raw = base64.b64decode(params["CiphertextBlob"], validate=True)
        except (ValueError, KeyError) as exc:
            raise StandInError("InvalidParameterValue", "CiphertextBlob is not base64") from exc
        nonce, tag, sealed = raw[:16], raw[16:32], raw[32:]
        expected = hmac.new(self._kms_key, nonce + sealed, hashlib.sha256).digest()[:16]
        if not hmac.compare_digest(tag, expected):
            raise StandInError("InvalidParameterValue", "ciphertext was not made by this key")
        plaintext = bytes(a ^ b for a, b in zip(sealed, self._keystream(nonce, len(sealed)), strict=True))
        return {"Plaintext": base64.b64encode(plaintext).decode(), "KeyId": "standin"}
