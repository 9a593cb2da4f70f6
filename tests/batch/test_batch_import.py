"""media-import: the acceptance runs (1,000 rows, rerun, resume) and the row rules."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from scf_worker.app import Services
from scf_worker.batch import ImportBusy, ManifestRef
from scf_worker.batch.ledger import ROW_PENDING
from scf_worker.jobs.model import EVENT_DONE, EVENT_SCHEDULED, TYPE_TRANSCODE, TYPE_UPLOAD

from .batch_support import (
    BUCKET,
    UNSPECIFIED,
    CountingDeadline,
    MediaServer,
    OffsetClock,
    Resolver,
    SeededManifest,
    media_bytes,
    seed_manifest,
)
from .conftest import ImporterFactory

MANIFEST_KEY = "imports/manifests/batch-1000.csv"


def store_manifest(services: Services, key: str, text: str) -> ManifestRef:
    services.store.put_bytes(BUCKET, key, text.encode())  # type: ignore[attr-defined]
    return ManifestRef.stored(BUCKET, key)


def pipeline_counts(services: Services) -> dict[str, int]:
    db = services.db
    jobs = Counter((row["type"], row["status"]) for row in db.query("SELECT type, status FROM jobs"))
    events = Counter(row["name"] for row in db.query("SELECT name FROM events"))
    return {
        "media_jobs": db.query("SELECT COUNT(*) AS n FROM media_jobs")[0]["n"],
        "upload_done": jobs[(TYPE_UPLOAD, "done")],
        "transcode_scheduled": jobs[(TYPE_TRANSCODE, "scheduled")],
        "transcode_messages": db.query("SELECT COUNT(*) AS n FROM queue WHERE topic = 'transcode'")[0]["n"],
        "scheduled_events": events[EVENT_SCHEDULED],
        "done_events": events[EVENT_DONE],
    }


def read_report(services: Services, ref: ManifestRef) -> list[dict[str, Any]]:
    path = Path(services.settings.storage_url[len("file://"):]) / BUCKET / (ref.key + ".report.jsonl")  # type: ignore[index,operator]
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def with_blocked_names(resolver: Resolver) -> tuple[str, ...]:
    resolver.answers["blocked.import.test"] = [UNSPECIFIED]
    resolver.answers["rebind.import.test"] = ["127.0.0.1", UNSPECIFIED]
    return ("blocked.import.test", "rebind.import.test")


def assert_imported(services: Services, seeded: SeededManifest, report: list[dict[str, Any]]) -> None:
    """Check each report line's status and reason, and that each imported object has its source bytes."""
    root = Path(services.settings.storage_url[len("file://"):]) / BUCKET  # type: ignore[index]
    by_row = {line["row"]: line for line in report}
    for number, (status, reason) in seeded.expected.items():
        assert by_row[number]["status"] == status, by_row[number]
        assert by_row[number].get("reason") == reason, by_row[number]
        if status == "imported":
            key, content = seeded.targets[number]
            line = by_row[number]
            if key is not None:
                assert line["key"] == key
            assert (root / line["key"]).read_bytes() == content
            assert line["transcodeJobId"].startswith("media-transcode-")
        else:
            assert by_row[number]["detail"], by_row[number]


def test_thousand_rows_import_950_and_report_50(batch_services: Services, make_importer: ImporterFactory,
                                                media_server: MediaServer, resolver: Resolver) -> None:
    seeded = seed_manifest(batch_services.store, BUCKET, media_server,
                           blocked_hosts=with_blocked_names(resolver))
    ref = store_manifest(batch_services, MANIFEST_KEY, seeded.csv)
    importer = make_importer()

    summary = importer.run(ref, request_id="req-import-1")

    assert summary.status == "done"
    assert summary.total_rows == 1000
    assert summary.totals == {"imported": 950, "rejected": 50}
    assert summary.processed == {"imported": 950, "rejected": 50}
    assert summary.report == f"cos://{BUCKET}/{MANIFEST_KEY}.report.jsonl"
    report = read_report(batch_services, ref)
    assert len(report) == 1000
    assert Counter(line.get("reason") for line in report if line["status"] == "rejected") == {
        "missing_source": 13, "too_large": 13, "not_media": 12, "blocked_url": 12}
    assert_imported(batch_services, seeded, report)
    assert all(line["meta"] == {"title": f"第{line['row']}条"} for line in report)
    assert pipeline_counts(batch_services) == {
        "media_jobs": 950, "upload_done": 950, "transcode_scheduled": 950, "transcode_messages": 950,
        "scheduled_events": 950, "done_events": 950}
    assert {row["request_id"] for row in batch_services.db.query("SELECT request_id FROM media_jobs")} == {
        "req-import-1"}


def test_thousand_rows_rerun_imports_nothing(batch_services: Services, make_importer: ImporterFactory,
                                             media_server: MediaServer, resolver: Resolver) -> None:
    seeded = seed_manifest(batch_services.store, BUCKET, media_server,
                           blocked_hosts=with_blocked_names(resolver))
    ref = store_manifest(batch_services, MANIFEST_KEY, seeded.csv)
    importer = make_importer()
    first = importer.run(ref)
    counts = pipeline_counts(batch_services)
    fetches = len(media_server.requests)

    repeat = importer.run(ref)
    fetches_after_repeat = len(media_server.requests)
    rerun = importer.run(ref, rerun=True)

    assert first.totals == {"imported": 950, "rejected": 50}
    assert repeat.status == "done"
    assert repeat.processed == {}
    assert repeat.pass_number == 1
    assert fetches_after_repeat == fetches
    assert rerun.status == "done"
    assert rerun.pass_number == 2
    assert rerun.processed == {"already_imported": 950, "rejected": 50}
    assert rerun.totals == {"already_imported": 950, "rejected": 50}
    assert pipeline_counts(batch_services) == counts
    assert len(media_server.requests) > fetches
    report = read_report(batch_services, ref)
    assert Counter(line["status"] for line in report) == {"already_imported": 950, "rejected": 50}


def test_deadline_pauses_and_next_run_resumes(batch_services: Services, make_importer: ImporterFactory,
                                              media_server: MediaServer, resolver: Resolver,
                                              backend: str) -> None:
    seeded = seed_manifest(batch_services.store, BUCKET, media_server, rows=120,
                           blocked_hosts=with_blocked_names(resolver))
    ref = store_manifest(batch_services, "imports/manifests/paused.csv", seeded.csv)
    importer = make_importer(IMPORT_CHUNK_ROWS="20")

    first = importer.run(ref, deadline=CountingDeadline(70), concurrency=3)
    record = importer.ledger.get(first.import_id)
    assert first.status == "running"
    assert record is not None
    assert record.lease_owner is None
    assert 20 <= first.next_row < 120
    assert first.report is None
    second = importer.run(ref, concurrency=3)

    assert second.status == "done"
    assert second.totals == {"imported": 114, "rejected": 6}
    assert sum(first.processed.values()) + sum(second.processed.values()) == 120
    assert sum(second.processed.values()) <= 120 - first.next_row
    assert pipeline_counts(batch_services)["media_jobs"] == 114
    assert_imported(batch_services, seeded, read_report(batch_services, ref))


def test_pending_row_counts_as_imported(batch_services: Services, make_importer: ImporterFactory,
                                        media_server: MediaServer) -> None:
    batch_services.store.put_bytes(BUCKET, "legacy/a.mp4", media_bytes("mp4", "a"))  # type: ignore[attr-defined]
    text = f"source,key\nlegacy/a.mp4,uploads/x/a.mp4\n{media_server.url('/gen/jpg/300/b')},uploads/x/b.jpg\n"
    ref = store_manifest(batch_services, "imports/manifests/crash.csv", text)
    importer = make_importer()
    done = importer.run(ref)
    # Put the import back the way a run killed after recording both rows leaves it.
    for index, result in importer.ledger.rows(done.import_id, 1).items():
        importer.ledger.claim(done.import_id, "crashed", 60)
        importer.ledger.save_row(done.import_id, 1, "crashed", result.__class__(
            index, ROW_PENDING, result.label, key=result.key), 60)
        importer.ledger.release(done.import_id, "crashed")
    batch_services.db.execute("UPDATE batch_imports SET status = 'running', next_row = 0")

    resumed = importer.run(ref)

    assert resumed.processed == {"imported": 2}
    assert resumed.totals == {"imported": 2}
    assert pipeline_counts(batch_services)["media_jobs"] == 2


def test_live_lease_makes_import_busy(batch_services: Services, make_importer: ImporterFactory,
                                      clock: OffsetClock) -> None:
    ref = store_manifest(batch_services, "imports/manifests/busy.csv", "source\nlegacy/missing.mp4\n")
    importer = make_importer()
    record, rows = importer.register(ref)
    importer.ledger.claim(record.import_id, "other-invocation", 300)

    with pytest.raises(ImportBusy, match="lease ends in"):
        importer.run(ref)
    clock.advance(301)
    summary = importer.run(ref)

    assert rows == 1
    assert summary.status == "done"
    assert summary.totals == {"rejected": 1}


def test_target_with_other_content_is_not_overwritten(batch_services: Services,
                                                      make_importer: ImporterFactory) -> None:
    store = batch_services.store
    store.put_bytes(BUCKET, "legacy/a.mp4", media_bytes("mp4", "new"))  # type: ignore[attr-defined]
    store.put_bytes(BUCKET, "uploads/x/a.mp4", media_bytes("mp4", "old"))  # type: ignore[attr-defined]
    ref = store_manifest(batch_services, "imports/manifests/clash.csv",
                         "source,key\nlegacy/a.mp4,uploads/x/a.mp4\nlegacy/a.mp4,outputs/a.mp4\n")

    summary = make_importer().run(ref)

    report = read_report(batch_services, ref)
    target = store.head(BUCKET, "uploads/x/a.mp4")
    assert summary.totals == {"rejected": 2}
    assert [line["reason"] for line in report] == ["target_exists", "invalid_key"]
    assert "OUTPUT_PREFIX" in report[1]["detail"]
    assert target is not None
    assert target.etag == hashlib.md5(media_bytes("mp4", "old"), usedforsecurity=False).hexdigest()


def test_unavailable_source_fails_row_and_rerun_retries_it(batch_services: Services,
                                                           make_importer: ImporterFactory,
                                                           media_server: MediaServer) -> None:
    media_server.routes["/flaky.mp4"] = (503, {}, b"busy")
    ref = store_manifest(batch_services, "imports/manifests/flaky.csv",
                         f"source,key\n{media_server.url('/flaky.mp4')},uploads/x/flaky.mp4\n")
    importer = make_importer()
    first = importer.run(ref)
    media_server.routes["/flaky.mp4"] = (200, {}, media_bytes("mp4", "flaky"))
    second = importer.run(ref, rerun=True)

    assert first.totals == {"failed": 1}
    assert second.totals == {"imported": 1}


def test_invalid_manifest_fails_import_with_report(batch_services: Services,
                                                   make_importer: ImporterFactory) -> None:
    ref = store_manifest(batch_services, "imports/manifests/bad.csv", "key,title\na,b\n")
    importer = make_importer()

    summary = importer.run(ref)
    again = importer.run(ref)

    assert summary.status == "failed"
    assert "no source column" in (summary.error or "")
    assert read_report(batch_services, ref) == [{"error": summary.error, "manifest": ref.url}]
    assert again.status == "failed"
    assert again.processed == {}


def test_oversize_manifest_is_recorded_as_failed(batch_services: Services,
                                                 make_importer: ImporterFactory) -> None:
    ref = store_manifest(batch_services, "imports/manifests/huge.csv", "source\n" + "legacy/a.mp4\n" * 100)
    summary = make_importer(IMPORT_MAX_MANIFEST_BYTES="100").run(ref)

    assert summary.status == "failed"
    assert "IMPORT_MAX_MANIFEST_BYTES" in (summary.error or "")
    assert summary.import_id.startswith("imp-")


def test_local_manifest_report_written_beside_file(batch_services: Services, make_importer: ImporterFactory,
                                                   media_server: MediaServer, tmp_path: Path) -> None:
    manifest = tmp_path / "清单.jsonl"
    manifest.write_text(json.dumps({"source": media_server.url("/gen/png/300/p"), "id": "海报 1"},
                                   ensure_ascii=False) + "\n", encoding="utf-8")

    summary = make_importer().run(ManifestRef.local(manifest))

    lines = (tmp_path / "清单.jsonl.report.jsonl").read_text(encoding="utf-8").splitlines()
    assert summary.totals == {"imported": 1}
    assert json.loads(lines[0])["key"] == "imports/清单/海报_1.png"


def test_pending_refs_lists_new_and_running_manifests(batch_services: Services,
                                                      make_importer: ImporterFactory) -> None:
    importer = make_importer()
    done = store_manifest(batch_services, "imports/manifests/done.csv", "source\nlegacy/x.mp4\n")
    fresh = store_manifest(batch_services, "imports/manifests/fresh.jsonl", '{"source": "legacy/y.mp4"}\n')
    store_manifest(batch_services, "imports/manifests/notes.txt", "not a manifest")
    importer.run(done)

    assert importer.pending_refs() == [fresh]
    batch_services.store.put_bytes(BUCKET, done.key, b"source\nlegacy/z.mp4\n")  # type: ignore[attr-defined,arg-type]
    assert importer.pending_refs() == [done, fresh]
