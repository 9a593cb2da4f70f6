"""media-sign: authenticate, validate, choose the key, build and check the policy, issue.

Every rejection (401, 400) happens before the issuer is called, so a bad
request never costs an STS call. The response carries the temporary
credentials, which are the point of the function; logs never do.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from typing import Any

from scf_worker.observability import metrics
from scf_worker.observability.logging import get_logger
from scf_worker.runtime.errors import ApiError
from scf_worker.runtime.events import HttpRequest
from scf_worker.uploads.auth import authenticate
from scf_worker.uploads.config import UploadSettings
from scf_worker.uploads.errors import IssuerError
from scf_worker.uploads.form import build_form
from scf_worker.uploads.issuers import CredentialIssuer, TemporaryCredentials
from scf_worker.uploads.policy import build_policy, lint_policy
from scf_worker.uploads.validation import UploadRequest, check_user_id, parse_upload_request

log = get_logger(__name__)


class SignService:
    """Issue least-privilege upload credentials for one server-chosen key."""

    def __init__(self, settings: UploadSettings, issuer: CredentialIssuer, jwt_secret: str | None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.issuer = issuer
        self._jwt_secret = jwt_secret
        self.clock = clock

    def sign(self, request: HttpRequest) -> dict[str, Any]:
        if request.method != "POST":
            raise ApiError("method_not_allowed", "use POST")
        user_id = check_user_id(authenticate(request, self.settings, self._jwt_secret))
        settings = self.settings
        upload = parse_upload_request(request.json(), settings.allowed_types, settings.max_bytes_for)

        key = self.object_key(user_id, upload.extension)
        multipart = upload.size >= self.settings.multipart_threshold_bytes
        policy = self.checked_policy(user_id, key, upload, multipart)
        credentials = self._issue(policy, user_id)

        log.info("credentials_issued", key=key, mime=upload.mime, size=upload.size, multipart=multipart,
                 mode=upload.mode, expiredTime=credentials.expired_time)
        metrics.note(objectKey=key)
        return self._response(credentials, key, upload, multipart)

    def object_key(self, user_id: str, extension: str) -> str:
        """Build ``<user prefix><yyyy>/<mm>/<dd>/<random id>.<ext>`` on the server's UTC clock."""
        day = time.strftime("%Y/%m/%d", time.gmtime(self.clock()))
        return f"{self.settings.user_prefix(user_id)}{day}/{secrets.token_hex(16)}.{extension}"

    def checked_policy(self, user_id: str, key: str, upload: UploadRequest,
                       multipart: bool) -> dict[str, Any]:
        """Build the policy and run the self-check; raise ApiError("policy_rejected") when it fails."""
        s = self.settings
        policy = build_policy(s.region, s.appid, s.bucket, key, upload.mime, upload.size, multipart)
        user_prefix = s.user_prefix(user_id)
        problems = lint_policy(policy, s.region, s.appid, s.bucket, user_prefix, s.duration_seconds)
        if problems:
            log.error("policy_rejected", problems="; ".join(problems), key=key)
            raise ApiError("policy_rejected")
        return policy

    def _issue(self, policy: dict[str, Any], user_id: str) -> TemporaryCredentials:
        # The session name shows up in CloudAudit; a hash links it to the user without exposing the id.
        session_name = "media-sign-" + hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:16]
        started = time.monotonic()
        try:
            return self.issuer.issue(policy, self.settings.duration_seconds, session_name)
        except IssuerError as exc:
            log.error("sts_failed", code=exc.code, errorClass=type(exc).__name__,
                      durationMs=int((time.monotonic() - started) * 1000))
            raise ApiError("sts_failed") from None

    def _response(self, credentials: TemporaryCredentials, key: str, upload: UploadRequest,
                  multipart: bool) -> dict[str, Any]:
        s = self.settings
        data: dict[str, Any] = {
            "credentials": {
                "tmpSecretId": credentials.tmp_secret_id,
                "tmpSecretKey": credentials.tmp_secret_key,
                "sessionToken": credentials.session_token,
            },
            "bucket": s.bucket,
            "region": s.region,
            "key": key,
            "mime": upload.mime,
            "size": upload.size,
            "multipart": multipart,
            "startTime": credentials.start_time,
            "expiredTime": credentials.expired_time,
            "expireAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(credentials.expired_time)),
        }
        if upload.mode == "form":
            data["form"] = build_form(credentials, s.bucket, s.region, key, upload.mime, upload.size)
        return data
