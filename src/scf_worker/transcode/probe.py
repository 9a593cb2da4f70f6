"""Probe media with ffprobe, or with PyAV where ffprobe is absent."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scf_worker.transcode.errors import InvalidMedia

PROBE_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class MediaInfo:
    """What the pipeline needs to know about one file."""

    format_name: str
    duration_seconds: float
    has_video: bool
    has_audio: bool
    width: int = 0
    height: int = 0
    rotation: int = 0
    video_codec: str | None = None
    audio_codec: str | None = None
    pix_fmt: str | None = None
    color_transfer: str | None = None
    is_still_image: bool = False

    @property
    def display_size(self) -> tuple[int, int]:
        """Return width and height as shown, with a 90° or 270° rotation applied."""
        if self.rotation % 180 == 90:
            return self.height, self.width
        return self.width, self.height


def probe(path: Path, ffprobe: str | None) -> MediaInfo:
    if path.stat().st_size == 0:
        raise InvalidMedia("file is empty")
    if ffprobe is None:
        return _probe_pyav(path)
    command = [ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
               str(path)]
    try:
        completed = subprocess.run(command, capture_output=True, timeout=PROBE_TIMEOUT_SECONDS,
                                   check=False)
    except subprocess.TimeoutExpired:
        raise InvalidMedia("ffprobe timed out reading the file") from None
    if completed.returncode != 0:
        raise InvalidMedia("ffprobe could not read the file as media")
    return _from_ffprobe(json.loads(completed.stdout or b"{}"))


def _rotation_of(stream: dict[str, Any]) -> int:
    rotate = stream.get("tags", {}).get("rotate")
    if rotate is not None:
        return int(float(rotate)) % 360
    for side in stream.get("side_data_list", []):
        if "rotation" in side:
            return int(-float(side["rotation"])) % 360
    return 0


def _from_ffprobe(data: dict[str, Any]) -> MediaInfo:
    streams = data.get("streams") or []
    fmt = data.get("format") or {}
    video = next((s for s in streams if s.get("codec_type") == "video"
                  and not s.get("disposition", {}).get("attached_pic")), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video is None and audio is None:
        raise InvalidMedia("no audio or video stream")
    format_name = str(fmt.get("format_name") or "")
    duration = float(fmt.get("duration") or (video or audio or {}).get("duration") or 0)
    still = video is not None and audio is None and (
        format_name.endswith("_pipe") or format_name in ("image2", "png_pipe", "webp_pipe")
    )
    if duration <= 0 and not still:
        raise InvalidMedia("media has no duration")
    return MediaInfo(
        format_name=format_name,
        duration_seconds=duration,
        has_video=video is not None,
        has_audio=audio is not None,
        width=int((video or {}).get("width") or 0),
        height=int((video or {}).get("height") or 0),
        rotation=_rotation_of(video) if video else 0,
        video_codec=(video or {}).get("codec_name"),
        audio_codec=(audio or {}).get("codec_name"),
        pix_fmt=(video or {}).get("pix_fmt"),
        color_transfer=(video or {}).get("color_transfer"),
        is_still_image=still,
    )


def _probe_pyav(path: Path) -> MediaInfo:
    try:
        import av
    except ImportError:
        raise InvalidMedia("no ffprobe and no PyAV to probe with; install scf-worker[media]") from None
    try:
        with av.open(str(path)) as container:
            video = next(iter(container.streams.video), None)
            audio = next(iter(container.streams.audio), None)
            if video is None and audio is None:
                raise InvalidMedia("no audio or video stream")
            duration = (container.duration or 0) / 1_000_000
            rotation = 0
            if video is not None:
                rotation = int(getattr(video.codec_context, "rotation", 0) or 0) % 360
            return MediaInfo(
                format_name=container.format.name,
                duration_seconds=duration,
                has_video=video is not None,
                has_audio=audio is not None,
                width=video.codec_context.width if video else 0,
                height=video.codec_context.height if video else 0,
                rotation=rotation,
                video_codec=video.codec_context.name if video else None,
                audio_codec=audio.codec_context.name if audio else None,
                pix_fmt=video.codec_context.pix_fmt if video else None,
            )
    except av.FFmpegError:
        raise InvalidMedia("PyAV could not read the file as media") from None
