"""Locate ffmpeg and ffprobe: the configured path, then PATH, then the imageio-ffmpeg wheel.

On SCF the code and layer directories are read-only and the exec bit may be
lost, so a binary that is not executable is copied to /tmp and made so.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from functools import lru_cache
from pathlib import Path

from scf_worker.transcode.errors import FfmpegNotFound


def _executable(path: str) -> str:
    if os.access(path, os.X_OK):
        return path
    target = Path(tempfile.gettempdir()) / "scf-worker-bin" / Path(path).name
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        shutil.copyfile(path, target)
        target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(target)


@lru_cache(maxsize=4)
def find_ffmpeg(configured: str | None = None) -> str:
    for candidate in (configured, shutil.which("ffmpeg"), "/opt/ffmpeg", "/opt/bin/ffmpeg"):
        if candidate and os.path.isfile(candidate):
            return _executable(candidate)
    try:
        import imageio_ffmpeg
    except ImportError:
        raise FfmpegNotFound(
            "ffmpeg not found: set FFMPEG_BINARY, install ffmpeg, or pip install 'scf-worker[media]'"
        ) from None
    return _executable(imageio_ffmpeg.get_ffmpeg_exe())


@lru_cache(maxsize=4)
def find_ffprobe(configured: str | None = None, ffmpeg: str | None = None) -> str | None:
    """Return an ffprobe path, or None when only ffmpeg exists (probing then uses PyAV)."""
    sibling = str(Path(ffmpeg).with_name("ffprobe")) if ffmpeg else None
    for candidate in (configured, shutil.which("ffprobe"), sibling, "/opt/ffprobe"):
        if candidate and os.path.isfile(candidate):
            return _executable(candidate)
    return None
