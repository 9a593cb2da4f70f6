"""Generate short real media with ffmpeg for the demo and tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

from scf_worker.transcode.binaries import find_ffmpeg


def make_clip(dest: Path, seconds: float = 3.0, width: int = 1280, height: int = 720,
              audio: bool = True, ffmpeg: str | None = None) -> Path:
    """Write an H.264/AAC MP4 with a moving test picture and a tone."""
    binary = find_ffmpeg(ffmpeg)
    args = [binary, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate=25:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if audio:
        args += ["-c:a", "aac", "-b:a", "96k"]
    args += ["-t", str(seconds), "-movflags", "+faststart", str(dest)]
    subprocess.run(args, check=True, capture_output=True, timeout=120)
    return dest
