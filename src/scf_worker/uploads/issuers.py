"""Credential issuers: Tencent STS through the official SDK, and a local stand-in.

Both take a policy and a duration and return temporary credentials; the local
issuer records each grant so the local object store can enforce it.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from scf_worker.state.sql import Database
from scf_worker.uploads.errors import IssuerError


@dataclass(frozen=True)
class TemporaryCredentials:
    """What the client needs to sign COS requests; never logged."""

    tmp_secret_id: str
    tmp_secret_key: str
    session_token: str
    start_time: int
    expired_time: int

    def __repr__(self) -> str:
        return f"TemporaryCredentials(tmp_secret_id=***, expired_time={self.expired_time})"


class CredentialIssuer(Protocol):
    def issue(self, policy: dict[str, Any], duration_seconds: int, name: str) -> TemporaryCredentials: ...


class LocalIssuer:
    """Mint random credentials and store the grant for the local object store."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    def issue(self, policy: dict[str, Any], duration_seconds: int, name: str) -> TemporaryCredentials:
        now = int(self.clock())
        credentials = TemporaryCredentials(
            tmp_secret_id="AKIDLOCAL" + secrets.token_hex(12),
            tmp_secret_key=secrets.token_urlsafe(24),
            session_token=secrets.token_urlsafe(48),
            start_time=now,
            expired_time=now + duration_seconds,
        )
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO upload_grants (access_key_id, secret_key, session_token, policy,"
                " expires_at) VALUES (?, ?, ?, ?, ?)",
                (credentials.tmp_secret_id, credentials.tmp_secret_key, credentials.session_token,
                 json.dumps(policy), credentials.expired_time),
            )
        return credentials


class StsIssuer:
    """GetFederationToken through ``tencentcloud-sdk-python``'s STS client, imported lazily."""

    def __init__(self, secret_id: str, secret_key: str, region: str, endpoint: str | None = None,
                 timeout_seconds: int = 5, clock: Callable[[], float] = time.time) -> None:
        self._secret_id = secret_id
        self._secret_key = secret_key
        self.region = region
        self.endpoint = endpoint
        self.timeout_seconds = timeout_seconds
        self.clock = clock

    def issue(self, policy: dict[str, Any], duration_seconds: int, name: str) -> TemporaryCredentials:
        from tencentcloud.common import credential
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import (
            TencentCloudSDKException,
        )
        from tencentcloud.common.profile.client_profile import ClientProfile
        from tencentcloud.common.profile.http_profile import HttpProfile
        from tencentcloud.sts.v20180813 import models, sts_client

        http_profile = HttpProfile(reqTimeout=self.timeout_seconds)
        if self.endpoint:
            http_profile.endpoint = self.endpoint
            if self.endpoint.split(":")[0] in ("127.0.0.1", "localhost", "[::1]"):
                http_profile.scheme = "http"
        client = sts_client.StsClient(
            credential.Credential(self._secret_id, self._secret_key), self.region,
            ClientProfile(httpProfile=http_profile),
        )
        request = models.GetFederationTokenRequest()
        request.Name = name
        request.Policy = json.dumps(policy, separators=(",", ":"))
        request.DurationSeconds = duration_seconds
        now = int(self.clock())
        try:
            response = client.GetFederationToken(request)
        except TencentCloudSDKException as exc:
            raise IssuerError(f"STS GetFederationToken failed: {exc.get_code()}") from None
        creds = response.Credentials
        return TemporaryCredentials(
            tmp_secret_id=creds.TmpSecretId,
            tmp_secret_key=creds.TmpSecretKey,
            session_token=creds.Token,
            start_time=now,
            expired_time=int(response.ExpiredTime),
        )
