"""media-sign: validate the request, choose the key, build and check the policy, issue."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

from scf_worker.observability import metrics
from scf_worker.observability.logging import get_logger
from scf_worker.runtime.config import Settings
from scf_worker.runtime.errors import ApiError
from scf_worker.runtime.events import HttpRequest
from scf_worker.uploads.auth import authenticate
from scf_worker.uploads.errors import IssuerError
from scf_worker.uploads.issuers import CredentialIssuer
from scf_worker.uploads.policy import build_policy, lint_policy
from scf_worker.uploads.validation import check_user_id, parse_upload_request

log = get_logger(__name__)
# Declared sizes at or above this get multipart actions; below it only simple PUT or POST.
DEFAULT_MULTIPART_THRESHOLD = 20 * 1024 * 1024


class SignService:
    """Issue least-privilege upload credentials for one server-chosen key."""

    def __init__(self, settings: Settings, issuer: CredentialIssuer,
                 clock: Callable[[], float] = time.time,
                 multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD) -> None:
        self.settings = settings
        self.issuer = issuer
        self.clock = clock
        self.multipart_threshold = multipart_threshold

    def sign(self, request: HttpRequest) -> dict[str, Any]:
        if request.method != "POST":
            raise ApiError("method_not_allowed", "use POST")
        user_id = check_user_id(
            authenticate(request, self.settings.auth_mode, self.settings.auth_jwt_secret)
        )
        upload = parse_upload_request(request.json(), self.settings.max_upload_bytes)

        key = self.object_key(user_id, upload.extension)
        user_prefix = self.settings.allowed_prefix.replace("${userId}", user_id)
        settings = self.settings
        multipart = upload.size >= self.multipart_threshold
        policy = build_policy(settings.cos_region, settings.appid, settings.cos_bucket, key,
                              upload.mime, upload.size, multipart)
        problems = lint_policy(policy, settings.cos_region, settings.appid, settings.cos_bucket,
                               user_prefix, settings.sign_expire_seconds)
        if problems:
            log.error("policy_rejected", problems="; ".join(problems))
            raise ApiError("policy_rejected")

        try:
            credentials = self.issuer.issue(policy, settings.sign_expire_seconds,
                                            name="scf-worker-upload")
        except IssuerError as exc:
            log.error("sts_failed", errorClass=type(exc).__name__, error=str(exc))
            raise ApiError("upstream_error", "the credential service failed; retry later") from None

        log.info("credentials_issued", key=key, multipart=multipart, size=upload.size)
        metrics.note(objectKey=key)
        return {
            "credentials": {
                "tmpSecretId": credentials.tmp_secret_id,
                "tmpSecretKey": credentials.tmp_secret_key,
                "sessionToken": credentials.session_token,
            },
            "bucket": settings.cos_bucket,
            "region": settings.cos_region,
            "key": key,
            "mime": upload.mime,
            "multipart": multipart,
            "startTime": credentials.start_time,
            "expiredTime": credentials.expired_time,
            "expireAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(credentials.expired_time)),
        }

    def object_key(self, user_id: str, extension: str) -> str:
        prefix = self.settings.allowed_prefix.replace("${userId}", user_id)
        day = time.strftime("%Y/%m/%d", time.gmtime(self.clock()))
        return f"{prefix}{day}/{secrets.token_hex(16)}.{extension}"
