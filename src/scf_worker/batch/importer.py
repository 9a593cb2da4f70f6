"""media-import: turn manifest rows into stored objects, upload records and scheduled transcodes.

Each row goes through the same idempotent path as a real upload
(``SqlUploadRecorder.record``), so importing a row twice, or importing an object whose
upload event also arrives, records it once. Work is cut into chunks. After each
chunk the checkpoint moves past every row with a final result. A run stops
starting rows when its deadline nears, and the next invocation resumes from
the checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from threading import Lock
from typing import TYPE_CHECKING, Any

from scf_worker.batch.config import MANIFEST_SUFFIXES, REPORT_SUFFIX, BatchSettings
from scf_worker.batch.control import NO_DEADLINE, Deadline, NullProgress, Progress, run_bounded
from scf_worker.batch.errors import ImportBusy, LeaseLost, ManifestError, RowRejected, SourceUnavailable
from scf_worker.batch.guard import ResolvingUrlGuard, UrlGuard, describe_url
from scf_worker.batch.ledger import (
    ROW_ALREADY_IMPORTED,
    ROW_FAILED,
    ROW_IMPORTED,
    ROW_PENDING,
    ROW_REJECTED,
    STATUS_DONE,
    STATUS_FAILED,
    STATUS_RUNNING,
    ImportLedger,
    ImportRecord,
    RowResult,
)
from scf_worker.batch.manifest import ManifestRow, key_problem, parse_manifest
from scf_worker.batch.sniff import detect_file_type, extension_for
from scf_worker.batch.sources import ManifestRef, import_id_for, read_manifest, safe_label, write_report
from scf_worker.callbacks.recorder import SqlUploadRecorder, VerifiedUpload
from scf_worker.jobs.store import JobStore
from scf_worker.observability.logging import get_logger
from scf_worker.runtime.config import Settings
from scf_worker.storage.base import ObjectInfo, ObjectStore
from scf_worker.storage.errors import ObjectNotFound

if TYPE_CHECKING:
    from scf_worker.batch.fetch import HttpsFetcher

log = get_logger(__name__)


@dataclass
class ImportSummary:
    """The state of an import after a run; ``processed`` counts only this run's rows."""

    import_id: str
    manifest: str
    status: str
    pass_number: int
    total_rows: int
    next_row: int
    totals: dict[str, int] = field(default_factory=dict)
    processed: dict[str, int] = field(default_factory=dict)
    report: str | None = None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"importId": self.import_id, "manifest": self.manifest, "status": self.status,
                "pass": self.pass_number, "totalRows": self.total_rows, "nextRow": self.next_row,
                "totals": self.totals, "thisRun": self.processed, "report": self.report,
                "error": self.error}


class Importer:
    """Import manifests into the bucket; one instance serves many runs."""

    def __init__(self, settings: Settings, batch: BatchSettings, jobs: JobStore, store: ObjectStore,
                 scratch: Path, clock: Callable[[], float] = time.time,
                 guard: UrlGuard | None = None, fetcher: HttpsFetcher | None = None) -> None:
        """Build an importer; the HTTPS fetcher is built on first use unless given."""
        self.settings = settings
        self.batch = batch
        self.jobs = jobs
        self.store = store
        self.scratch = scratch
        self.ledger = ImportLedger(jobs.db, clock)
        self.guard = guard or ResolvingUrlGuard(batch.allow_loopback)
        self._fetcher = fetcher

    @property
    def fetcher(self) -> HttpsFetcher:
        if self._fetcher is None:
            from scf_worker.batch.fetch import HttpsFetcher

            batch = self.batch
            self._fetcher = HttpsFetcher(self.guard, batch.max_source_bytes, batch.fetch_timeout_seconds,
                                         batch.fetch_total_seconds, batch.max_redirects)
        return self._fetcher

    @property
    def bucket(self) -> str:
        return self.settings.cos_bucket

    # Starting imports

    def register(self, ref: ManifestRef, rerun: bool = False) -> tuple[ImportRecord, int]:
        """Check a manifest and record it as an import to run; return the record and its row count.

        With ``rerun``, a finished import starts a new pass. Raise ManifestError
        when the manifest cannot be read.
        """
        data, etag = read_manifest(ref, self.store, self.batch.max_manifest_bytes, self.scratch)
        rows = parse_manifest(data, ref.name, self.batch.max_rows)
        import_id = import_id_for(ref, etag)
        record = self.ledger.register(import_id, ref.url, etag)
        if rerun and record.status != STATUS_RUNNING:
            owner = f"register-{uuid.uuid4().hex}"
            record = self.ledger.claim(import_id, owner, self.batch.lease_seconds, rerun=True)
            self.ledger.release(import_id, owner)
        log.info("import_registered", importId=import_id, manifest=ref.url, rows=len(rows),
                 status=record.status, passNumber=record.pass_number)
        return record, len(rows)

    def store_posted(self, data: bytes, fmt: str) -> ManifestRef:
        """Store a manifest posted in a request body under the manifest prefix; return its reference."""
        digest = hashlib.sha256(data).hexdigest()[:16]
        day = time.strftime("%Y%m%d", time.gmtime())
        key = f"{self.batch.manifest_prefix}posted/{day}/{digest}.{fmt}"
        if self.store.head(self.bucket, key) is None:
            with tempfile.NamedTemporaryFile(dir=self.scratch, delete=False) as handle:
                handle.write(data)
            try:
                self.store.upload(self.bucket, key, Path(handle.name), "text/plain; charset=utf-8")
            finally:
                Path(handle.name).unlink()
        return ManifestRef.stored(self.bucket, key)

    def pending_refs(self) -> list[ManifestRef]:
        """List stored manifests with work left: running imports first, then new inbox manifests."""
        refs: list[ManifestRef] = []
        for record in self.ledger.resumable():
            prefix = f"cos://{self.bucket}/"
            # A local file imported by the CLI cannot be read from here; the CLI resumes it.
            if record.manifest_url.startswith(prefix):
                refs.append(ManifestRef.stored(self.bucket, record.manifest_url[len(prefix):]))

        for key in self.store.list_keys(self.bucket, self.batch.manifest_prefix):
            if not key.lower().endswith(MANIFEST_SUFFIXES) or key.endswith(REPORT_SUFFIX):
                continue
            ref = ManifestRef.stored(self.bucket, key)
            if ref in refs:
                continue
            info = self.store.head(self.bucket, key)
            if info is None:
                continue
            known = self.ledger.get(import_id_for(ref, info.etag))
            if known is None or known.status == STATUS_RUNNING:
                refs.append(ref)
        return refs

    def run_pending(self, deadline: Deadline, request_id: str | None = None) -> list[ImportSummary]:
        """Work on every import with work left until the deadline (the timer trigger)."""
        summaries = []
        for ref in self.pending_refs():
            if deadline.expired():
                break
            try:
                summaries.append(self.run(ref, deadline, request_id=request_id))
            except ImportBusy as exc:
                log.info("import_busy", manifest=ref.url, reason=str(exc))
            except LeaseLost as exc:
                log.warning("import_lease_lost", manifest=ref.url, reason=str(exc))
        return summaries

    # Running imports

    def run(self, ref: ManifestRef, deadline: Deadline = NO_DEADLINE, progress: Progress | None = None,
            rerun: bool = False, concurrency: int | None = None,
            request_id: str | None = None) -> ImportSummary:
        """Run an import from its checkpoint until it is done or the deadline nears.

        A finished import is left alone unless ``rerun`` starts a new pass.
        Raise ImportBusy while another invocation has the lease. Errors of the
        state or object store propagate and leave the checkpoint for a retry.
        """
        progress = progress or NullProgress()
        data: bytes | None = None
        try:
            data, etag = read_manifest(ref, self.store, self.batch.max_manifest_bytes, self.scratch)
        except ManifestError as exc:
            log.error("manifest_unreadable", manifest=ref.url, error=str(exc))
            if exc.etag is None:
                return ImportSummary("", ref.url, STATUS_FAILED, 0, 0, 0, error=str(exc))
            # Record the failure, so the timer does not retry this manifest every tick.
            etag, error = exc.etag, str(exc)

        import_id = import_id_for(ref, etag)
        self.ledger.register(import_id, ref.url, etag)
        owner = f"{request_id or 'run'}-{uuid.uuid4().hex[:12]}"
        record = self.ledger.claim(import_id, owner, self.batch.lease_seconds, rerun=rerun)
        try:
            if record.status != STATUS_RUNNING:
                return self._summary(record, Counter(), report=ref.report_url)
            run = _ImportRun(self, ref, record, owner, request_id, progress)
            if data is None:
                return run.fail_manifest(error)
            return run.execute(data, deadline, concurrency or self.batch.import_concurrency)
        finally:
            self.ledger.release(import_id, owner)

    def _summary(self, record: ImportRecord, processed: Counter[str], report: str | None = None,
                 error: str | None = None) -> ImportSummary:
        current = self.ledger.get(record.import_id) or record
        return ImportSummary(
            import_id=current.import_id, manifest=current.manifest_url, status=current.status,
            pass_number=current.pass_number, total_rows=current.total_rows or 0,
            next_row=current.next_row, totals=self.ledger.totals(current.import_id, current.pass_number),
            processed=dict(processed), report=report,
            error=error or current.error,
        )


def check_target_key(key: str, settings: Settings, batch: BatchSettings) -> None:
    """Raise RowRejected when a key cannot receive an import: unsafe, or under a reserved prefix."""
    problem = key_problem(key)
    if problem:
        raise RowRejected("invalid_key", f"the target key {problem}")
    for reserved, purpose in ((settings.output_prefix, "transcode outputs (OUTPUT_PREFIX)"),
                              (batch.manifest_prefix, "manifests (IMPORT_MANIFEST_PREFIX)")):
        if key.startswith(reserved):
            raise RowRejected("invalid_key", f"the target key is under {reserved}, the prefix for {purpose}")


class _ImportRun:
    """One run over one import: the rows from its checkpoint on, in chunks."""

    def __init__(self, importer: Importer, ref: ManifestRef, record: ImportRecord, owner: str,
                 request_id: str | None, progress: Progress) -> None:
        self.importer = importer
        self.ref = ref
        self.record = record
        self.owner = owner
        self.request_id = request_id
        self.progress = progress
        self.processed: Counter[str] = Counter()
        self.scratch = importer.scratch
        self._lock = Lock()
        # SQLite admits one writer at a time and makes the others poll with growing
        # sleeps. Queueing this run's writes on a lock avoids that stall. MySQL
        # takes concurrent transactions.
        self._writes: AbstractContextManager[Any] = (
            Lock() if importer.jobs.db.dialect == "sqlite" else nullcontext())

    @property
    def import_id(self) -> str:
        return self.record.import_id

    def execute(self, data: bytes, deadline: Deadline, concurrency: int) -> ImportSummary:
        try:
            rows = parse_manifest(data, self.ref.name, self.importer.batch.max_rows)
        except ManifestError as exc:
            return self.fail_manifest(str(exc))
        # One scratch folder per run; each row's download is a file in it, removed after the row.
        self.scratch = Path(tempfile.mkdtemp(prefix="import-", dir=self.importer.scratch))
        try:
            return self._execute(rows, deadline, concurrency)
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def _execute(self, rows: list[ManifestRow], deadline: Deadline, concurrency: int) -> ImportSummary:
        ledger, batch = self.importer.ledger, self.importer.batch
        total = len(rows)
        ledger.set_total(self.import_id, self.owner, total, batch.lease_seconds)
        cursor = self.record.next_row
        known = ledger.rows(self.import_id, self.record.pass_number, start=cursor)
        log.info("import_started", importId=self.import_id, manifest=self.ref.url, totalRows=total,
                 nextRow=cursor, passNumber=self.record.pass_number)
        self.progress.start(total, cursor + sum(1 for r in known.values() if r.is_final))

        while cursor < total and not deadline.expired():
            end = min(cursor + batch.chunk_rows, total)
            results = self._run_chunk(rows[cursor:end], known, deadline, concurrency)
            next_row = cursor
            while next_row < end and results.get(next_row) is not None:
                next_row += 1
            ledger.checkpoint(self.import_id, self.owner, next_row, batch.lease_seconds)
            log.info("import_checkpoint", importId=self.import_id, nextRow=next_row, totalRows=total)
            cursor = next_row
            if cursor < end:
                break
        self.progress.finish()

        if cursor < total:
            log.info("import_paused", importId=self.import_id, nextRow=cursor, totalRows=total)
            return self.importer._summary(self.record, self.processed)
        return self._complete()

    def _run_chunk(self, chunk: list[ManifestRow], known: dict[int, RowResult], deadline: Deadline,
                   concurrency: int) -> dict[int, RowResult | None]:
        results: dict[int, RowResult | None] = {}
        todo = []
        for row in chunk:
            prior = known.get(row.index)
            if prior is not None and prior.is_final:
                results[row.index] = prior
            else:
                todo.append((row, prior))
        finished = run_bounded(lambda item: self._process(item[0], item[1], deadline), todo, concurrency)
        for (row, _), result in zip(todo, finished, strict=True):
            results[row.index] = result
        return results

    def _process(self, row: ManifestRow, prior: RowResult | None, deadline: Deadline) -> RowResult | None:
        """Import one row and store its final result; return None when the deadline came first."""
        if deadline.expired():
            return None
        was_pending = prior is not None and prior.status == ROW_PENDING
        shown_source = describe_url(row.source) if row.source and row.is_url else row.source
        base = RowResult(row.index, ROW_PENDING, row.label, meta=row.meta, source=shown_source)
        try:
            if row.problem is not None:
                raise row.problem
            result = self._import_row(row, base, was_pending)
        except RowRejected as exc:
            result = replace(base, status=ROW_REJECTED, reason=exc.reason, detail=exc.detail)
            log.info("import_row_rejected", importId=self.import_id, row=row.number, reason=exc.reason,
                     detail=exc.detail)
        except SourceUnavailable as exc:
            result = replace(base, status=ROW_FAILED, reason=exc.reason, detail=exc.detail)
            log.warning("import_row_failed", importId=self.import_id, row=row.number, reason=exc.reason,
                        detail=exc.detail)

        self._save(result)
        with self._lock:
            self.processed[result.status] += 1
        self.progress.advance(result.status)
        return result

    def _import_row(self, row: ManifestRow, base: RowResult, was_pending: bool) -> RowResult:
        assert row.source is not None
        importer = self.importer
        bucket = importer.bucket
        local = self.scratch / f"row-{row.index}"
        try:
            source_info = self._fetch(row, local)
            size = local.stat().st_size
            mime, detected = detect_file_type(local)
            if mime is None:
                raise RowRejected("not_media", f"the content is {detected}, not an allowed media type")
            key = self._target_key(row, mime)
            in_place = source_info is not None and key == row.source

            # Mark the row before anything is stored or recorded, so a run killed
            # after that point is recognised as the importer of the object.
            pending = replace(base, key=key, size=size, mime=mime)
            self._save(pending)
            if in_place:
                assert source_info is not None
                etag, stored = source_info.etag, False
            else:
                etag, stored = self._store(local, key, mime, size)
        finally:
            local.unlink(missing_ok=True)

        with self._writes:
            outcome = SqlUploadRecorder(importer.jobs).record(
                VerifiedUpload(bucket, key, etag, size, mime), self.request_id)
        ours = outcome.status == "recorded" or stored or was_pending
        log.debug("import_row_done", importId=self.import_id, row=row.number, key=key,
                  outcome=outcome.status, jobId=outcome.job_id)
        return replace(pending, status=ROW_IMPORTED if ours else ROW_ALREADY_IMPORTED, etag=etag,
                       job_id=outcome.job_id, transcode_job_id=outcome.transcode_job_id)

    def _save(self, result: RowResult) -> None:
        with self._writes:
            self.importer.ledger.save_row(self.import_id, self.record.pass_number, self.owner, result,
                                          self.importer.batch.lease_seconds)

    def _fetch(self, row: ManifestRow, local: Path) -> ObjectInfo | None:
        """Download the row's source; return the source object's info for a key, None for a URL."""
        assert row.source is not None
        importer = self.importer
        if row.is_url:
            try:
                importer.fetcher.fetch(row.source, local)
            except (RowRejected, SourceUnavailable):
                raise
            except Exception as exc:  # noqa: BLE001 (one odd URL must not stall the whole import)
                # The error text and the traceback may quote the URL and its signature,
                # so only the class is logged.
                error_class = type(exc).__name__
                log.error("import_fetch_error", importId=self.import_id, row=row.number,
                          errorClass=error_class)
                raise SourceUnavailable("fetch_failed", f"fetching failed with {error_class}") from None
            return None
        limit = importer.batch.max_source_bytes
        info = importer.store.head(importer.bucket, row.source)
        if info is None:
            raise RowRejected("source_not_found", f"object {row.source} does not exist")
        if info.size > limit:
            raise RowRejected("too_large", f"the object has {info.size} bytes, over the {limit}-byte limit")
        try:
            importer.store.download(importer.bucket, row.source, local)
        except ObjectNotFound:
            raise RowRejected("source_not_found",
                              f"object {row.source} was deleted while importing") from None
        if local.stat().st_size > limit:
            raise RowRejected("too_large", f"the object is over the {limit}-byte limit")
        return info

    def _target_key(self, row: ManifestRow, mime: str) -> str:
        if row.key is not None:
            key = row.key
        elif not row.is_url:
            assert row.source is not None
            key = row.source
        else:
            key = (f"{self.importer.batch.target_prefix}{self.ref.stem}/"
                   f"{safe_label(row.label)}.{extension_for(mime)}")
        check_target_key(key, self.importer.settings, self.importer.batch)
        return key

    def _store(self, local: Path, key: str, mime: str, size: int) -> tuple[str, bool]:
        """Upload unless the key already contains this content; return (ETag, whether this run stored it)."""
        importer = self.importer
        digest = _md5_file(local)
        existing = importer.store.head(importer.bucket, key)
        if existing is not None:
            # A multipart ETag is not the content's MD5; the size is all that can be compared.
            same = existing.etag == digest or ("-" in existing.etag and existing.size == size)
            if not same:
                raise RowRejected("target_exists", f"object {key} already exists with other content")
            return existing.etag, False
        stored = importer.store.upload(importer.bucket, key, local, mime)
        return stored.etag, True

    def _complete(self) -> ImportSummary:
        importer = self.importer
        results = importer.ledger.rows(self.import_id, self.record.pass_number)
        lines = [json.dumps(results[index].report_line(), ensure_ascii=False) for index in sorted(results)]
        data = ("\n".join(lines) + "\n").encode()
        report = write_report(self.ref, importer.store, data, importer.scratch)
        importer.ledger.finish(self.import_id, self.owner, STATUS_DONE)
        summary = importer._summary(self.record, self.processed, report=report)
        log.info("import_finished", importId=self.import_id, manifest=self.ref.url, report=report,
                 totalRows=summary.total_rows, imported=summary.totals.get(ROW_IMPORTED, 0),
                 alreadyImported=summary.totals.get(ROW_ALREADY_IMPORTED, 0),
                 rejected=summary.totals.get(ROW_REJECTED, 0), failed=summary.totals.get(ROW_FAILED, 0))
        return summary

    def fail_manifest(self, error: str) -> ImportSummary:
        importer = self.importer
        log.error("manifest_invalid", importId=self.import_id, manifest=self.ref.url, error=error)
        line = json.dumps({"error": error, "manifest": self.ref.url}, ensure_ascii=False) + "\n"
        report = write_report(self.ref, importer.store, line.encode(), importer.scratch)
        importer.ledger.finish(self.import_id, self.owner, STATUS_FAILED, error)
        return importer._summary(self.record, self.processed, report=report, error=error)


def _md5_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
