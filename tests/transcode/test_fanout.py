"""Long media by fan-out: split at keyframes, segment jobs through the queue, join and check."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scf_worker.demo.hard_inputs import make_long_clip
from scf_worker.handlers import transcode
from scf_worker.jobs.model import STATUS_DONE, STATUS_FAILED
from scf_worker.jobs.worker import run_pool, run_until_idle
from scf_worker.runtime import samples
from scf_worker.transcode.binaries import find_ffmpeg
from scf_worker.transcode.errors import OutputInvalid
from scf_worker.transcode.fanout import (
    SEGMENT_JOB_TYPE,
    STATUS_WAITING,
    check_sync,
    choose_cuts,
    segment_job_id,
)
from scf_worker.transcode.probe import probe

BUCKET = "media-1250000000"



def transcode_dead_letters(services: Any) -> int:
    """Count transcode dead letters; webhook-forward has no endpoint in these tests."""
    rows = services.db.query("SELECT COUNT(*) AS n FROM scf_dlq WHERE function = 'transcode'")
    return int(rows[0]["n"])

def test_cuts_near_equal_divisions() -> None:
    keyframes = [float(t) for t in range(0, 60, 2)]

    assert choose_cuts(keyframes, 60.0, 6) == [10.0, 20.0, 30.0, 40.0, 50.0]


def test_cuts_follow_sparse_keyframes() -> None:
    assert choose_cuts([0.0, 7.0, 8.0, 41.0], 60.0, 6) == [8.0, 41.0]


def test_single_gop_cannot_be_cut() -> None:
    assert choose_cuts([0.0], 60.0, 6) == []


def test_sync_check_rejects_gap_and_drift() -> None:
    from fractions import Fraction

    from scf_worker.transcode.probe import MediaInfo

    source = {"videoStart": 0.0, "videoDuration": 60.0, "audioStart": 0.0, "audioDuration": 60.0,
              "duration": 60.0}

    def joined(video: float, audio: float) -> MediaInfo:
        return MediaInfo("mp4", max(video, audio), True, True, video_start_seconds=0.0,
                         video_duration_seconds=video, audio_start_seconds=0.0, audio_duration_seconds=audio)

    assert check_sync(joined(60.04, 60.0), source, Fraction(25))["videoGapSeconds"] == pytest.approx(0.04)
    with pytest.raises(OutputInvalid):
        check_sync(joined(60.08, 60.0), source, Fraction(25))
    with pytest.raises(OutputInvalid):
        check_sync(joined(60.0, 59.95), source, Fraction(25))


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_long_clip(tmp_path_factory.mktemp("long") / "long.mp4", 60.0, size="160x90")


@pytest.mark.slow
def test_fanout_matches_single_pass(
        services: Any, schedule: Callable[..., Any], long_clip: Path, probers: list[str | None]) -> None:
    schedule(long_clip, params={"presets": ["mp4"], "segments": 1}, job_id="single")
    run_until_idle(services, max_wait_seconds=5)
    schedule(long_clip, params={"presets": ["mp4", "hls"], "segments": 6}, key="uploads/u1/long-2.mp4",
             job_id="fanned")

    run_pool(services, workers=2, max_wait_seconds=10)

    parent = services.jobs.get_job("fanned")
    segments = [j for j in services.jobs.list_jobs() if j.type == SEGMENT_JOB_TYPE]
    assert transcode_dead_letters(services) == 0
    assert parent.status == STATUS_DONE
    assert len(segments) == 6
    assert [s.parent_id for s in segments] == ["fanned"] * 6
    assert [s.status for s in segments] == [STATUS_DONE] * 6

    for prober in probers:
        single = probe(services.store.path_of(BUCKET, "outputs/single/mp4/90p.mp4"), prober)
        fanned = probe(services.store.path_of(BUCKET, "outputs/fanned/mp4/90p.mp4"), prober)
        assert single.video_duration_seconds is not None and single.audio_duration_seconds is not None
        assert fanned.video_duration_seconds is not None and fanned.audio_duration_seconds is not None
        frame = 1 / 25
        assert abs(fanned.video_duration_seconds - single.video_duration_seconds) <= frame
        single_lead = single.audio_duration_seconds - single.video_duration_seconds
        fanned_lead = fanned.audio_duration_seconds - fanned.video_duration_seconds
        assert abs(fanned_lead - single_lead) <= 0.040
    assert parent.result["fanout"]["segments"] == 6
    assert parent.result["fanout"]["audioDriftSeconds"] <= 0.040

    events = services.jobs.list_events()
    assert [e["event"] for e in events if e["jobId"] == "fanned"] == ["SCF_JOB_DONE"]
    assert not [e for e in events if e["type"] == SEGMENT_JOB_TYPE]
    assert services.store.list_keys(BUCKET, "outputs/fanned/_work/") == []
    master = services.store.path_of(BUCKET, "outputs/fanned/hls/master.m3u8")
    assert master.is_file()


@pytest.mark.slow
def test_dead_segment_fails_parent(services: Any, schedule: Callable[..., Any], long_clip: Path) -> None:
    schedule(long_clip, params={"presets": ["mp4"], "segments": 2}, enqueue=False)
    response = transcode.main_handler({"jobId": "job-1"}, samples.context("transcode", 120_000))
    assert response["results"][0]["result"]["status"] == "fanout"
    assert services.jobs.get_job("job-1").status == STATUS_WAITING

    # The part vanished from the store: its segment can never succeed.
    services.store.delete(BUCKET, "outputs/job-1/_work/part-001.mkv")
    run_until_idle(services, max_wait_seconds=5)

    parent = services.jobs.get_job("job-1")
    assert transcode_dead_letters(services) == 1
    assert parent.status == STATUS_FAILED
    assert parent.error.startswith("segment 1 failed")
    assert services.jobs.get_job(segment_job_id("job-1", 1)).status == STATUS_FAILED
    failed = [e for e in services.jobs.list_events() if e["event"] == "SCF_JOB_FAILED"]
    assert [e["jobId"] for e in failed] == ["job-1"]


@pytest.mark.slow
def test_fanout_of_matroska_source(services: Any, schedule: Callable[..., Any], long_clip: Path,
                                   tmp_path: Path) -> None:
    # Matroska has no per-stream durations; the join must still check video and audio timing.
    import subprocess

    mkv = tmp_path / "long.mkv"
    subprocess.run([find_ffmpeg(), "-v", "error", "-i", str(long_clip), "-t", "20", "-c", "copy", str(mkv)],
                   check=True, capture_output=True)
    schedule(mkv, params={"presets": ["mp4"], "segments": 2})

    run_until_idle(services, max_wait_seconds=5)

    parent = services.jobs.get_job("job-1")
    assert parent.status == STATUS_DONE
    assert parent.result["fanout"]["videoGapSeconds"] <= 0.04
    assert parent.result["fanout"]["audioDriftSeconds"] <= 0.04
