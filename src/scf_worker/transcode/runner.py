"""Run ffmpeg from an argument list, never a shell, with a hard deadline and progress.

ffmpeg writes ``key=value`` progress blocks to stdout (``-progress pipe:1``);
a reader thread keeps the latest block, another keeps the tail of stderr for
error messages. Success is judged by the exit code only. At the deadline the
process is killed and ``TranscodeTimeout`` (transient) is raised, so the
caller uploads nothing and the job is retried.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO

from scf_worker.observability.logging import get_logger
from scf_worker.transcode.errors import (
    FfmpegFailed,
    FfmpegKilled,
    ScratchFull,
    TranscodeTimeout,
    UnsupportedCodec,
)

log = get_logger(__name__)
STDERR_TAIL_LINES = 40
PROGRESS_LOG_INTERVAL_SECONDS = 15.0
_UNSUPPORTED_MARKERS = ("Decoder (codec", "Unknown decoder", "unsupported codec", "Unsupported codec",
                        "not currently supported")
_NO_SPACE_MARKERS = ("No space left on device",)
_NO_MEMORY_MARKERS = ("Cannot allocate memory",)


@dataclass
class Progress:
    """The latest ``-progress`` block: media time written so far and encoding speed."""

    out_time_seconds: float = 0.0
    speed: float | None = None
    frame: int = 0
    ended: bool = False
    updates: int = 0

    def apply(self, key: str, value: str) -> bool:
        """Apply one ``key=value`` line; return True when a block is complete."""
        if key in ("out_time_us", "out_time_ms"):
            # Both keys carry microseconds in ffmpeg 5.x (out_time_ms is misnamed).
            if value.lstrip("-").isdigit():
                self.out_time_seconds = max(0.0, int(value) / 1_000_000)
        elif key == "frame" and value.isdigit():
            self.frame = int(value)
        elif key == "speed":
            number = value.rstrip("x").strip()
            try:
                self.speed = float(number)
            except ValueError:
                self.speed = None
        elif key == "progress":
            self.ended = value == "end"
            self.updates += 1
            return True
        return False


@dataclass(frozen=True)
class RunResult:
    duration_ms: int
    stderr_tail: str
    progress: Progress = field(default_factory=Progress)


ProgressHook = Callable[[Progress], None]


def _read_progress(stream: IO[bytes], progress: Progress, lock: threading.Lock,
                   hook: ProgressHook | None) -> None:
    for raw in iter(stream.readline, b""):
        key, sep, value = raw.decode("utf-8", "replace").strip().partition("=")
        if not sep:
            continue
        with lock:
            complete = progress.apply(key.strip(), value.strip())
        if complete and hook is not None:
            hook(progress)


def _read_tail(stream: IO[bytes], tail: deque[str]) -> None:
    for raw in iter(stream.readline, b""):
        tail.append(raw.decode("utf-8", "replace").rstrip())


def with_progress(args: Sequence[str]) -> list[str]:
    """Insert ``-progress pipe:1 -nostats`` after the binary, unless already present."""
    command = list(args)
    if "-progress" in command:
        return command
    return [command[0], "-progress", "pipe:1", "-nostats", *command[1:]]


def run_ffmpeg(args: Sequence[str], deadline_monotonic: float, total_seconds: float = 0.0,
               label: str = "ffmpeg", on_progress: ProgressHook | None = None,
               request_progress: bool = True) -> RunResult:
    """Run one ffmpeg command; kill it at the deadline and raise TranscodeTimeout.

    ``total_seconds`` (the media duration the command writes) turns progress
    into a percentage in the ``transcode_progress`` log lines.
    ``request_progress=False`` runs ``args`` unchanged, for a command that is
    not ffmpeg.
    """
    started = time.monotonic()
    if deadline_monotonic - started <= 0:
        raise TranscodeTimeout(f"no time left before the invocation deadline to start {label}")

    command = with_progress(args) if request_progress else list(args)
    progress = Progress()
    lock = threading.Lock()
    tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
    hook = _logging_hook(label, total_seconds, on_progress)
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    readers = [
        threading.Thread(target=_read_progress, args=(process.stdout, progress, lock, hook), daemon=True),
        threading.Thread(target=_read_tail, args=(process.stderr, tail), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        process.wait(timeout=max(0.0, deadline_monotonic - time.monotonic()))
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        elapsed = time.monotonic() - started
        log.warning("ffmpeg_killed", step=label, reason="deadline", elapsedMs=int(elapsed * 1000),
                    outTimeSeconds=round(progress.out_time_seconds, 3))
        raise TranscodeTimeout(
            f"{label} killed at the invocation deadline after {elapsed:.1f}s, "
            f"{progress.out_time_seconds:.1f}s of media written; nothing was uploaded"
        ) from None
    finally:
        for reader in readers:
            reader.join(timeout=5)
        process.stdout.close()
        process.stderr.close()

    stderr_tail = "\n".join(tail)
    if process.returncode != 0:
        raise _failure(label, process.returncode, stderr_tail)
    return RunResult(int((time.monotonic() - started) * 1000), stderr_tail, progress)


def _logging_hook(label: str, total_seconds: float, extra: ProgressHook | None) -> ProgressHook:
    state = {"last": time.monotonic()}

    def hook(progress: Progress) -> None:
        now = time.monotonic()
        if extra is not None:
            extra(progress)
        if progress.ended or now - state["last"] < PROGRESS_LOG_INTERVAL_SECONDS:
            return
        state["last"] = now
        percent = (min(100.0, 100 * progress.out_time_seconds / total_seconds)
                   if total_seconds > 0 else None)
        log.info("transcode_progress", step=label, outTimeSeconds=round(progress.out_time_seconds, 2),
                 percent=round(percent, 1) if percent is not None else None, speed=progress.speed)

    return hook


def _failure(label: str, returncode: int, stderr_tail: str) -> Exception:
    """Map a failed exit to an error class; the exit code decides failure, stderr the class."""
    lines = [line for line in stderr_tail.splitlines() if line.strip()]
    last = lines[-1][:300] if lines else "no error output"
    if returncode < 0:
        name = signal.Signals(-returncode).name if -returncode in signal.valid_signals() else str(-returncode)
        log.warning("ffmpeg_killed", step=label, reason="signal", signal=name)
        return FfmpegKilled(f"{label} was killed by {name} (likely the OOM killer: raise memorySize)")
    if any(marker in stderr_tail for marker in _NO_SPACE_MARKERS):
        return ScratchFull(f"{label} ran out of scratch space: {last}")
    if any(marker in stderr_tail for marker in _NO_MEMORY_MARKERS):
        return FfmpegKilled(f"{label} could not allocate memory: {last}")
    if any(marker in stderr_tail for marker in _UNSUPPORTED_MARKERS):
        return UnsupportedCodec(f"{label} has no decoder or encoder for the input: {last}")
    return FfmpegFailed(f"{label} exited with {returncode}: {last}")
