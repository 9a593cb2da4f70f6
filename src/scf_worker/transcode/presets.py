"""ffmpeg argument lists for each preset.

Video output is H.264 (High profile) with AAC, yuv420p, even dimensions and
``+faststart``; the scale filter never upscales and keeps the aspect ratio.
ffmpeg applies rotation metadata itself (autorotate), so sizes are computed
from the displayed orientation.
"""

from __future__ import annotations

from scf_worker.transcode.probe import MediaInfo


def target_size(info: MediaInfo, max_height: int) -> tuple[int, int]:
    """Return an even output size no larger than the source and at most ``max_height`` tall."""
    width, height = info.display_size
    if height > max_height:
        width = round(width * max_height / height)
        height = max_height
    return max(2, width - width % 2), max(2, height - height % 2)


def mp4_args(ffmpeg: str, src: str, dest: str, info: MediaInfo, max_height: int = 720) -> list[str]:
    args = [ffmpeg, "-hide_banner", "-nostdin", "-y", "-i", src, "-map", "0:v:0"]
    if info.has_audio:
        args += ["-map", "0:a:0"]
    width, height = target_size(info, max_height)
    # zscale is not in every build, so 10-bit or HDR sources are reduced by format=yuv420p.
    args += [
        "-vf", f"scale={width}:{height}:flags=bicubic,format=yuv420p",
        "-c:v", "libx264", "-profile:v", "high", "-preset", "veryfast", "-crf", "23",
        "-pix_fmt", "yuv420p",
    ]
    if info.has_audio:
        args += ["-c:a", "aac", "-b:a", "128k", "-ac", "2"]
    args += ["-movflags", "+faststart", "-f", "mp4", dest]
    return args


def thumbnail_args(ffmpeg: str, src: str, dest: str, info: MediaInfo, max_height: int = 360) -> list[str]:
    offset = min(1.0, info.duration_seconds / 2) if info.duration_seconds else 0.0
    width, height = target_size(info, max_height)
    return [ffmpeg, "-hide_banner", "-nostdin", "-y", "-ss", f"{offset:.3f}", "-i", src,
            "-frames:v", "1", "-vf", f"scale={width}:{height},format=yuvj420p", "-q:v", "3",
            "-f", "image2", dest]
