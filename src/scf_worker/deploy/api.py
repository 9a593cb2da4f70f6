"""Tencent Cloud API calls through the official SDK, and a recording dry-run client.

Every call goes through ``ApiClient.call(action, params)``. ``SdkClient`` builds
the SDK's request model for the action (so a misspelt field is caught by the
SDK), sends it signed with TC3-HMAC-SHA256, and returns the response as a
dict. ``endpoint`` points the SDK at a loopback stand-in in tests.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from scf_worker.deploy.errors import DeployError

SERVICES = {"scf": ("tencentcloud.scf.v20180416", "scf_client", "ScfClient"),
            "kms": ("tencentcloud.kms.v20190118", "kms_client", "KmsClient")}
READ_ACTIONS = ("GetFunction", "GetAlias", "ListTriggers", "ListVersionByFunction")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


class ApiCallError(DeployError):
    """The API returned an error code, e.g. ResourceNotFound.Function."""


class ApiClient(Protocol):
    def call(self, action: str, params: dict[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Credentials:
    secret_id: str
    secret_key: str
    token: str | None = None

    def __repr__(self) -> str:
        return "Credentials(secret_id=***, secret_key=***)"

    @classmethod
    def from_env(cls) -> Credentials:
        """Read the deployer's keys from TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY."""
        secret_id = os.environ.get("TENCENTCLOUD_SECRET_ID", "")
        secret_key = os.environ.get("TENCENTCLOUD_SECRET_KEY", "")
        if not secret_id or not secret_key:
            raise DeployError("set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY (a sub-account key"
                              " with the deploy policy in docs/deploy.md), or use --dry-run")
        return cls(secret_id, secret_key, os.environ.get("TENCENTCLOUD_SESSION_TOKEN") or None)


class SdkClient:
    """One Tencent Cloud service (scf or kms) through the official SDK, imported on first call."""

    def __init__(self, service: str, region: str, credentials: Credentials,
                 endpoint: str | None = None, timeout_seconds: int = 30) -> None:
        if service not in SERVICES:
            raise ValueError(f"unknown service {service!r}")
        self.service = service
        self.region = region
        self.endpoint = endpoint
        self._credentials = credentials
        self.timeout_seconds = timeout_seconds
        self._client: Any = None
        self._models: Any = None

    def _sdk(self) -> tuple[Any, Any]:
        if self._client is None:
            import importlib

            from tencentcloud.common import credential
            from tencentcloud.common.profile.client_profile import ClientProfile
            from tencentcloud.common.profile.http_profile import HttpProfile

            package, module, class_name = SERVICES[self.service]
            http_profile = HttpProfile(reqTimeout=self.timeout_seconds)
            if self.endpoint:
                http_profile.endpoint = self.endpoint
                if self.endpoint.rsplit(":", 1)[0] in LOOPBACK_HOSTS:
                    http_profile.scheme = "http"
            creds = self._credentials
            client_class = getattr(importlib.import_module(f"{package}.{module}"), class_name)
            self._client = client_class(credential.Credential(creds.secret_id, creds.secret_key, creds.token),
                                        self.region, ClientProfile(httpProfile=http_profile))
            self._models = importlib.import_module(f"{package}.models")
        return self._client, self._models

    def call(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

        client, models = self._sdk()
        request = getattr(models, f"{action}Request")()
        request.from_json_string(json.dumps(params))
        try:
            response = getattr(client, action)(request)
        except TencentCloudSDKException as exc:
            # The SDK's message can echo request fields; keep only code and request id.
            raise ApiCallError(f"{self.service}:{action} failed with {exc.get_code()}"
                               f" (RequestId {exc.get_request_id()})", action, exc.get_code()) from None
        result: dict[str, Any] = json.loads(response.to_json_string())
        return result


@dataclass
class DryRunClient:
    """Record every write instead of sending it; reads go to ``reader`` when there is one.

    Without a reader, every read raises "not found", so the plan shows a first deploy.
    """

    reader: ApiClient | None = None
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _next_version: int = 0

    def call(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((action, params))
        if action in READ_ACTIONS:
            if self.reader is None:
                raise ApiCallError(f"{action}: not found (dry run without an account)", action,
                                   "ResourceNotFound")
            return self.reader.call(action, params)
        if action == "PublishVersion":
            self._next_version += 1
            return {"FunctionVersion": f"<new version {self._next_version}>"}
        return {}


@dataclass
class RecordingClient:
    """Wrap a client and keep the calls it made, in order."""

    inner: ApiClient
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    on_call: Callable[[str, dict[str, Any]], None] | None = None

    def call(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((action, params))
        if self.on_call is not None:
            self.on_call(action, params)
        return self.inner.call(action, params)
