"""Credential issuers: Tencent STS through the official SDK, and a local stand-in.

Both take a policy and a duration and return temporary credentials. The local
issuer records each grant so the loopback COS endpoint can enforce it. It is
used only on the embedded defaults (folder object store, no STS configured).
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

from scf_worker.uploads.config import StsSettings
from scf_worker.uploads.errors import IssuerError
from scf_worker.uploads.grants import Grant, GrantStore

# GetFederationToken's Name takes letters only; AssumeRole's RoleSessionName is passed through.
FEDERATION_NAME = "mediasign"


@dataclass(frozen=True)
class TemporaryCredentials:
    """The key pair and session token a client signs COS requests with; never logged."""

    tmp_secret_id: str = field(repr=False)
    tmp_secret_key: str = field(repr=False)
    session_token: str = field(repr=False)
    start_time: int
    expired_time: int


class CredentialIssuer(Protocol):
    def issue(self, policy: dict[str, Any], duration_seconds: int, session_name: str) -> TemporaryCredentials:
        ...


def mint_credentials(now: int, duration_seconds: int) -> TemporaryCredentials:
    """Create random credentials shaped like STS's (an ``AKID`` id, a key, a long token)."""
    return TemporaryCredentials(
        tmp_secret_id="AKID" + secrets.token_urlsafe(27).replace("-", "x").replace("_", "y"),
        tmp_secret_key=secrets.token_urlsafe(30),
        session_token=secrets.token_urlsafe(96),
        start_time=now,
        expired_time=now + duration_seconds,
    )


class LocalIssuer:
    """Mint random credentials and record the grant for the loopback COS endpoint."""

    def __init__(self, grants: GrantStore, clock: Callable[[], float] = time.time) -> None:
        self.grants = grants
        self.clock = clock

    def issue(self, policy: dict[str, Any], duration_seconds: int, session_name: str) -> TemporaryCredentials:
        credentials = mint_credentials(int(self.clock()), duration_seconds)
        self.grants.put(Grant(credentials.tmp_secret_id, credentials.tmp_secret_key,
                              credentials.session_token, policy, credentials.expired_time))
        return credentials


class StsIssuer:
    """GetFederationToken or AssumeRole through ``tencentcloud-sdk-python``, imported lazily.

    GetFederationToken needs a permanent sub-account key (``STS_SECRET_ID``/``STS_SECRET_KEY``).
    AssumeRole signs with the function role's temporary key, which SCF puts in
    ``TENCENTCLOUD_SECRETID``/``SECRETKEY``/``SESSIONTOKEN`` and rotates, so it is read on every call.
    """

    def __init__(self, settings: StsSettings, clock: Callable[[], float] = time.time,
                 environ: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.environ = os.environ if environ is None else environ

    def issue(self, policy: dict[str, Any], duration_seconds: int, session_name: str) -> TemporaryCredentials:
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

        started = int(self.clock())
        try:
            response = self._call(self._client(), policy, duration_seconds, session_name)
        except IssuerError:
            raise
        except TencentCloudSDKException as exc:
            raise IssuerError(f"STS {self.settings.action} failed", code=str(exc.get_code())) from None
        except Exception as exc:  # noqa: BLE001 (SDK parse and transport errors have no common base)
            raise IssuerError(f"STS {self.settings.action} failed",
                              code=f"unexpected:{type(exc).__name__}") from None
        return _credentials_from(response, started)

    def _call(self, client: Any, policy: dict[str, Any], duration_seconds: int, session_name: str) -> Any:
        from tencentcloud.sts.v20180813 import models

        # STS takes the policy URL-encoded; the SDK then JSON-encodes the string as any other field.
        encoded_policy = quote(json.dumps(policy, separators=(",", ":")), safe="")
        if self.settings.role_arn:
            assume = models.AssumeRoleRequest()
            assume.RoleArn = self.settings.role_arn
            assume.RoleSessionName = session_name
            assume.Policy = encoded_policy
            assume.DurationSeconds = duration_seconds
            return client.AssumeRole(assume)
        federation = models.GetFederationTokenRequest()
        federation.Name = FEDERATION_NAME
        federation.Policy = encoded_policy
        federation.DurationSeconds = duration_seconds
        return client.GetFederationToken(federation)

    def _client(self) -> Any:
        from tencentcloud.common import credential
        from tencentcloud.common.profile.client_profile import ClientProfile
        from tencentcloud.common.profile.http_profile import HttpProfile
        from tencentcloud.sts.v20180813 import sts_client

        settings = self.settings
        http_profile = HttpProfile(protocol=settings.scheme, endpoint=settings.endpoint,
                                   reqTimeout=settings.timeout_seconds)
        # The region breaker would fail over to a public backup host; keep every call on the endpoint.
        profile = ClientProfile(httpProfile=http_profile, disable_region_breaker=True)
        return sts_client.StsClient(credential.Credential(*self._caller_key()), settings.region, profile)

    def _caller_key(self) -> tuple[str, str, str | None]:
        if self.settings.role_arn is None:
            assert self.settings.secret_id is not None and self.settings.secret_key is not None
            return self.settings.secret_id, self.settings.secret_key, None
        secret_id = self.environ.get("TENCENTCLOUD_SECRETID")
        secret_key = self.environ.get("TENCENTCLOUD_SECRETKEY")
        if not secret_id or not secret_key:
            raise IssuerError("AssumeRole needs the function role's TENCENTCLOUD_SECRETID/SECRETKEY",
                              code="role_credentials_missing")
        return secret_id, secret_key, self.environ.get("TENCENTCLOUD_SESSIONTOKEN") or None


def _credentials_from(response: Any, started: int) -> TemporaryCredentials:
    creds = getattr(response, "Credentials", None)
    fields = (getattr(creds, "TmpSecretId", None), getattr(creds, "TmpSecretKey", None),
              getattr(creds, "Token", None))
    expired = getattr(response, "ExpiredTime", None)
    if not all(isinstance(value, str) and value for value in fields) or not isinstance(expired, int):
        raise IssuerError("STS returned a response without credentials", code="invalid_response")
    tmp_secret_id, tmp_secret_key, token = fields
    return TemporaryCredentials(str(tmp_secret_id), str(tmp_secret_key), str(token), started, expired)
