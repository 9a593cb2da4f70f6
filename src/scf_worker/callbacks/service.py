"""cos-callback: verify, normalise, check the object, and record each upload once.

Two layers keep it exactly-once:

1. An idempotency claim per delivery: the ``webhook-id`` of an HTTP callback,
   or the identity of a COS record. A duplicate delivery gets the stored
   response; one that arrives while the first is still running waits for it.
   When the claims live in the SQL database of the records, the claim is
   written as COMPLETED in the transaction that records the upload, after the
   read-only checks, so a new upload commits once
   (``run_once_in_transaction``); otherwise it is an IN_PROGRESS claim with a
   lease around the whole work (``run_once``).
2. The unique job key on the upload record (bucket, object key and ETag), so
   an HTTP callback and a COS event for the same upload, or two deliveries
   with different ids, still record it once.

Each COS record has its own outcome. Records that could not finish (a live
claim elsewhere, a store error) make the invocation raise after every record
was tried, so SCF retries the event and the finished records replay.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from scf_worker.callbacks.errors import RecordRejected, RecordsPending
from scf_worker.callbacks.notices import UploadNotice, notice_from_callback, notice_from_record
from scf_worker.callbacks.recorder import (
    RECORD_REJECTED,
    RecordOutcome,
    SqlUploadRecorder,
    UploadRecorder,
    VerifiedUpload,
    planned_outcome,
)
from scf_worker.callbacks.redis_recorder import RedisUploadRecorder
from scf_worker.callbacks.signatures import CallbackVerifier
from scf_worker.callbacks.verification import SNIFF_BYTES, Violation, check_size, check_type
from scf_worker.idempotency.base import IdempotencyStore, fingerprint
from scf_worker.idempotency.errors import AlreadyInProgress, IdempotencyConflict
from scf_worker.idempotency.redis import RedisIdempotencyStore
from scf_worker.idempotency.runner import (
    Completed,
    Prepared,
    RunResult,
    run_once,
    run_once_in_transaction,
)
from scf_worker.idempotency.sql import SqlIdempotencyStore
from scf_worker.observability import logging as obs_logging
from scf_worker.observability.logging import get_logger
from scf_worker.runtime.config import Settings
from scf_worker.runtime.errors import ApiError
from scf_worker.runtime.events import HttpRequest, parse_cos_record
from scf_worker.runtime.invocation import Invocation
from scf_worker.state.errors import StateError
from scf_worker.state.sql import Row, Transaction
from scf_worker.storage.base import ObjectInfo, ObjectStore
from scf_worker.storage.errors import ObjectNotFound, StorageError
from scf_worker.uploads.audit import load_upload_limits, upload_violation

log = get_logger(__name__)
# Kept back from the invocation's time limit when waiting for another holder's claim.
WAIT_MARGIN_SECONDS = 1.0
SignedSizeLookup = Callable[[str, str], "int | None"]


@dataclass(frozen=True)
class Budget:
    """How long a claim is leased for, and how long to wait for someone else's."""

    lease_seconds: float
    wait_seconds: float


class _NotFinal(Exception):
    """An answer that must not be stored as the claim's result: the object may still appear.

    COS can deliver an event before the object is readable; raising releases the claim, so a
    redelivery looks again instead of replaying ``object_gone``.
    """

    def __init__(self, response: dict[str, Any]) -> None:
        self.response = response
        super().__init__(response.get("status"))


class _ObjectGone(Exception):
    """The object disappeared between the HEAD and the read of its first bytes."""


@dataclass(frozen=True)
class _Write:
    """A checked upload to record: accepted when ``reason`` is None, else rejected."""

    upload: VerifiedUpload
    reason: str | None


def _no_signed_size(bucket: str, key: str) -> int | None:
    return None


def _exact(notice: UploadNotice) -> bool:
    """Return whether the notice names one key and an ETag, so its record is known before any HEAD."""
    return len(notice.keys) == 1 and notice.etag is not None


def _known(notice: UploadNotice | Callable[[], UploadNotice]) -> UploadNotice:
    return notice if isinstance(notice, UploadNotice) else notice()


class CallbackService:
    """Turn HTTP callbacks and COS records into recorded (or rejected) uploads."""

    def __init__(self, settings: Settings, recorder: UploadRecorder, store: ObjectStore,
                 idempotency: IdempotencyStore, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep,
                 signed_size: SignedSizeLookup = _no_signed_size) -> None:
        self.settings = settings
        self.recorder = recorder
        self.store = store
        self.idempotency = idempotency
        self.clock = clock
        self.sleep = sleep
        # NOTE: media-sign does not record its grants where this function can read them
        # yet, so the default lookup returns None and the limit falls back to the
        # declared size, then MAX_UPLOAD_BYTES.
        self.signed_size = signed_size
        self.upload_limits = load_upload_limits(settings)
        self.verifier = CallbackVerifier(settings.callback_secrets, settings.callback_tolerance_seconds,
                                         settings.callback_legacy_signature, clock)
        # Claims and records in one SQL database: one transaction per new upload.
        self.one_transaction: tuple[SqlIdempotencyStore, SqlUploadRecorder] | None = None
        if (isinstance(idempotency, SqlIdempotencyStore) and isinstance(recorder, SqlUploadRecorder)
                and idempotency.db is recorder.jobs.db):
            self.one_transaction = idempotency, recorder
        # Claims and records on one Redis: the record script also completes the claim.
        self.same_redis: tuple[RedisIdempotencyStore, RedisUploadRecorder] | None = None
        if (isinstance(idempotency, RedisIdempotencyStore) and isinstance(recorder, RedisUploadRecorder)
                and settings.idempotency_url in (None, "", settings.state_url)):
            self.same_redis = idempotency, recorder

    def budget(self, invocation: Invocation) -> Budget:
        """Lease for the function's time limit plus a margin; wait at most IDEMPOTENCY_WAIT_MS."""
        settings = self.settings
        lease = invocation.time_limit_ms / 1000 + settings.idempotency_lease_margin_seconds
        remaining = invocation.remaining_ms() / 1000 - WAIT_MARGIN_SECONDS
        return Budget(lease, max(0.0, min(settings.idempotency_wait_ms / 1000, remaining)))

    # HTTP callbacks

    def handle_http(self, request: HttpRequest, budget: Budget) -> dict[str, Any]:
        if request.method != "POST":
            raise ApiError("method_not_allowed", "use POST")
        cap = self.settings.callback_max_body_bytes
        if len(request.body) > cap:
            raise ApiError("payload_too_large", f"body is over {cap} bytes")
        webhook_id = self.verifier.verify(request.headers, request.body)

        claim_key = (f"cos-callback:webhook:{webhook_id}" if webhook_id is not None
                     else f"cos-callback:body:{hashlib.sha256(request.body).hexdigest()}")
        try:
            # The fingerprint is of the signed bytes: a sender retries a message id with the
            # same bytes, and any other body under that id is a conflict. The body is parsed
            # inside the work, so a duplicate gets its response without parsing it again.
            body_fingerprint = hashlib.sha256(request.body).hexdigest()
            result = self._run(claim_key, body_fingerprint, lambda: self._notice(request), budget,
                               request.request_id)
        except IdempotencyConflict:
            raise ApiError("idempotency_conflict",
                           "this webhook-id was first used with a different body") from None
        except AlreadyInProgress:
            raise ApiError("in_progress", "the same callback is still being processed; retry later") from None
        except _NotFinal as answer:
            return answer.response
        except (StateError, StorageError) as exc:
            log.error("callback_store_failed", errorClass=type(exc).__name__, error=str(exc))
            raise ApiError("unavailable", "a store is unavailable; retry later") from None
        response: dict[str, Any] = result.response
        # Bound, not logged: the invocation_end line carries these, one line per request.
        obs_logging.bind(outcome=response.get("status"), replayed=result.replayed,
                         key=response.get("key"), jobId=response.get("jobId"))
        return response

    def _notice(self, request: HttpRequest) -> UploadNotice:
        notice = notice_from_callback(request.json())
        if notice.bucket != self.settings.cos_bucket:
            raise ApiError("invalid_params", f"bucket {notice.bucket!r} is not the configured bucket")
        return notice

    def _run(self, claim_key: str, payload_fingerprint: str,
             notice: UploadNotice | Callable[[], UploadNotice], budget: Budget,
             request_id: str | None) -> RunResult:
        """Run the upload's work once per claim key; ``notice`` may be parsed only when needed."""
        if self.one_transaction is not None:
            return self._run_in_transaction(*self.one_transaction, claim_key, payload_fingerprint,
                                            notice, budget, request_id)
        if self.same_redis is not None:
            return self._run_on_redis(*self.same_redis, claim_key, payload_fingerprint, notice,
                                      budget, request_id)
        return run_once(self.idempotency, claim_key, payload_fingerprint, budget.lease_seconds,
                        lambda: self._process(_known(notice), request_id), budget.wait_seconds,
                        self.sleep)

    def _run_in_transaction(self, store: SqlIdempotencyStore, recorder: SqlUploadRecorder,
                            claim_key: str, payload_fingerprint: str,
                            notice: UploadNotice | Callable[[], UploadNotice], budget: Budget,
                            request_id: str | None) -> RunResult:
        written: list[tuple[VerifiedUpload, RecordOutcome]] = []
        exact = isinstance(notice, UploadNotice) and _exact(notice)
        # An HTTP duplicate gets its response from the claim alone, without parsing the body, so
        # the record is read with the claim only when the notice is already at hand (COS events).
        beside = (recorder.beside(notice.bucket, notice.key, notice.etag)
                  if isinstance(notice, UploadNotice) and exact and notice.etag else None)

        def prepare(row: Row | None) -> Prepared:
            written.clear()
            found = (lambda: recorder.found(row)) if beside is not None else None
            plan = self._prepare(_known(notice), found)
            if not isinstance(plan, _Write):
                return Prepared(plan)
            if plan.reason is not None:
                # A rejection is recorded and quarantined before its key is stored, so a
                # quarantine that fails leaves no key behind and the retry finishes it.
                return Prepared(self._write(plan, request_id))
            upload, reason = plan.upload, plan.reason

            def write(tx: Transaction) -> dict[str, Any]:
                written.append((upload, recorder.write_in(tx, upload, reason, request_id)))
                return self._describe(written[-1][1])

            return Prepared(self._describe(planned_outcome(upload, reason)), write)

        result = run_once_in_transaction(store, claim_key, payload_fingerprint, prepare,
                                         budget.wait_seconds, self.sleep, beside=beside)
        # The upload was found rejected inside the transaction (another delivery recorded it
        # meanwhile): finish its quarantine after the commit, as a duplicate does.
        if not result.replayed and written and written[-1][1].stored == RECORD_REJECTED:
            self._quarantine(written[-1][0].bucket, written[-1][0].key)
        return result

    def _run_on_redis(self, store: RedisIdempotencyStore, recorder: RedisUploadRecorder,
                      claim_key: str, payload_fingerprint: str,
                      notice: UploadNotice | Callable[[], UploadNotice], budget: Budget,
                      request_id: str | None) -> RunResult:
        claimed: dict[str, str] = {}

        def claim() -> str:
            claimed["token"] = store.claim(claim_key, payload_fingerprint, budget.lease_seconds)
            return claimed["token"]

        def work() -> Any:
            plan = self._prepare(_known(notice))
            if not isinstance(plan, _Write):
                return plan
            if plan.reason is not None:
                # Quarantined before the claim completes, so a failed quarantine releases it.
                return self._write(plan, request_id)
            expected = self._describe(planned_outcome(plan.upload, plan.reason))
            outcome, completed = recorder.write_completing(
                plan.upload, plan.reason, request_id,
                store.completion(claim_key, expected, claimed["token"]))
            if outcome.stored == RECORD_REJECTED:
                self._quarantine(plan.upload.bucket, plan.upload.key)
            # Not completed: a duplicate record (its response differs), a lost lease or a cluster.
            return Completed(expected) if completed else self._describe(outcome)

        return run_once(store, claim_key, payload_fingerprint, budget.lease_seconds, work,
                        budget.wait_seconds, self.sleep, claim=claim)

    # COS trigger events

    def handle_cos_event(self, event: Mapping[str, Any], budget: Budget,
                         request_id: str | None) -> list[dict[str, Any]]:
        """Process every record; raise RecordsPending when some must be retried."""
        records = event.get("Records") or []
        outcomes = [self._handle_record(index, raw, budget, request_id)
                    for index, raw in enumerate(records)]
        pending = sum(1 for o in outcomes if o["status"] in ("in_progress", "error"))
        if pending:
            raise RecordsPending(pending, len(outcomes))
        return outcomes

    def _handle_record(self, index: int, raw: Any, budget: Budget,
                       request_id: str | None) -> dict[str, Any]:
        settings = self.settings
        try:
            if not isinstance(raw, Mapping):
                raise ValueError("record is not an object")
            notice = notice_from_record(parse_cos_record(raw), settings.cos_bucket, settings.appid,
                                        settings.bucket_short_name)
            if notice.key.startswith(settings.callback_quarantine_prefix):
                raise RecordRejected("ignored_quarantine", "the key is under the quarantine prefix")
        except (ValueError, RecordRejected) as exc:
            status = exc.outcome if isinstance(exc, RecordRejected) else "invalid_record"
            log.warning("record_rejected", index=index, outcome=status, reason=str(exc))
            return {"index": index, "status": status}

        identity = [notice.bucket, list(notice.keys), notice.etag or "", notice.version_id]
        claim_key = "cos-callback:record:" + fingerprint(identity)
        try:
            result = self._run(claim_key, fingerprint(identity), notice, budget, request_id)
        except AlreadyInProgress:
            log.warning("record_in_progress", index=index, key=notice.key)
            return {"index": index, "status": "in_progress", "key": notice.key}
        except _NotFinal as answer:
            return {"index": index, **answer.response, "replayed": False}
        except (StateError, StorageError) as exc:
            log.error("record_store_failed", index=index, key=notice.key,
                      errorClass=type(exc).__name__, error=str(exc))
            return {"index": index, "status": "error", "key": notice.key, "code": type(exc).__name__}
        outcome = {"index": index, **result.response, "replayed": result.replayed}
        if result.replayed:
            # A redelivery is a duplicate whatever the first delivery's outcome was.
            outcome["firstStatus"], outcome["status"] = outcome["status"], "duplicate"
        log.info("record_processed", index=index, outcome=outcome["status"], replayed=result.replayed,
                 key=outcome.get("key"), jobId=outcome.get("jobId"))
        return outcome

    # One upload, from either source

    def _process(self, notice: UploadNotice, request_id: str | None) -> dict[str, Any]:
        plan = self._prepare(notice)
        return self._write(plan, request_id) if isinstance(plan, _Write) else plan

    def _write(self, plan: _Write, request_id: str | None) -> dict[str, Any]:
        """Record the upload, then quarantine it when its record is a rejection."""
        if plan.reason is None:
            outcome = self.recorder.record(plan.upload, request_id)
        else:
            outcome = self.recorder.reject(plan.upload, plan.reason, request_id)
        if outcome.stored == RECORD_REJECTED:
            self._quarantine(plan.upload.bucket, plan.upload.key)
        return self._describe(outcome)

    def _prepare(self, notice: UploadNotice,
                 found: Callable[[], RecordOutcome | None] | None = None) -> dict[str, Any] | _Write:
        """Do every read: return the answer when nothing is to be written, else the record to write.

        ``found`` returns the exact notice's record when it was already read. Raise
        _NotFinal when the object is not there (yet).
        """
        exact = _exact(notice)
        if exact and notice.etag is not None:
            existing = (found() if found is not None
                        else self.recorder.find(notice.bucket, notice.key, notice.etag))
            if existing is not None:
                return self._duplicate(existing)

        resolved = self._resolve(notice)
        if resolved is None:
            log.warning("object_gone", key=notice.key)
            raise _NotFinal({"status": "object_gone", "key": notice.key})
        key, info = resolved
        if notice.etag is not None and notice.etag != info.etag:
            log.info("object_superseded", key=key, etag=notice.etag, currentEtag=info.etag)
            return {"status": "superseded", "key": key, "etag": notice.etag, "currentEtag": info.etag}
        if not exact:
            existing = self.recorder.find(notice.bucket, key, info.etag)
            if existing is not None:
                return self._duplicate(existing)

        upload = VerifiedUpload(notice.bucket, key, info.etag, info.size, notice.mime or info.content_type)
        try:
            violation = self._verify(upload, notice.declared_size)
        except _ObjectGone:
            log.warning("object_gone", key=key)
            raise _NotFinal({"status": "object_gone", "key": key}) from None
        if violation is not None:
            log.warning("upload_rejected", key=key, reason=violation.reason, detail=violation.detail)
            return _Write(upload, violation.reason)
        return _Write(upload, None)

    def _resolve(self, notice: UploadNotice) -> tuple[str, ObjectInfo] | None:
        """HEAD each candidate key in order; the first that exists is the stored key."""
        for key in notice.keys:
            info = self.store.head(notice.bucket, key)
            if info is not None:
                if key != notice.keys[0]:
                    log.info("key_resolved_by_head", key=key, deliveredKey=notice.keys[0])
                return key, info
        return None

    def _verify(self, upload: VerifiedUpload, declared_size: int | None) -> Violation | None:
        limits = (self.signed_size(upload.bucket, upload.key), declared_size,
                  self.settings.max_upload_bytes)
        violation = check_size(upload.size, min(limit for limit in limits if limit is not None))
        if violation is not None:
            return violation
        first_bytes = self.store.read_first_bytes(upload.bucket, upload.key, SNIFF_BYTES)
        if first_bytes is None:
            raise _ObjectGone(upload.key)
        violation = check_type(upload.mime, first_bytes)
        if violation is not None:
            return violation
        # The rules media-sign issues credentials under: extension allow-list, matching
        # Content-Type and the per-MIME size cap, which a multipart upload can exceed.
        rule = upload_violation(self.upload_limits, upload.key, upload.size, upload.mime)
        return Violation("upload_rules", rule) if rule is not None else None

    def _quarantine(self, bucket: str, key: str) -> None:
        """Move a rejected object under the quarantine prefix; a repeat is harmless."""
        destination = self.settings.callback_quarantine_prefix + key
        try:
            self.store.copy(bucket, key, destination)
        except ObjectNotFound:
            return
        self.store.delete(bucket, key)
        log.warning("upload_quarantined", key=key, quarantineKey=destination)

    def _duplicate(self, existing: RecordOutcome) -> dict[str, Any]:
        if existing.stored == RECORD_REJECTED:
            self._quarantine(self.settings.cos_bucket, existing.key)
        return self._describe(existing)

    @staticmethod
    def _describe(outcome: RecordOutcome) -> dict[str, Any]:
        described: dict[str, Any] = {"status": outcome.status, "key": outcome.key, "etag": outcome.etag,
                                     "jobId": outcome.job_id, "transcodeJobId": outcome.transcode_job_id}
        if outcome.reason:
            described["reason"] = outcome.reason
        return described
