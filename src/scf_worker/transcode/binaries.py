"""Locate ffmpeg and ffprobe: configured path, PATH, layer (``/opt``), code package, imageio-ffmpeg.

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
    """Return ``path`` when it is executable, else a copy under the temp dir with the exec bit set.

    The copy's name carries the source's size and mtime, so a changed layer
    never reuses a stale copy; it is written under a temporary name and
    renamed, so a concurrent invocation never runs a half-written file.
    """
    if os.access(path, os.X_OK):
        return path
    source = Path(path)
    status = source.stat()
    copy_name = f"{source.name}-{status.st_size}-{int(status.st_mtime)}"
    target = Path(tempfile.gettempdir()) / "scf-worker-bin" / copy_name
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        fd, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{source.name}-")
        os.close(fd)
        try:
            shutil.copyfile(source, partial)
            os.chmod(partial, stat.S_IRWXU)  # the function's own user is the only one running it
            os.replace(partial, target)
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
    return str(target)


def _code_package_candidates(name: str) -> list[str]:
    """Paths where a binary shipped in the function's code package lives (``USER_CODE_ROOT``)."""
    root = os.environ.get("USER_CODE_ROOT")
    return [os.path.join(root, name), os.path.join(root, "bin", name)] if root else []


@lru_cache(maxsize=4)
def find_ffmpeg(configured: str | None = None) -> str:
    if configured and not os.path.isfile(configured):
        # A configured path that is wrong is a deployment error; silently using another
        # ffmpeg would hide it.
        raise FfmpegNotFound(f"FFMPEG_BINARY={configured} does not exist; fix the path or unset it")
    candidates = (configured, shutil.which("ffmpeg"), "/opt/ffmpeg", "/opt/bin/ffmpeg",
                  *_code_package_candidates("ffmpeg"))
    for candidate in candidates:
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
    for candidate in (configured, shutil.which("ffprobe"), sibling, "/opt/ffprobe", "/opt/bin/ffprobe",
                      *_code_package_candidates("ffprobe")):
        if candidate and os.path.isfile(candidate):
            return _executable(candidate)
    return None
