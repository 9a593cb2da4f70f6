"""cos-callback: verify, normalise, HEAD when needed, and record each upload once."""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from scf_worker.callbacks.errors import RecordRejected
from scf_worker.callbacks.notices import UploadNotice, notice_from_callback, notice_from_record
from scf_worker.callbacks.recorder import record_upload
from scf_worker.jobs.store import JobStore
from scf_worker.observability.logging import get_logger
from scf_worker.runtime.config import Settings
from scf_worker.runtime.errors import ApiError
from scf_worker.runtime.events import HttpRequest, parse_cos_record
from scf_worker.storage.base import ObjectStore
from scf_worker.uploads.audit import load_upload_limits, upload_violation
from scf_worker.webhooks.errors import VerificationError
from scf_worker.webhooks.signing import decode_secret, verify

log = get_logger(__name__)


class CallbackService:
    """Turn HTTP callbacks and COS records into recorded uploads."""

    def __init__(self, settings: Settings, jobs: JobStore, store: ObjectStore,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.jobs = jobs
        self.store = store
        self.clock = clock
        # Decoded at construction (cold start): a malformed or short secret fails here.
        self.keys = [decode_secret(secret) for secret in settings.callback_secrets]
        self.legacy_enabled = os.environ.get("CALLBACK_LEGACY_SIGNATURE", "").lower() == "true"
        self.upload_limits = load_upload_limits(settings)

    def handle_http(self, request: HttpRequest) -> dict[str, Any]:
        if request.method != "POST":
            raise ApiError("method_not_allowed", "use POST")
        if len(request.body) > self.settings.callback_max_body_bytes:
            raise ApiError("payload_too_large",
                           f"body is over {self.settings.callback_max_body_bytes} bytes")
        self.verify_signature(request.headers, request.body)
        notice = notice_from_callback(request.json())
        if notice.bucket != self.settings.cos_bucket:
            raise ApiError("invalid_params", "bucket is not the configured COS_BUCKET")
        outcome = record_upload(self.jobs, notice, request.request_id)
        log.info("upload_recorded", outcome=outcome.status, jobId=outcome.job_id, key=notice.key)
        return {"status": outcome.status, "jobId": outcome.job_id,
                "transcodeJobId": outcome.transcode_job_id}

    def verify_signature(self, headers: Mapping[str, str], body: bytes) -> None:
        if "webhook-signature" not in headers and self.legacy_enabled and "x-cos-signature" in headers:
            self._verify_legacy(headers["x-cos-signature"], body)
            return
        try:
            verify(headers, body, self.keys, self.settings.callback_tolerance_seconds, self.clock())
        except VerificationError as exc:
            log.warning("signature_rejected", reason=str(exc))
            raise ApiError("invalid_signature") from None

    def _verify_legacy(self, signature: str, body: bytes) -> None:
        for secret in self.settings.callback_secrets:
            expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            if hmac.compare_digest(expected, signature.strip().lower()):
                return
        log.warning("signature_rejected", reason="legacy x-cos-signature did not match")
        raise ApiError("invalid_signature")

    def handle_cos_event(self, event: Mapping[str, Any], request_id: str | None) -> list[dict[str, Any]]:
        """Process every record; each gets its own outcome so one bad record drops nothing."""
        outcomes = []
        for index, raw in enumerate(event.get("Records") or []):
            outcomes.append(self._handle_record(index, raw, request_id))
        return outcomes

    def _handle_record(self, index: int, raw: Any, request_id: str | None) -> dict[str, Any]:
        settings = self.settings
        try:
            record = parse_cos_record(raw)
            notice = notice_from_record(record, settings.cos_bucket, settings.appid,
                                        settings.bucket_short_name)
        except (ValueError, RecordRejected) as exc:
            rejection = exc.outcome if isinstance(exc, RecordRejected) else "invalid_record"
            log.warning("record_rejected", index=index, outcome=rejection, reason=str(exc))
            return {"index": index, "status": rejection}

        if notice.etag is None:
            info = self.store.head(notice.bucket, notice.key)
            if info is None:
                log.warning("object_gone", index=index, key=notice.key)
                return {"index": index, "status": "object_gone", "key": notice.key}
            notice = UploadNotice(notice.bucket, notice.key, info.etag, info.size,
                                  notice.mime or info.content_type)

        violation = upload_violation(self.upload_limits, notice.key, notice.size, notice.mime)
        if violation is not None:
            # STS cannot cap a multipart upload's size; an object that breaks the rules is removed.
            self.store.delete(notice.bucket, notice.key)
            log.warning("upload_rejected", index=index, key=notice.key, reason=violation)
            return {"index": index, "status": "upload_rejected", "key": notice.key}

        outcome = record_upload(self.jobs, notice, request_id)
        log.info("upload_recorded", index=index, outcome=outcome.status, jobId=outcome.job_id,
                 key=notice.key)
        return {"index": index, "status": outcome.status, "key": notice.key,
                "jobId": outcome.job_id, "transcodeJobId": outcome.transcode_job_id}
