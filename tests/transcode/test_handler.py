"""The transcode function through the queue and the local worker, on the embedded state store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scf_worker.handlers import transcode
from scf_worker.jobs.model import STATUS_DONE, STATUS_FAILED
from scf_worker.jobs.worker import run_until_idle
from scf_worker.runtime import samples
from scf_worker.transcode.binaries import find_ffmpeg, find_ffprobe

pytestmark = pytest.mark.slow
BUCKET = "media-1250000000"



def transcode_dead_letters(services: Any) -> int:
    """Count transcode dead letters; webhook-forward has no endpoint in these tests."""
    rows = services.db.query("SELECT COUNT(*) AS n FROM scf_dlq WHERE function = 'transcode'")
    return int(rows[0]["n"])

def transcode_events(services: Any, name: str) -> list[dict[str, Any]]:
    return [e for e in services.jobs.list_events() if e["event"] == name and e["type"] == "media.transcode"]


def test_job_done_event_lists_outputs(services: Any, schedule: Callable[..., Any],
                                      media: Callable[[str], Path]) -> None:
    schedule(media("h264_720p"), params={"presets": ["mp4", "thumbnail"], "ladder": [360, 720]})

    run_until_idle(services, max_wait_seconds=5)

    assert transcode_dead_letters(services) == 0
    assert services.jobs.get_job("job-1").status == STATUS_DONE
    [event] = transcode_events(services, "SCF_JOB_DONE")
    assert event["metrics"]["attempts"] == 1
    assert event["metrics"]["durationMs"] > 0
    outputs = event["data"]["outputs"]
    assert [(o["kind"], o["width"], o["height"]) for o in outputs] == [
        ("video", 640, 360), ("video", 1280, 720), ("thumbnail", 640, 360)]
    for output in outputs:
        assert output["key"].startswith("outputs/job-1/")
        assert output["size"] > 0
    assert all(o["duration_seconds"] == pytest.approx(1.5, abs=0.1) for o in outputs[:2])


def test_invalid_media_dead_letters_once(services: Any, schedule: Callable[..., Any],
                                                      media: Callable[[str], Path]) -> None:
    schedule(media("text_as_mp4"))

    run_until_idle(services, max_wait_seconds=5)

    job = services.jobs.get_job("job-1")
    assert transcode_dead_letters(services) == 1
    assert job.status == STATUS_FAILED
    assert job.attempts == 1
    assert "InvalidMedia" in job.error
    [dead] = services.db.query("SELECT * FROM scf_dlq WHERE function = 'transcode'")
    assert dead["attempts"] == 1
    [failed] = transcode_events(services, "SCF_JOB_FAILED")
    settings = services.settings
    ran = "ffprobe" if find_ffprobe(settings.ffprobe_binary, find_ffmpeg(settings.ffmpeg_binary)) else "PyAV"
    assert f"{ran} could not read the file as media" in failed["reason"]


def test_bad_job_params_fail_permanently(services: Any, schedule: Callable[..., Any],
                                         media: Callable[[str], Path]) -> None:
    schedule(media("no_audio"), params={"presets": ["mp4", "gif"]})

    run_until_idle(services, max_wait_seconds=5)

    assert transcode_dead_letters(services) == 1
    assert services.jobs.get_job("job-1").status == STATUS_FAILED


def test_short_deadline_kills_and_retries(
        services: Any, schedule: Callable[..., Any], media: Callable[[str], Path],
        monkeypatch: pytest.MonkeyPatch, logs: Any) -> None:
    monkeypatch.setenv("TRANSCODE_UPLOAD_MARGIN_MS", "0")
    services.extensions.clear()
    schedule(media("odd_1923x1080"), params={"presets": ["mp4"]}, enqueue=False)

    # An async invocation, as SCF delivers it. The 1080p ladder needs seconds; 700 ms is
    # enough to download and probe, not to encode.
    response = transcode.main_handler({"jobId": "job-1"}, samples.context("transcode", 700))

    [outcome] = response["results"]
    assert outcome["status"] == "retry"
    assert outcome["code"] == "timeout"
    assert logs.events("ffmpeg_killed")[0]["reason"] == "deadline"
    assert services.store.list_keys(BUCKET, "outputs/") == []
    retry = logs.events("job_retry_scheduled")
    assert retry[0]["code"] == "timeout"
    assert services.jobs.get_job("job-1").status == "running"
    assert transcode_events(services, "SCF_JOB_DONE") == []

    # The retry gets a normal time limit and finishes.
    finished = run_until_idle(services, max_wait_seconds=10)

    job = services.jobs.get_job("job-1")
    assert finished.done >= 1
    assert job.status == STATUS_DONE
    assert job.attempts == 2
    [event] = transcode_events(services, "SCF_JOB_DONE")
    assert event["metrics"]["attempts"] == 2


def test_redelivery_after_done_is_duplicate(services: Any, schedule: Callable[..., Any],
                                                     media: Callable[[str], Path]) -> None:
    schedule(media("audio_cover_art"), params={"presets": ["thumbnail"]})
    run_until_idle(services, max_wait_seconds=5)

    response = transcode.main_handler({"jobId": "job-1"}, samples.context("transcode", 60_000))

    # The work ledger answers a redelivery of finished work before the job runs.
    assert response["results"][0]["status"] == "done"
    assert response["results"][0]["code"] == "duplicate"
    assert len(transcode_events(services, "SCF_JOB_DONE")) == 1
