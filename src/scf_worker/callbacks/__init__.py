"""cos-callback: verify callbacks and COS events, check each upload, record it once."""

from scf_worker.callbacks.errors import CallbackError, RecordRejected, RecordsPending
from scf_worker.callbacks.notices import UploadNotice, notice_from_callback, notice_from_record
from scf_worker.callbacks.recorder import RecordOutcome, SqlUploadRecorder, UploadRecorder, VerifiedUpload
from scf_worker.callbacks.service import Budget, CallbackService
from scf_worker.callbacks.signatures import CallbackVerifier

__all__ = [
    "Budget",
    "CallbackError",
    "CallbackService",
    "CallbackVerifier",
    "RecordOutcome",
    "RecordRejected",
    "RecordsPending",
    "SqlUploadRecorder",
    "UploadNotice",
    "UploadRecorder",
    "VerifiedUpload",
    "notice_from_callback",
    "notice_from_record",
]
