"""Run ffmpeg from an argument list, never a shell, with a hard deadline."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass

from scf_worker.transcode.errors import FfmpegFailed, TranscodeTimeout

STDERR_TAIL_BYTES = 2000


@dataclass(frozen=True)
class RunResult:
    duration_ms: int
    stderr_tail: str


def run_ffmpeg(args: Sequence[str], deadline_monotonic: float) -> RunResult:
    """Run one ffmpeg command; kill it at the deadline and raise TranscodeTimeout."""
    started = time.monotonic()
    remaining = deadline_monotonic - started
    if remaining <= 0:
        raise TranscodeTimeout("no time left before the invocation deadline")
    process = subprocess.Popen(list(args), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    try:
        _, stderr = process.communicate(timeout=remaining)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise TranscodeTimeout(f"ffmpeg killed after {remaining:.1f}s at the deadline") from None
    tail = stderr[-STDERR_TAIL_BYTES:].decode("utf-8", "replace")
    if process.returncode != 0:
        # Success is judged by the exit code only; stderr is kept for the reason.
        last_line = tail.strip().splitlines()[-1] if tail.strip() else "no output"
        raise FfmpegFailed(f"ffmpeg exited with {process.returncode}: {last_line[:300]}")
    return RunResult(int((time.monotonic() - started) * 1000), tail)
