"""Dry run of an import: the checks that need no download, with nothing stored or recorded.

Each row is checked for what the manifest shows (source present, keys safe,
no repeats), whether its source object exists within the size limit, and
whether the SSRF guard admits its URL (including DNS). A URL source's size
and media type are only known once it is downloaded, so a real run can still
reject a row the preview passed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from scf_worker.batch.control import NullProgress, Progress, run_bounded
from scf_worker.batch.errors import RowRejected, SourceUnavailable
from scf_worker.batch.guard import describe_url
from scf_worker.batch.importer import Importer, check_target_key
from scf_worker.batch.manifest import ManifestRow, parse_manifest
from scf_worker.batch.sources import ManifestRef, read_manifest

WOULD_IMPORT = "would_import"


@dataclass
class ImportPreview:
    """Expected outcome of each row, from the checks that need no download."""

    manifest: str
    total_rows: int
    totals: dict[str, int] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"manifest": self.manifest, "dryRun": True, "totalRows": self.total_rows,
                "totals": self.totals, "rows": self.rows}


def preview_import(importer: Importer, ref: ManifestRef, progress: Progress | None = None,
                   concurrency: int | None = None) -> ImportPreview:
    """Check every row of a manifest; raise ManifestError when the manifest cannot be read."""
    progress = progress or NullProgress()
    data, _ = read_manifest(ref, importer.store, importer.batch.max_manifest_bytes, importer.scratch)
    rows = parse_manifest(data, ref.name, importer.batch.max_rows)
    progress.start(len(rows))
    results = run_bounded(lambda row: _check(importer, row, progress), rows,
                          concurrency or importer.batch.import_concurrency)
    progress.finish()
    totals = Counter(result["status"] for result in results)
    return ImportPreview(ref.url, len(rows), dict(totals), results)


def _check(importer: Importer, row: ManifestRow, progress: Progress) -> dict[str, Any]:
    line: dict[str, Any] = {"row": row.number, "id": row.label}
    if row.source:
        line["source"] = describe_url(row.source) if row.is_url else row.source
    try:
        if row.problem is not None:
            raise row.problem
        _check_source(importer, row)
        target = row.key or (None if row.is_url else row.source)
        if target is not None:
            check_target_key(target, importer.settings, importer.batch)
        line["status"] = WOULD_IMPORT
    except RowRejected as exc:
        line.update(status="rejected", reason=exc.reason, detail=exc.detail)
    except SourceUnavailable as exc:
        line.update(status="failed", reason=exc.reason, detail=exc.detail)
    progress.advance(line["status"])
    return line


def _check_source(importer: Importer, row: ManifestRow) -> None:
    assert row.source is not None
    if row.is_url:
        importer.guard.admit(row.source)
        return
    info = importer.store.head(importer.bucket, row.source)
    if info is None:
        raise RowRejected("source_not_found", f"object {row.source} does not exist")
    limit = importer.batch.max_source_bytes
    if info.size > limit:
        raise RowRejected("too_large", f"the object has {info.size} bytes, over the {limit}-byte limit")
