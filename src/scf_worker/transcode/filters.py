"""Rendition sizes and ffmpeg filter chains.

A ladder rung names the short edge of the displayed picture, so a portrait
1080×1920 phone video is "1080p" like a landscape 1920×1080 one. Sizes are
computed from the displayed orientation (ffmpeg's autorotate turns the frames
before our filters run) and the sample aspect ratio, rounded to even numbers
because yuv420p halves the chroma planes, and never larger than the source.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from scf_worker.transcode.probe import MediaInfo

# Tone mapping from PQ or HLG to BT.709 SDR; needs the zimg-based zscale filter.
TONEMAP_CHAIN = ("zscale=t=linear:npl=100", "format=gbrpf32le", "zscale=p=bt709",
                 "tonemap=tonemap=hable:desat=0", "zscale=t=bt709:m=bt709:r=tv")
SDR_COLOUR_OPTIONS = ("-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709")


@dataclass(frozen=True)
class Size:
    width: int
    height: int

    @property
    def short_edge(self) -> int:
        return min(self.width, self.height)

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"


def even(value: float, limit: float | None = None) -> int:
    """Round to the nearest even integer (at least 2), and never above ``limit``."""
    nearest = round(value / 2) * 2
    if limit is not None:
        nearest = min(nearest, int(limit) // 2 * 2)
    return max(2, nearest)


def fit_short_edge(info: MediaInfo, short_edge: int) -> Size:
    """Scale the displayed picture so its short edge is ``short_edge``, never upscaling."""
    width, height = info.display_size
    scale = min(1.0, short_edge / min(width, height))
    return Size(even(width * scale, width), even(height * scale, height))


def fit_box(info: MediaInfo, long_edge: int) -> Size:
    """Scale the displayed picture so its long edge is at most ``long_edge``."""
    width, height = info.display_size
    scale = min(1.0, long_edge / max(width, height))
    return Size(even(width * scale, width), even(height * scale, height))


def ladder_sizes(info: MediaInfo, ladder: tuple[int, ...]) -> list[tuple[str, Size]]:
    """Return (name, size) for each rung the source can fill; a small source gets one rung.

    A rung is kept when the source's short edge reaches it. A source smaller
    than every rung is rendered once at its own (even-rounded) size.
    """
    width, height = info.display_size
    source_short = min(width, height)
    rungs = [(f"{h}p", fit_short_edge(info, h)) for h in sorted(ladder) if h <= source_short]
    if not rungs:
        size = fit_short_edge(info, source_short)
        rungs = [(f"{size.short_edge}p", size)]
    return rungs


def output_frame_rate(info: MediaInfo, max_rate: int) -> Fraction | None:
    """Return the constant rate to force, or None to keep the source's timestamps.

    Variable-rate sources get their average rate, so HLS segments and the
    fan-out's concatenation see evenly spaced frames; sources faster than
    ``max_rate`` are capped.
    """
    rate = info.frame_rate
    if rate is None:
        return None
    if rate > max_rate:
        return Fraction(max_rate)
    if info.is_variable_frame_rate:
        return rate.limit_denominator(1001)
    return None


@lru_cache(maxsize=4)
def available_filters(ffmpeg: str) -> frozenset[str]:
    """Return the names of the filters this ffmpeg build has (``ffmpeg -filters``)."""
    completed = subprocess.run([ffmpeg, "-hide_banner", "-filters"], capture_output=True,
                               timeout=30, check=False)
    names = set()
    for line in completed.stdout.decode("utf-8", "replace").splitlines():
        parts = line.split()
        if len(parts) >= 3 and "->" in parts[2]:
            names.add(parts[1])
    return frozenset(names)


def can_tonemap(ffmpeg: str) -> bool:
    return {"zscale", "tonemap"} <= available_filters(ffmpeg)


def common_chain(info: MediaInfo, max_rate: int, tonemap: bool) -> list[str]:
    """Filters applied once before the picture is split into rungs: rate, then HDR to SDR."""
    chain = []
    rate = output_frame_rate(info, max_rate)
    if rate is not None:
        chain.append(f"fps={rate.numerator}/{rate.denominator}")
    if info.is_hdr and tonemap:
        chain.extend(TONEMAP_CHAIN)
    return chain


def rotation_chain(rotation: int) -> list[str]:
    """Filters that turn stored frames upright, as ffmpeg's autorotate would."""
    chains = {90: ["transpose=clock"], 180: ["hflip", "vflip"], 270: ["transpose=cclock"]}
    return chains.get(rotation % 360, [])


def scale_chain(size: Size, pix_fmt: str = "yuv420p") -> list[str]:
    # format= after scale reduces 10-bit and 4:2:2/4:4:4 sources to 8-bit 4:2:0.
    return [f"scale={size.width}:{size.height}:flags=bicubic", "setsar=1", f"format={pix_fmt}"]
