"""Batch work on timers: manifest imports (media-import) and upload reconciliation (reconcile).

``HttpsFetcher`` lives in ``scf_worker.batch.fetch``, outside this list, because
importing it loads http.client and ssl, which reconcile never needs.
"""

from scf_worker.batch.config import BatchSettings, load_batch_settings
from scf_worker.batch.control import (
    NO_DEADLINE,
    Deadline,
    MonotonicDeadline,
    NullProgress,
    Progress,
    run_bounded,
)
from scf_worker.batch.errors import (
    BatchError,
    BlockedUrl,
    ImportBusy,
    LeaseLost,
    ManifestError,
    RowRejected,
    SourceUnavailable,
)
from scf_worker.batch.guard import AdmittedUrl, ResolvingUrlGuard, UrlGuard, blocked_category, describe_url
from scf_worker.batch.importer import Importer, ImportSummary
from scf_worker.batch.ledger import ImportLedger, ImportRecord, RowResult
from scf_worker.batch.manifest import ManifestRow, parse_manifest
from scf_worker.batch.preview import ImportPreview, preview_import
from scf_worker.batch.reconcile import Reconciler, ReconcileSummary, StuckJob
from scf_worker.batch.sniff import detect_media_type
from scf_worker.batch.sources import ManifestRef

__all__ = [
    "NO_DEADLINE",
    "AdmittedUrl",
    "BatchError",
    "BatchSettings",
    "BlockedUrl",
    "Deadline",
    "ImportBusy",
    "ImportLedger",
    "ImportPreview",
    "ImportRecord",
    "ImportSummary",
    "Importer",
    "LeaseLost",
    "ManifestError",
    "ManifestRef",
    "ManifestRow",
    "MonotonicDeadline",
    "NullProgress",
    "Progress",
    "ReconcileSummary",
    "Reconciler",
    "ResolvingUrlGuard",
    "RowRejected",
    "RowResult",
    "SourceUnavailable",
    "StuckJob",
    "UrlGuard",
    "blocked_category",
    "describe_url",
    "detect_media_type",
    "load_batch_settings",
    "parse_manifest",
    "preview_import",
    "run_bounded",
]
