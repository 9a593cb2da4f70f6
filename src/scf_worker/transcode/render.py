"""Render a local source into checked output files, by input kind and preset.

Video → MP4 ladder, HLS, thumbnail, sprite sheet with WebVTT; audio-only →
AAC in M4A (plus a thumbnail from cover art); still image → resized WebP and
JPEG. Nothing here touches the object store: the caller uploads what this
returns, in phase order, only after every check passed.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from scf_worker.observability.logging import get_logger
from scf_worker.transcode import checks, hls, presets
from scf_worker.transcode.errors import InvalidMedia
from scf_worker.transcode.filters import Size, can_tonemap, even, fit_box, fit_short_edge, ladder_sizes
from scf_worker.transcode.options import TranscodeOptions
from scf_worker.transcode.outputs import OutputFile
from scf_worker.transcode.presets import Rung
from scf_worker.transcode.probe import MediaInfo
from scf_worker.transcode.runner import run_ffmpeg

log = get_logger(__name__)
MAX_SPRITE_TILES = 100
IMAGE_CONTENT_TYPES = {"jpeg": "image/jpeg", "webp": "image/webp"}
IMAGE_EXTENSIONS = {"jpeg": "jpg", "webp": "webp"}
IMAGE_CODECS = {"jpeg": "mjpeg", "webp": "webp"}


@dataclass
class RenderContext:
    """Binaries, scratch directory, deadline and options of one render."""

    ffmpeg: str
    ffprobe: str | None
    scratch: Path
    deadline: float
    options: TranscodeOptions
    ffmpeg_ms: int = 0

    @property
    def tonemap(self) -> bool:
        return can_tonemap(self.ffmpeg)

    def run(self, args: list[str], label: str, total_seconds: float = 0.0) -> None:
        self.ffmpeg_ms += run_ffmpeg(args, self.deadline, total_seconds, label).duration_ms

    def directory(self, name: str) -> Path:
        path = self.scratch / name
        path.mkdir(parents=True, exist_ok=True)
        return path


def input_kind(info: MediaInfo) -> str:
    """Return ``image``, ``audio`` or ``video``: what the source is, whatever its file name."""
    if info.is_still_image:
        return "image"
    if not info.has_video:
        if not info.has_audio:
            raise InvalidMedia("no audio or video stream")
        return "audio"
    return "video"


def render_source(ctx: RenderContext, src: Path, info: MediaInfo) -> list[OutputFile]:
    """Render everything the options ask for from one local source."""
    kind = input_kind(info)
    if kind == "image":
        return render_image(ctx, src, info)
    if kind == "audio":
        return render_audio(ctx, src, info)
    outputs: list[OutputFile] = []
    if info.is_hdr and not ctx.tonemap:
        log.warning("hdr_not_tonemapped", transfer=info.color_transfer,
                    reason="this ffmpeg has no zscale/tonemap filter; colours will look washed out")
    if ctx.options.wants("mp4") or ctx.options.wants("hls"):
        rungs = plan_rungs(ctx, info)
        ctx.run(presets.ladder_args(ctx.ffmpeg, src, info, rungs, ctx.options, ctx.tonemap, info.has_audio),
                "ladder", info.duration_seconds)
        outputs += finish_ladder(ctx, rungs, info.duration_seconds, info.has_audio, info.frame_rate)
    outputs += render_stills(ctx, src, info)
    return outputs


def plan_rungs(ctx: RenderContext, info: MediaInfo) -> list[Rung]:
    folder = ctx.directory("mp4")
    return [Rung(name, size, folder / f"{name}.mp4") for name, size in ladder_sizes(info, ctx.options.ladder)]


def finish_ladder(ctx: RenderContext, rungs: list[Rung], expected_seconds: float, has_audio: bool,
                  frame_rate: Fraction | None) -> list[OutputFile]:
    """Check the encoded rungs, package HLS from them, and return the outputs to upload."""
    outputs: list[OutputFile] = []
    # Each check is an ffprobe process (~0.1 s to start); running them side by side hides that.
    with ThreadPoolExecutor(max_workers=len(rungs)) as pool:
        checked = list(pool.map(
            lambda r: checks.check_video(r.path, ctx.ffprobe, r.size, expected_seconds, has_audio), rungs))
    probes = list(zip(rungs, checked, strict=True))
    for rung, out in probes:
        outputs.append(OutputFile(rung.path, f"mp4/{rung.name}.mp4", "video", "video/mp4", out.width,
                                  out.height, out.duration_seconds, listed=ctx.options.wants("mp4"),
                                  extra={"rendition": rung.name}))
    if not ctx.options.wants("mp4"):
        # The MP4s were only an intermediate step towards HLS; they are not uploaded.
        outputs = []
    if ctx.options.wants("hls"):
        outputs += render_hls(ctx, probes, expected_seconds, frame_rate)
    return outputs


def render_hls(ctx: RenderContext, probes: list[tuple[Rung, MediaInfo]], expected_seconds: float,
               frame_rate: Fraction | None) -> list[OutputFile]:
    root = ctx.directory("hls")
    variants: list[OutputFile] = []
    outputs: list[OutputFile] = []
    for rung, video in probes:
        playlist = ctx.directory(f"hls/{rung.name}") / "index.m3u8"
        ctx.run(presets.hls_args(ctx.ffmpeg, rung.path, playlist, ctx.options), f"hls_{rung.name}")
        parts = hls.variant_outputs(rung.name, playlist, video, expected_seconds)
        outputs += parts
        variants.append(parts[-1])
    outputs.append(hls.write_master(root, variants, float(frame_rate) if frame_rate else None))
    return outputs


def render_stills(ctx: RenderContext, src: Path, info: MediaInfo) -> list[OutputFile]:
    outputs = []
    if ctx.options.wants("thumbnail"):
        outputs.append(render_thumbnail(ctx, src, info))
    if ctx.options.wants("sprite"):
        outputs += render_sprite(ctx, src, info)
    return outputs


def render_thumbnail(ctx: RenderContext, src: Path, info: MediaInfo) -> OutputFile:
    image_format = ctx.options.thumbnail_format
    dest = ctx.scratch / f"thumbnail.{IMAGE_EXTENSIONS[image_format]}"
    size = fit_short_edge(info, ctx.options.thumbnail_height)
    # Clamp the offset inside the media, one frame's worth before the end.
    offset = max(0.0, min(ctx.options.thumbnail_offset_seconds, info.duration_seconds - 0.1))
    ctx.run(presets.thumbnail_args(ctx.ffmpeg, src, dest, info, size, offset, image_format, ctx.tonemap),
            "thumbnail")
    out = checks.check_image(dest, ctx.ffprobe, size, IMAGE_CODECS[image_format])
    return OutputFile(dest, dest.name, "thumbnail", IMAGE_CONTENT_TYPES[image_format], out.width, out.height,
                      extra={"offset_seconds": round(offset, 3)})


def sprite_interval(duration_seconds: float, configured: float) -> float:
    """Seconds between sprite tiles: as configured, else whole seconds keeping ≤ 100 tiles."""
    interval = configured if configured > 0 else float(max(1, math.ceil(duration_seconds / MAX_SPRITE_TILES)))
    # Media shorter than one interval still gets its first frame as a single tile.
    return min(interval, max(duration_seconds, 0.04))


def render_sprite(ctx: RenderContext, src: Path, info: MediaInfo) -> list[OutputFile]:
    """Render a sprite sheet and its WebVTT index (``sprite.jpg#xywh=x,y,w,h`` per cue)."""
    options = ctx.options
    interval = sprite_interval(info.duration_seconds, options.sprite_interval_seconds)
    tile = fit_box(info, options.sprite_tile_width)
    frames_dir = ctx.directory("sprite-frames")
    pattern = frames_dir / "%05d.jpg"
    ctx.run(presets.sprite_frames_args(ctx.ffmpeg, src, pattern, info, interval, tile, ctx.tonemap),
            "sprite_frames", info.duration_seconds)
    count = min(len(list(frames_dir.glob("*.jpg"))), MAX_SPRITE_TILES * 4)
    if count == 0:
        raise InvalidMedia("no frame could be decoded for the sprite sheet")
    columns = min(options.sprite_columns, count)
    rows = math.ceil(count / columns)

    image_format = options.thumbnail_format
    sheet = ctx.scratch / f"sprite.{IMAGE_EXTENSIONS[image_format]}"
    ctx.run(presets.sprite_tile_args(ctx.ffmpeg, pattern, sheet, columns, rows, image_format), "sprite_tile")
    sheet_size = Size(tile.width * columns, tile.height * rows)
    checks.check_image(sheet, ctx.ffprobe, sheet_size, IMAGE_CODECS[image_format])

    index = ctx.scratch / "sprite.vtt"
    index.write_text(sprite_vtt(sheet.name, count, columns, tile, interval, info.duration_seconds),
                     encoding="utf-8")
    return [
        OutputFile(sheet, sheet.name, "sprite", IMAGE_CONTENT_TYPES[image_format], sheet_size.width,
                   sheet_size.height, extra={"tiles": count, "tile_width": tile.width,
                                             "tile_height": tile.height, "interval_seconds": interval}),
        OutputFile(index, index.name, "sprite_index", "text/vtt", 0, 0, info.duration_seconds),
    ]


def _vtt_time(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def sprite_vtt(sheet_name: str, count: int, columns: int, tile: Size, interval: float,
               duration_seconds: float) -> str:
    lines = ["WEBVTT", ""]
    for index in range(count):
        start = index * interval
        end = (index + 1) * interval
        if index == count - 1 and duration_seconds > start:
            end = duration_seconds  # the last tile stands for the rest of the media
        x, y = (index % columns) * tile.width, (index // columns) * tile.height
        lines += [f"{_vtt_time(start)} --> {_vtt_time(end)}",
                  f"{sheet_name}#xywh={x},{y},{tile.width},{tile.height}", ""]
    return "\n".join(lines)


def render_audio(ctx: RenderContext, src: Path, info: MediaInfo) -> list[OutputFile]:
    dest = ctx.scratch / "audio.m4a"
    ctx.run(presets.audio_only_args(ctx.ffmpeg, src, dest, info, ctx.options), "audio", info.duration_seconds)
    out = checks.check_audio(dest, ctx.ffprobe, info.duration_seconds)
    outputs = [OutputFile(dest, dest.name, "audio", "audio/mp4", 0, 0, out.duration_seconds)]
    if info.has_cover_art and ctx.options.wants("thumbnail"):
        image_format = ctx.options.thumbnail_format
        cover = ctx.scratch / f"cover.{IMAGE_EXTENSIONS[image_format]}"
        size = _cover_size(ctx, info)
        ctx.run(presets.cover_art_args(ctx.ffmpeg, src, cover, info, size, image_format), "cover_art")
        picture = checks.check_image(cover, ctx.ffprobe, size, IMAGE_CODECS[image_format])
        outputs.append(OutputFile(cover, cover.name, "thumbnail", IMAGE_CONTENT_TYPES[image_format],
                                  picture.width, picture.height))
    return outputs


def _cover_size(ctx: RenderContext, info: MediaInfo) -> Size:
    width, height = info.cover_art_size
    scale = min(1.0, ctx.options.thumbnail_height / max(1, min(width, height)))
    return Size(even(width * scale, width), even(height * scale, height))


def render_image(ctx: RenderContext, src: Path, info: MediaInfo) -> list[OutputFile]:
    planned: list[tuple[Path, Size, str]] = []
    seen: set[tuple[int, int]] = set()
    for long_edge in sorted(ctx.options.image_sizes):
        size = fit_box(info, long_edge)
        if (size.width, size.height) in seen:
            continue  # a small image fits several boxes unchanged; render it once
        seen.add((size.width, size.height))
        for image_format in ("webp", "jpeg"):
            name = f"image-{size.width}x{size.height}.{IMAGE_EXTENSIONS[image_format]}"
            planned.append((ctx.scratch / name, size, image_format))
    ctx.run(presets.image_args(ctx.ffmpeg, src, planned), "image")
    outputs = []
    for path, size, image_format in planned:
        out = checks.check_image(path, ctx.ffprobe, size, IMAGE_CODECS[image_format])
        outputs.append(OutputFile(path, path.name, "image", IMAGE_CONTENT_TYPES[image_format],
                                  out.width, out.height))
    return outputs
