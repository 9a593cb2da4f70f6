"""Which presets a job renders and how: ``TRANSCODE_*`` settings, then job parameters.

The function's environment sets the defaults once per cold start
(``TranscodeConfig.from_env``); a job's ``params`` may narrow or adjust them
for that job (``options_for``). Both paths validate every value, so a typo
fails the job permanently with ``invalid_params`` instead of rendering
something nobody asked for.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from scf_worker.runtime.config import env_float
from scf_worker.runtime.errors import ConfigError
from scf_worker.transcode.errors import InvalidTranscodeParams

VIDEO_PRESETS = ("mp4", "hls", "thumbnail", "sprite")
LADDER_HEIGHTS = (360, 480, 720, 1080)
# Peak video bit rate per rung (kbit/s); CRF decides quality, this caps it for HLS.
MAX_VIDEO_KBPS = {360: 1000, 480: 1600, 720: 3200, 1080: 6000}
H264_PROFILES = ("high", "main")
THUMBNAIL_FORMATS = ("jpeg", "webp")
HLS_SEGMENT_TYPES = ("mpegts", "fmp4")


@dataclass(frozen=True)
class TranscodeOptions:
    """Everything that decides the renditions of one job."""

    presets: tuple[str, ...] = VIDEO_PRESETS
    ladder: tuple[int, ...] = LADDER_HEIGHTS
    h264_profile: str = "high"
    crf: int = 23
    x264_preset: str = "veryfast"
    audio_kbps: int = 128
    max_frame_rate: int = 60
    keyframe_interval_seconds: float = 2.0
    thumbnail_format: str = "jpeg"
    thumbnail_offset_seconds: float = 1.0
    thumbnail_height: int = 360
    sprite_interval_seconds: float = 0.0
    sprite_columns: int = 10
    sprite_tile_width: int = 160
    hls_segment_type: str = "mpegts"
    hls_segment_seconds: int = 4
    image_sizes: tuple[int, ...] = (320, 1280)
    fanout_min_seconds: float = 300.0
    fanout_segment_seconds: float = 60.0
    fanout_segments: int = 0
    upload_margin_ms: int = 20_000

    def wants(self, preset: str) -> bool:
        return preset in self.presets


def _split_ints(raw: str, name: str, low: int, high: int) -> tuple[int, ...]:
    try:
        values = tuple(sorted({int(part) for part in raw.replace(" ", "").split(",") if part}))
    except ValueError:
        raise ConfigError(name, f"comma-separated integers from {low} to {high}", raw) from None
    if not values or not all(low <= v <= high for v in values):
        raise ConfigError(name, f"comma-separated integers from {low} to {high}", raw)
    return values


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env.get(name, "").strip().lower() or default
    if value not in choices:
        raise ConfigError(name, " or ".join(choices), value)
    return value


def config_from_env(environ: Mapping[str, str] | None = None) -> TranscodeOptions:
    """Read the ``TRANSCODE_*`` variables; raise ConfigError naming the bad one."""
    env = os.environ if environ is None else environ
    presets_raw = env.get("TRANSCODE_PRESETS", "").strip()
    presets: tuple[str, ...] = VIDEO_PRESETS
    if presets_raw:
        presets = tuple(p.strip().lower() for p in presets_raw.split(",") if p.strip())
        unknown = [p for p in presets if p not in VIDEO_PRESETS]
        if unknown or not presets:
            raise ConfigError("TRANSCODE_PRESETS", f"a comma-separated subset of {','.join(VIDEO_PRESETS)}",
                              presets_raw)
    ladder: tuple[int, ...] = LADDER_HEIGHTS
    if env.get("TRANSCODE_LADDER", "").strip():
        ladder = _split_ints(env["TRANSCODE_LADDER"], "TRANSCODE_LADDER", 144, 2160)
    image_sizes: tuple[int, ...] = (320, 1280)
    if env.get("TRANSCODE_IMAGE_SIZES", "").strip():
        image_sizes = _split_ints(env["TRANSCODE_IMAGE_SIZES"], "TRANSCODE_IMAGE_SIZES", 16, 8192)
    return TranscodeOptions(
        presets=presets,
        ladder=ladder,
        h264_profile=_choice(env, "TRANSCODE_H264_PROFILE", "high", H264_PROFILES),
        thumbnail_format=_choice(env, "TRANSCODE_THUMBNAIL_FORMAT", "jpeg", THUMBNAIL_FORMATS),
        thumbnail_offset_seconds=env_float(env, "TRANSCODE_THUMBNAIL_OFFSET_SEC", 1.0, 0, 86_400),
        hls_segment_type=_choice(env, "TRANSCODE_HLS_SEGMENT_TYPE", "mpegts", HLS_SEGMENT_TYPES),
        image_sizes=image_sizes,
        fanout_min_seconds=env_float(env, "TRANSCODE_FANOUT_MIN_SEC", 300.0, 1, 86_400),
        fanout_segment_seconds=env_float(env, "TRANSCODE_SEGMENT_SEC", 60.0, 2, 3600),
        upload_margin_ms=int(env_float(env, "TRANSCODE_UPLOAD_MARGIN_MS", 20_000, 0, 600_000)),
    )


def _param_list(params: Mapping[str, Any], name: str) -> list[Any] | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise InvalidTranscodeParams(f"params.{name} must be a non-empty list")
    return value


def _paramenv_float(params: Mapping[str, Any], name: str, low: float, high: float) -> float | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise InvalidTranscodeParams(f"params.{name} must be a number from {low:g} to {high:g}")
    return float(value)


def _param_choice(params: Mapping[str, Any], name: str, choices: tuple[str, ...]) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if value not in choices:
        raise InvalidTranscodeParams(f"params.{name} must be one of {', '.join(choices)}")
    return str(value)


def options_for(config: TranscodeOptions, params: Mapping[str, Any]) -> TranscodeOptions:
    """Apply one job's parameters on top of the function's configuration."""
    changes: dict[str, Any] = {}
    presets = _param_list(params, "presets")
    if presets is not None:
        unknown = [p for p in presets if p not in VIDEO_PRESETS]
        if unknown:
            raise InvalidTranscodeParams(f"params.presets has unknown presets {unknown}; "
                                         f"known: {', '.join(VIDEO_PRESETS)}")
        changes["presets"] = tuple(dict.fromkeys(presets))
    ladder = _param_list(params, "ladder")
    if ladder is not None:
        if not all(isinstance(h, int) and not isinstance(h, bool) and 144 <= h <= 2160 for h in ladder):
            raise InvalidTranscodeParams("params.ladder must list heights from 144 to 2160")
        changes["ladder"] = tuple(sorted(set(ladder)))
    for name, field_name, choices in (
        ("h264Profile", "h264_profile", H264_PROFILES),
        ("thumbnailFormat", "thumbnail_format", THUMBNAIL_FORMATS),
        ("hlsSegmentType", "hls_segment_type", HLS_SEGMENT_TYPES),
    ):
        choice = _param_choice(params, name, choices)
        if choice is not None:
            changes[field_name] = choice
    for name, field_name, low, high in (
        ("thumbnailOffsetSeconds", "thumbnail_offset_seconds", 0, 86_400),
        ("spriteIntervalSeconds", "sprite_interval_seconds", 0.1, 3600),
        ("segmentSeconds", "fanout_segment_seconds", 1, 3600),
        ("fanoutMinSeconds", "fanout_min_seconds", 1, 86_400),
    ):
        number = _paramenv_float(params, name, low, high)
        if number is not None:
            changes[field_name] = number
    segments = _paramenv_float(params, "segments", 1, 64)
    if segments is not None:
        if segments != int(segments):
            raise InvalidTranscodeParams("params.segments must be a whole number from 1 to 64")
        changes["fanout_segments"] = int(segments)
    return replace(config, **changes)
