"""Checks every output passes before anything is uploaded.

Each rendition is probed again: codec, yuv420p, even dimensions, the planned
size, the expected streams, SDR colour, a duration within 1 s of the source,
and for MP4 the ``moov`` box ahead of ``mdat`` (faststart, so playback starts
before the whole file has arrived). A failed check raises OutputInvalid.
"""

from __future__ import annotations

import struct
from pathlib import Path

from scf_worker.transcode.errors import InvalidMedia, OutputInvalid
from scf_worker.transcode.filters import Size
from scf_worker.transcode.probe import MediaInfo, probe

DURATION_TOLERANCE_SECONDS = 1.0
PICTURE_PIX_FMTS = frozenset({"yuv420p", "yuvj420p"})


def top_level_boxes(path: Path) -> list[str]:
    """Return the types of the top-level ISO BMFF boxes in file order."""
    boxes = []
    size_total = path.stat().st_size
    with path.open("rb") as handle:
        offset = 0
        while offset + 8 <= size_total:
            handle.seek(offset)
            size, kind = struct.unpack(">I4s", handle.read(8))
            if size == 1:
                size = struct.unpack(">Q", handle.read(8))[0]
            elif size == 0:
                size = size_total - offset
            if size < 8:
                break
            boxes.append(kind.decode("latin-1"))
            offset += size
    return boxes


def is_faststart(path: Path) -> bool:
    boxes = top_level_boxes(path)
    return "moov" in boxes and "mdat" in boxes and boxes.index("moov") < boxes.index("mdat")


def _probe_output(path: Path, ffprobe: str | None) -> MediaInfo:
    try:
        return probe(path, ffprobe)
    except InvalidMedia as exc:
        raise OutputInvalid(f"{path.name} is unreadable: {exc}") from None


def _check_duration(path: Path, out: MediaInfo, expected_seconds: float) -> None:
    if abs(out.duration_seconds - expected_seconds) > DURATION_TOLERANCE_SECONDS:
        raise OutputInvalid(f"{path.name} lasts {out.duration_seconds:.2f}s, "
                            f"expected {expected_seconds:.2f}s")


def _check_picture(path: Path, out: MediaInfo, size: Size | None) -> None:
    if out.width % 2 or out.height % 2:
        raise OutputInvalid(f"{path.name} has odd dimensions {out.width}x{out.height}")
    if out.pix_fmt not in PICTURE_PIX_FMTS:
        raise OutputInvalid(f"{path.name} has pixel format {out.pix_fmt}, expected yuv420p")
    if size is not None and (out.width, out.height) != (size.width, size.height):
        raise OutputInvalid(f"{path.name} is {out.width}x{out.height}, planned {size}")
    if out.rotation:
        raise OutputInvalid(f"{path.name} still carries a {out.rotation}° rotation")


def check_video(path: Path, ffprobe: str | None, size: Size, expected_seconds: float,
                expect_audio: bool) -> MediaInfo:
    """Check an H.264 MP4 rendition; return its probe."""
    out = _probe_output(path, ffprobe)
    if out.video_codec != "h264":
        raise OutputInvalid(f"{path.name} has video codec {out.video_codec}, expected h264")
    _check_picture(path, out, size)
    if out.is_hdr or out.bit_depth != 8:
        raise OutputInvalid(f"{path.name} is not 8-bit SDR ({out.pix_fmt}, {out.color_transfer})")
    if out.has_audio != expect_audio:
        raise OutputInvalid(f"{path.name} {'lacks' if expect_audio else 'has'} an audio stream")
    if expect_audio and out.audio_codec != "aac":
        raise OutputInvalid(f"{path.name} has audio codec {out.audio_codec}, expected aac")
    _check_duration(path, out, expected_seconds)
    if not is_faststart(path):
        raise OutputInvalid(f"{path.name} has its moov box after mdat (no faststart)")
    return out


def check_audio(path: Path, ffprobe: str | None, expected_seconds: float) -> MediaInfo:
    """Check an AAC-in-M4A rendition; return its probe."""
    out = _probe_output(path, ffprobe)
    if out.has_video or out.has_cover_art or out.audio_codec != "aac":
        raise OutputInvalid(f"{path.name} is not audio-only AAC ({out.video_codec}, {out.audio_codec})")
    _check_duration(path, out, expected_seconds)
    if not is_faststart(path):
        raise OutputInvalid(f"{path.name} has its moov box after mdat (no faststart)")
    return out


def check_image(path: Path, ffprobe: str | None, size: Size | None, codec: str) -> MediaInfo:
    """Check a JPEG or WebP picture (thumbnail, sprite sheet or image rendition)."""
    out = _probe_output(path, ffprobe)
    if out.video_codec != codec:
        raise OutputInvalid(f"{path.name} has codec {out.video_codec}, expected {codec}")
    _check_picture(path, out, size)
    return out
