"""Generate the inputs that break naive transcoders, each a second or two long.

Used by the tests, the benchmarks and ``scf-worker demo``: every file is made
with ffmpeg on the spot, so nothing binary is checked in. Each input's
``expected`` is the outcome the pipeline must reach: ``done``, or the code
of the permanent failure.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from scf_worker.transcode.binaries import find_ffmpeg

GENERATE_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class HardInput:
    """One generated input, the file name it gets and the outcome the pipeline must reach."""

    name: str
    filename: str
    expected: str
    make: Callable[[str, Path], None]


def _ffmpeg(binary: str, *args: str) -> None:
    subprocess.run([binary, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
                   check=True, capture_output=True, timeout=GENERATE_TIMEOUT_SECONDS)


def _video(size: str, seconds: float, rate: int = 25) -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]


def _tone(seconds: float) -> list[str]:
    return ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]


_H264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25"]
_AAC = ["-c:a", "aac", "-b:a", "64k"]


def make_720p(binary: str, dest: Path) -> None:
    _ffmpeg(binary, *_video("1280x720", 1.5), *_tone(1.5), *_H264, *_AAC, "-movflags", "+faststart",
            str(dest))


@lru_cache(maxsize=4)
def _has_option(binary: str, option: str) -> bool:
    completed = subprocess.run([binary, "-hide_banner", "-h", "full"], capture_output=True,
                               timeout=GENERATE_TIMEOUT_SECONDS, check=False)
    return f"-{option}" in completed.stdout.decode("utf-8", "replace")


def make_portrait(binary: str, dest: Path) -> None:
    # Stored landscape with a 90° display matrix, as phones write portrait video. ffmpeg 5.1
    # writes the matrix from the rotate tag only when stream-copying, hence the second pass.
    # Newer ffmpeg (9.0 from imageio-ffmpeg) ignores that tag and takes -display_rotation on the
    # input instead, which 5.1 lacks; both write the same matrix.
    plain = dest.with_name(dest.stem + "-plain.mp4")
    _ffmpeg(binary, *_video("640x360", 1.5), *_tone(1.5), *_H264, *_AAC, str(plain))
    if _has_option(binary, "display_rotation"):
        _ffmpeg(binary, "-display_rotation", "90", "-i", str(plain), "-map", "0", "-c", "copy", str(dest))
    else:
        _ffmpeg(binary, "-i", str(plain), "-map", "0", "-c", "copy", "-metadata:s:v:0", "rotate=90",
                str(dest))
    plain.unlink()


def make_853x480(binary: str, dest: Path) -> None:
    # 4:4:4 lets libx264 take an odd width; the pipeline must still output 4:2:0 with even sizes.
    _ffmpeg(binary, *_video("853x480", 1.0), *_tone(1.0), "-c:v", "libx264", "-preset", "ultrafast",
            "-pix_fmt", "yuv444p", *_AAC, str(dest))


def make_1923x1080(binary: str, dest: Path) -> None:
    _ffmpeg(binary, *_video("1923x1080", 0.6), *_tone(0.6), "-c:v", "libx264", "-preset", "ultrafast",
            "-pix_fmt", "yuv444p", *_AAC, str(dest))


def make_no_audio(binary: str, dest: Path) -> None:
    _ffmpeg(binary, *_video("320x240", 1.5), *_H264, str(dest))


def make_cover_art(binary: str, dest: Path) -> None:
    # The picture is written first: muxed from lavfi with -frames:v 1, ffmpeg 9.0 stops the
    # whole output after that one frame, leaving 48 ms of audio.
    cover = dest.with_name(dest.stem + "-cover.jpg")
    _ffmpeg(binary, "-f", "lavfi", "-i", "testsrc2=size=300x300", "-frames:v", "1", str(cover))
    _ffmpeg(binary, *_tone(1.5), "-i", str(cover), "-map", "0", "-map", "1", "-c:a", "libmp3lame",
            "-b:a", "64k", "-c:v", "mjpeg", "-disposition:v", "attached_pic", "-id3v2_version", "3",
            str(dest))
    cover.unlink()


def make_hevc_10bit_hdr(binary: str, dest: Path) -> None:
    # PQ (SMPTE 2084) transfer with BT.2020 primaries: HDR10 as phones and cameras write it.
    _ffmpeg(binary, *_video("640x360", 1.0), *_tone(1.0), "-c:v", "libx265", "-preset", "ultrafast",
            "-pix_fmt", "yuv420p10le", "-x265-params", "log-level=error",
            # Set on the frames: given as -color_* output options, ffmpeg 9.0 leaves the stream
            # untagged (5.1 tags it either way).
            "-vf", "setparams=color_primaries=bt2020:color_trc=smpte2084:colorspace=bt2020nc",
            "-tag:v", "hvc1", *_AAC, str(dest))


def make_vfr(binary: str, dest: Path) -> None:
    # Keep every frame for the first half second, then one in three: the frame rate varies.
    _ffmpeg(binary, *_video("320x240", 1.5, rate=30), *_tone(1.5),
            "-vf", "select='lt(t,0.5)+not(mod(n,3))'", "-fps_mode", "vfr", *_H264, *_AAC, str(dest))


def make_empty(binary: str, dest: Path) -> None:
    dest.write_bytes(b"")


def make_truncated_moov(binary: str, dest: Path) -> None:
    # Without +faststart the moov box is written last, so cutting the file loses it.
    full = dest.with_name(dest.stem + "-full.mp4")
    _ffmpeg(binary, *_video("320x240", 1.0), *_tone(1.0), *_H264, *_AAC, str(full))
    data = full.read_bytes()
    full.unlink()
    dest.write_bytes(data[: len(data) * 2 // 3])


def make_text(binary: str, dest: Path) -> None:
    dest.write_text("这不是视频。This is a text file with an .mp4 name.\n" * 20, encoding="utf-8")


def make_image(binary: str, dest: Path) -> None:
    # Odd on both axes: the renditions must still come out even.
    _ffmpeg(binary, "-f", "lavfi", "-i", "testsrc2=size=1600x900", "-vf", "scale=1601:901", "-frames:v", "1",
            str(dest))


def make_long_clip(dest: Path, seconds: float, size: str = "320x180", ffmpeg: str | None = None,
                   keyframe_interval: int = 50) -> Path:
    """Write a long H.264/AAC clip with a keyframe every ``keyframe_interval`` frames (25 fps)."""
    _ffmpeg(find_ffmpeg(ffmpeg), *_video(size, seconds), *_tone(seconds), "-c:v", "libx264",
            "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", str(keyframe_interval), *_AAC,
            "-movflags", "+faststart", str(dest))
    return dest


HARD_INPUTS: tuple[HardInput, ...] = (
    HardInput("h264_720p", "clip-720p.mp4", "done", make_720p),
    HardInput("portrait_rotated", "portrait.mp4", "done", make_portrait),
    HardInput("odd_853x480", "odd-853x480.mp4", "done", make_853x480),
    HardInput("odd_1923x1080", "odd-1923x1080.mp4", "done", make_1923x1080),
    HardInput("no_audio", "no-audio.mp4", "done", make_no_audio),
    HardInput("audio_cover_art", "cover-art.mp3", "done", make_cover_art),
    HardInput("hevc_10bit_hdr", "hevc-10bit-hdr.mp4", "done", make_hevc_10bit_hdr),
    HardInput("variable_frame_rate", "vfr.mp4", "done", make_vfr),
    HardInput("image", "image.png", "done", make_image),
    HardInput("zero_length", "empty.mp4", "invalid_media", make_empty),
    HardInput("moov_cut_off", "truncated.mp4", "invalid_media", make_truncated_moov),
    HardInput("text_as_mp4", "text.mp4", "invalid_media", make_text),
)


def hard_input(name: str) -> HardInput:
    for item in HARD_INPUTS:
        if item.name == name:
            return item
    raise KeyError(f"unknown hard input {name!r}; known: {', '.join(i.name for i in HARD_INPUTS)}")


def generate(name: str, folder: Path, ffmpeg: str | None = None) -> Path:
    """Write one hard input into ``folder`` and return its path."""
    item = hard_input(name)
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / item.filename
    item.make(find_ffmpeg(ffmpeg), dest)
    return dest
