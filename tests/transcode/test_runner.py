from __future__ import annotations

import sys
import time

import pytest

from scf_worker.transcode.binaries import find_ffmpeg
from scf_worker.transcode.errors import FfmpegFailed, FfmpegKilled, TranscodeTimeout, UnsupportedCodec
from scf_worker.transcode.runner import Progress, run_ffmpeg, with_progress


def test_progress_block_parsed() -> None:
    progress = Progress()
    lines = ["frame=50", "out_time_us=2000000", "speed=4.5x", "progress=continue"]

    complete = [progress.apply(*line.split("=", 1)) for line in lines]

    assert complete == [False, False, False, True]
    assert progress.out_time_seconds == 2.0
    assert progress.frame == 50
    assert progress.speed == 4.5
    assert not progress.ended


def test_progress_end_and_bad_values() -> None:
    progress = Progress()

    progress.apply("out_time_us", "N/A")
    progress.apply("speed", "N/A")
    progress.apply("progress", "end")

    assert progress.out_time_seconds == 0.0
    assert progress.speed is None
    assert progress.ended


def test_progress_arguments_inserted_after_binary() -> None:
    assert with_progress(["ffmpeg", "-i", "in"]) == ["ffmpeg", "-progress", "pipe:1", "-nostats", "-i", "in"]


def test_run_reads_progress_to_the_end() -> None:
    ffmpeg = find_ffmpeg()
    args = [ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
            "testsrc2=size=64x64:rate=25:duration=1", "-f", "null", "-"]

    result = run_ffmpeg(args, time.monotonic() + 60, total_seconds=1.0)

    assert result.progress.ended
    assert result.progress.frame == 25
    assert result.progress.out_time_seconds == pytest.approx(1.0, abs=0.05)


def test_run_kills_at_deadline(logs) -> None:  # type: ignore[no-untyped-def]
    ffmpeg = find_ffmpeg()
    # An endless source: only the deadline can stop it.
    args = [ffmpeg, "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
            "testsrc2=size=64x64:rate=25", "-f", "null", "-"]

    with pytest.raises(TranscodeTimeout) as caught:
        run_ffmpeg(args, time.monotonic() + 0.5, label="endless")

    assert caught.value.code == "timeout"
    killed = logs.events("ffmpeg_killed")
    assert killed[0]["reason"] == "deadline"
    assert killed[0]["step"] == "endless"


def test_run_refuses_to_start_past_deadline() -> None:
    with pytest.raises(TranscodeTimeout):
        run_ffmpeg([find_ffmpeg(), "-version"], time.monotonic() - 1)


def test_signal_kill_is_transient_oom() -> None:
    # A real process killed by SIGKILL, as the OOM killer does to ffmpeg.
    args = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"]

    with pytest.raises(FfmpegKilled) as caught:
        run_ffmpeg(args, time.monotonic() + 30, request_progress=False)

    assert caught.value.code == "oom_killed"
    assert "SIGKILL" in str(caught.value)


def test_nonzero_exit_is_permanent() -> None:
    args = [find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-i", "/nonexistent/input.mp4",
            "-f", "null", "-"]

    with pytest.raises(FfmpegFailed) as caught:
        run_ffmpeg(args, time.monotonic() + 30)

    assert "No such file or directory" in str(caught.value)


def test_missing_decoder_is_unsupported_codec() -> None:
    args = [sys.executable, "-c",
            "import sys; sys.stderr.write('Decoder (codec av1) not found for input stream #0:0\\n');"
            " sys.exit(1)"]

    with pytest.raises(UnsupportedCodec) as caught:
        run_ffmpeg(args, time.monotonic() + 30, request_progress=False)

    assert caught.value.code == "unsupported_codec"
