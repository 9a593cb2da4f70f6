"""reconcile: seeded orphans and stuck jobs are found exactly, pushed once, and then gone."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from scf_worker.app import Services
from scf_worker.batch import Reconciler
from scf_worker.batch.wiring import batch_settings, reconciler_for
from scf_worker.callbacks.recorder import SqlUploadRecorder, VerifiedUpload
from scf_worker.handlers import reconcile as reconcile_handler
from scf_worker.jobs import lifecycle
from scf_worker.jobs.model import EVENT_DONE, EVENT_FAILED, TYPE_TRANSCODE
from scf_worker.runtime import samples

from .batch_support import BUCKET, OffsetClock, media_bytes

ORPHANS = ("uploads/u1/lost-1.mp4", "uploads/u2/lost-2.jpg", "uploads/u3/深夜 回放.mp4")


@dataclass
class Seeded:
    """Job ids by the state each was put in."""

    stuck: dict[str, str] = field(default_factory=dict)
    healthy: list[str] = field(default_factory=list)


def put(services: Services, key: str, kind: str = "mp4", data: bytes | None = None) -> Any:
    return services.store.put_bytes(BUCKET, key, data or media_bytes(kind, key))  # type: ignore[attr-defined]


def record(services: Services, key: str, data: bytes | None = None) -> str:
    """Store and record an upload; return its transcode job id."""
    info = put(services, key, data=data)
    upload = VerifiedUpload(BUCKET, key, info.etag, info.size, "video/mp4")
    outcome = SqlUploadRecorder(services.jobs).record(upload, "seed")
    assert outcome.transcode_job_id is not None
    return outcome.transcode_job_id


def lose_message(services: Services, job_id: str) -> None:
    services.db.execute("UPDATE queue SET status = 'done' WHERE dedupe_key = ?", (job_id,))


def lease_message(services: Services, job_id: str, seconds: float) -> None:
    services.db.execute("UPDATE queue SET status = 'leased', lease_until = ?, attempts = attempts + 1"
                        " WHERE dedupe_key = ?", (services.clock() + seconds, job_id))


def seed(services: Services, clock: OffsetClock) -> Seeded:
    """Seed three orphans, one stuck job of each kind, and healthy jobs that must be left alone."""
    seeded = Seeded()
    for key in ORPHANS:
        put(services, key, "jpg" if key.endswith(".jpg") else "mp4")
    put(services, "outputs/media-transcode-x/720p.mp4")
    put(services, "imports/manifests/list.csv", data=b"source\nuploads/u1/a.mp4\n")
    seeded.healthy.append(record(services, "uploads/u1/recorded.mp4"))

    lost = record(services, "uploads/u4/lost-message.mp4")
    lose_message(services, lost)
    seeded.stuck[lost] = "lost_message"

    stale = record(services, "uploads/u4/stale.mp4")
    lifecycle.begin(services.jobs, stale)
    lose_message(services, stale)
    seeded.stuck[stale] = "stale_running"

    expired = record(services, "uploads/u4/expired-lease.mp4")
    lease_message(services, expired, 60)
    lifecycle.begin(services.jobs, expired)
    seeded.stuck[expired] = "lease_expired"

    spent = record(services, "uploads/u4/spent.mp4")
    services.db.execute("UPDATE jobs SET status = 'running', attempts = 5 WHERE id = ?", (spent,))
    lose_message(services, spent)
    seeded.stuck[spent] = "attempts_exhausted"

    clock.advance(batch_settings(services).running_lease_seconds + 1)

    live = record(services, "uploads/u5/live-lease.mp4")
    lease_message(services, live, 600)
    lifecycle.begin(services.jobs, live)
    fresh = record(services, "uploads/u5/fresh-running.mp4")
    lifecycle.begin(services.jobs, fresh)
    lose_message(services, fresh)
    seeded.healthy += [live, fresh]
    return seeded


def snapshot(services: Services) -> dict[str, Any]:
    db = services.db
    return {table: db.query(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"]  # noqa: S608
            for table in ("media_jobs", "jobs", "queue", "events", "scf_dlq")} | {
        "queue_ready": db.query("SELECT COUNT(*) AS n FROM queue WHERE status = 'ready'")[0]["n"],
        "jobs_failed": db.query("SELECT COUNT(*) AS n FROM jobs WHERE status = 'failed'")[0]["n"]}


def test_finds_exactly_the_seeded_problems(batch_services: Services, clock: OffsetClock,
                                           backend: str) -> None:
    seeded = seed(batch_services, clock)
    reconciler = reconciler_for(batch_services)

    scanned, orphans = reconciler.find_orphans()
    stuck = reconciler.find_stuck()

    assert sorted(orphans) == sorted(ORPHANS)
    assert scanned == len(ORPHANS) + 1 + 4 + 2
    assert {job.job_id: job.kind for job in stuck} == seeded.stuck


def test_run_pushes_each_once(batch_services: Services, clock: OffsetClock, backend: str) -> None:
    seeded = seed(batch_services, clock)
    reconciler = reconciler_for(batch_services)
    before = snapshot(batch_services)

    first = reconciler.run(request_id="reconcile-1")
    after_first = snapshot(batch_services)
    second = reconciler.run(request_id="reconcile-2")

    assert (first.orphans, first.recorded, first.raced, first.deleted) == (3, 3, 0, 0)
    assert (first.stuck_jobs, first.requeued, first.released, first.failed_jobs) == (4, 2, 1, 1)
    assert first.complete
    assert second.counts() | {"durationMs": 0} == {
        "scannedObjects": first.scanned_objects, "orphans": 0, "recorded": 0, "raced": 0, "deleted": 0,
        "stuckJobs": 0, "requeued": 0, "released": 0, "failedJobs": 0, "complete": 1, "dryRun": 0,
        "durationMs": 0}
    assert snapshot(batch_services) == after_first
    # 3 orphans: a record, two jobs, two events and one transcode message each (plus the webhook
    # messages of the events); 2 requeued jobs: one message each; 1 failed job: one event and
    # one dead letter.
    assert after_first["media_jobs"] - before["media_jobs"] == 3
    assert after_first["jobs"] - before["jobs"] == 6
    assert after_first["events"] - before["events"] == 3 * 2 + 1
    assert after_first["queue"] - before["queue"] == 3 * (1 + 2) + 2 + 1
    assert after_first["scf_dlq"] - before["scf_dlq"] == 1
    assert after_first["jobs_failed"] - before["jobs_failed"] == 1

    db = batch_services.db
    orphan_rows = db.query("SELECT object_key, request_id FROM media_jobs WHERE request_id = 'reconcile-1'")
    assert sorted(row["object_key"] for row in orphan_rows) == sorted(ORPHANS)
    for job_id, kind in seeded.stuck.items():
        messages = db.query("SELECT status, attempts, dedupe_key FROM queue WHERE topic = 'transcode'"
                            " AND status = 'ready' AND payload = ?", (json.dumps({"jobId": job_id}),))
        job = batch_services.jobs.get_job(job_id)
        assert job is not None
        if kind == "attempts_exhausted":
            assert messages == []
            assert job.status == "failed"
            assert "attempts exhausted" in (job.error or "")
        else:
            assert len(messages) == 1, kind
            assert messages[0]["attempts"] == job.attempts
    for job_id in seeded.healthy:
        assert db.query("SELECT COUNT(*) AS n FROM queue WHERE dedupe_key LIKE ?",
                        (f"{job_id}:recover:%",))[0]["n"] == 0


def test_dry_run_changes_nothing(batch_services: Services, clock: OffsetClock) -> None:
    seed(batch_services, clock)
    before = snapshot(batch_services)

    summary = reconciler_for(batch_services).run(dry_run=True)

    assert (summary.orphans, summary.stuck_jobs) == (3, 4)
    assert (summary.recorded, summary.requeued, summary.released, summary.failed_jobs) == (0, 0, 0, 0)
    assert snapshot(batch_services) == before


def test_orphan_deleted_before_recording_is_counted(batch_services: Services) -> None:
    class VanishingStore:
        """The bucket lists the object, but it is deleted before the HEAD."""

        def __init__(self, store: Any) -> None:
            self.store = store

        def list_keys(self, bucket: str, prefix: str) -> list[str]:
            keys = self.store.list_keys(bucket, prefix)
            for key in keys:
                self.store.delete(bucket, key)
            return keys

        def head(self, bucket: str, key: str) -> Any:
            return self.store.head(bucket, key)

    put(batch_services, "uploads/u1/brief.mp4")
    reconciler = Reconciler(batch_services.settings, batch_settings(batch_services), batch_services.jobs,
                            VanishingStore(batch_services.store), batch_services.retry_policy,  # type: ignore[arg-type]
                            batch_services.clock)

    summary = reconciler.run()

    assert (summary.orphans, summary.deleted, summary.recorded) == (1, 1, 0)


def test_out_of_time_run_is_incomplete(batch_services: Services, clock: OffsetClock) -> None:
    seed(batch_services, clock)

    class Expired:
        def expired(self) -> bool:
            return True

    summary = reconciler_for(batch_services).run(deadline=Expired())

    assert not summary.complete
    assert (summary.recorded, summary.requeued) == (0, 0)
    assert reconciler_for(batch_services).run().recorded == 3


def test_handler_writes_metric_and_count_lines(batch_services: Services, clock: OffsetClock,
                                               logs: Any) -> None:
    seed(batch_services, clock)

    response = reconcile_handler.main_handler(samples.timer_event("reconcile-uploads"),
                                              samples.context("reconcile", 300_000))

    assert response["code"] == 0
    assert response["result"]["orphans"] == 3
    metric = logs.events("reconcile_summary")
    assert len(metric) == 1
    assert metric[0]["logger"] == "scf_worker.metrics"
    assert metric[0]["metricFunction"] == "reconcile"
    assert {name: metric[0][name] for name in ("orphans", "recorded", "stuckJobs", "requeued", "released",
                                               "failedJobs")} == {
        "orphans": 3, "recorded": 3, "stuckJobs": 4, "requeued": 2, "released": 1, "failedJobs": 1}
    assert all(not isinstance(value, (dict, list)) for value in metric[0].values())
    finished = logs.events("reconcile_finished")
    assert finished[0]["orphans"] == 3
    assert len(logs.events("orphan_recorded")) == 3


def test_handler_dry_run_and_unsupported_event(batch_services: Services, clock: OffsetClock) -> None:
    seed(batch_services, clock)
    before = snapshot(batch_services)

    dry = reconcile_handler.main_handler({"dryRun": True}, samples.context("reconcile"))
    http = reconcile_handler.main_handler(samples.apigw_event("POST", "/reconcile"),
                                          samples.context("reconcile"))

    assert dry["result"]["dryRun"] is True
    assert dry["result"]["orphans"] == 3
    assert snapshot(batch_services) == before
    assert http["message"] == "unsupported_event"


@pytest.mark.slow
def test_driven_jobs_complete_once_through_worker(batch_services: Services, clock: OffsetClock,
                                                  tmp_path: Any) -> None:
    from scf_worker.demo.media import make_clip
    from scf_worker.jobs.worker import run_until_idle

    clip = make_clip(tmp_path / "clip.mp4", seconds=0.6, width=96, height=64, audio=False).read_bytes()
    put(batch_services, "uploads/u1/lost.mp4", data=clip)
    lost = record(batch_services, "uploads/u2/lost-message.mp4", data=clip + b"\x00")
    lose_message(batch_services, lost)

    first = reconciler_for(batch_services).run()
    stats = run_until_idle(batch_services, max_wait_seconds=30)
    second = reconciler_for(batch_services).run()

    assert (first.recorded, first.requeued) == (1, 1)
    # No webhook endpoint is configured here, so only webhook-forward dead-letters (no_endpoints).
    dead = batch_services.db.query("SELECT function, first_error FROM scf_dlq")
    assert {row["function"] for row in dead} <= {"webhook-forward"}
    assert stats.by_topic["transcode"] == 2
    transcodes = [job for job in batch_services.jobs.list_jobs() if job.type == TYPE_TRANSCODE]
    assert len(transcodes) == 2
    assert all(job.status == "done" for job in transcodes)
    events = batch_services.jobs.list_events()
    for job in transcodes:
        assert sum(1 for e in events if e["jobId"] == job.id and e["event"] == EVENT_DONE) == 1
        assert not any(e["jobId"] == job.id and e["event"] == EVENT_FAILED for e in events)
    assert (second.orphans, second.stuck_jobs) == (0, 0)
