"""ffmpeg argument lists for each preset.

Video renditions are H.264 (High or Main profile, yuv420p) with AAC, even
dimensions and ``+faststart``. All rungs of the ladder come from one ffmpeg
run: the source is decoded once, brought to a constant rate and to SDR when
needed, then split and scaled per rung. Keyframes are forced on the same
timestamps in every rung, so HLS renditions switch cleanly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scf_worker.transcode.filters import SDR_COLOUR_OPTIONS, Size, common_chain, scale_chain
from scf_worker.transcode.options import MAX_VIDEO_KBPS, TranscodeOptions
from scf_worker.transcode.probe import SAFE_INPUT_OPTIONS, MediaInfo

BASE = ("-hide_banner", "-nostdin", "-loglevel", "error", "-y")
HLS_CONTENT_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t",
                     ".m4s": "video/iso.segment", ".mp4": "video/mp4"}


@dataclass(frozen=True)
class Rung:
    """One rendition of the ladder and the file it is written to."""

    name: str
    size: Size
    path: Path

    @property
    def max_kbps(self) -> int:
        fitting = [kbps for height, kbps in sorted(MAX_VIDEO_KBPS.items()) if height >= self.size.short_edge]
        return fitting[0] if fitting else max(MAX_VIDEO_KBPS.values())


def _input(ffmpeg: str, src: Path, seek_seconds: float | None = None, autorotate: bool = True) -> list[str]:
    args = [ffmpeg, *BASE]
    if seek_seconds is not None:
        args += ["-ss", f"{seek_seconds:.3f}"]
    if not autorotate:
        args.append("-noautorotate")
    return [*args, *SAFE_INPUT_OPTIONS, "-i", str(src)]


def h264_options(options: TranscodeOptions, rung: Rung) -> list[str]:
    interval = options.keyframe_interval_seconds
    return [
        "-c:v", "libx264", "-profile:v", options.h264_profile, "-preset", options.x264_preset,
        "-crf", str(options.crf), "-maxrate", f"{rung.max_kbps}k", "-bufsize", f"{rung.max_kbps * 2}k",
        "-pix_fmt", "yuv420p", "-force_key_frames", f"expr:gte(t,n_forced*{interval:g})",
    ]


def audio_options(options: TranscodeOptions, info: MediaInfo) -> list[str]:
    """Copy AAC-LC audio as it is; encode anything else to stereo AAC at 48 kHz.

    Copying keeps the audio bit-exact and costs nothing, while ffmpeg's AAC
    encoder runs at roughly 20× real time on one core, once per output.
    """
    if info.audio_is_aac_lc:
        return ["-c:a", "copy"]
    return ["-c:a", "aac", "-b:a", f"{options.audio_kbps}k", "-ac", "2", "-ar", "48000"]


def ladder_args(ffmpeg: str, src: Path, info: MediaInfo, rungs: list[Rung], options: TranscodeOptions,
                tonemap: bool, with_audio: bool, pre_chain: list[str] | None = None) -> list[str]:
    """Encode every rung in one run; audio is mapped into each rung when ``with_audio``.

    ``pre_chain`` replaces the filters derived from ``info`` (rate, rotation,
    tone mapping). Fan-out segments get the chain their parent planned, with
    autorotate off, because the cut parts lose the rotation metadata.
    """
    pre = common_chain(info, options.max_frame_rate, tonemap) if pre_chain is None else pre_chain
    labels = [f"v{i}" for i in range(len(rungs))]
    head = ",".join([*pre, f"split={len(rungs)}"]) + "".join(f"[s{i}]" for i in range(len(rungs)))
    branches = [f"[s{i}]" + ",".join(scale_chain(r.size)) + f"[{labels[i]}]" for i, r in enumerate(rungs)]
    args = [*_input(ffmpeg, src, autorotate=pre_chain is None),
            "-filter_complex", ";".join([f"[0:v:0]{head}", *branches])]
    for label, rung in zip(labels, rungs, strict=True):
        args += ["-map", f"[{label}]"]
        if with_audio:
            args += ["-map", "0:a:0", *audio_options(options, info)]
        args += [*h264_options(options, rung)]
        if info.is_hdr or any(f.startswith("tonemap") for f in pre):
            args += list(SDR_COLOUR_OPTIONS)
        args += ["-map_metadata", "-1", "-movflags", "+faststart", "-f", "mp4", str(rung.path)]
    return args


def thumbnail_args(ffmpeg: str, src: Path, dest: Path, info: MediaInfo, size: Size, offset_seconds: float,
                   image_format: str, tonemap: bool) -> list[str]:
    chain = [*(common_chain(info, 1000, tonemap) if info.is_hdr else []), *scale_chain(size, "yuv420p")]
    return [*_input(ffmpeg, src, offset_seconds), "-map", "0:v:0", "-frames:v", "1",
            "-vf", ",".join(chain), *picture_codec(image_format), "-f", "image2", str(dest)]


def cover_art_args(ffmpeg: str, src: Path, dest: Path, info: MediaInfo, size: Size,
                   image_format: str) -> list[str]:
    return [*_input(ffmpeg, src), "-map", f"0:{info.cover_art_index}", "-frames:v", "1",
            "-vf", ",".join(scale_chain(size)), *picture_codec(image_format), "-f", "image2", str(dest)]


def picture_codec(image_format: str) -> list[str]:
    if image_format == "webp":
        return ["-c:v", "libwebp", "-quality", "80"]
    # The JPEG encoder wants full-range input; -strict -1 lets it take limited-range yuv420p.
    return ["-c:v", "mjpeg", "-q:v", "3", "-strict", "-1"]


def image_args(ffmpeg: str, src: Path, outputs: list[tuple[Path, Size, str]]) -> list[str]:
    """Render a still image to several sizes and formats in one run."""
    labels = [f"o{i}" for i in range(len(outputs))]
    graph = [f"[0:v:0]split={len(outputs)}" + "".join(f"[s{i}]" for i in range(len(outputs)))]
    graph += [f"[s{i}]" + ",".join(scale_chain(size)) + f"[{labels[i]}]"
              for i, (_, size, _) in enumerate(outputs)]
    args = [*_input(ffmpeg, src), "-filter_complex", ";".join(graph)]
    for label, (path, _, image_format) in zip(labels, outputs, strict=True):
        args += ["-map", f"[{label}]", "-frames:v", "1", *picture_codec(image_format), "-f", "image2",
                 str(path)]
    return args


def audio_only_args(ffmpeg: str, src: Path, dest: Path, info: MediaInfo,
                    options: TranscodeOptions) -> list[str]:
    """AAC in M4A from the first audio stream; cover art and other streams are dropped."""
    return [*_input(ffmpeg, src), "-map", "0:a:0", "-vn", "-sn", "-dn", *audio_options(options, info),
            "-map_metadata", "-1", "-movflags", "+faststart", "-f", "mp4", str(dest)]


def sprite_frames_args(ffmpeg: str, src: Path, pattern: Path, info: MediaInfo, interval: float,
                       tile: Size, tonemap: bool) -> list[str]:
    """Write one small frame every ``interval`` seconds, for the sprite sheet."""
    chain = [*(common_chain(info, 1000, tonemap) if info.is_hdr else []),
             f"fps=1/{interval:g}:round=down", *scale_chain(tile)]
    return [*_input(ffmpeg, src), "-map", "0:v:0", "-vf", ",".join(chain), "-c:v", "mjpeg", "-q:v", "5",
            "-strict", "-1", "-f", "image2", str(pattern)]


def sprite_tile_args(ffmpeg: str, pattern: Path, dest: Path, columns: int, rows: int,
                     image_format: str) -> list[str]:
    return [ffmpeg, *BASE, "-framerate", "1", "-f", "image2", "-i", str(pattern),
            "-vf", f"tile={columns}x{rows},format=yuv420p", "-frames:v", "1",
            *picture_codec(image_format), "-f", "image2", str(dest)]


def hls_args(ffmpeg: str, src: Path, playlist: Path, options: TranscodeOptions) -> list[str]:
    """Package an MP4 rendition as HLS by stream copy; names are relative to the playlist."""
    ext = "m4s" if options.hls_segment_type == "fmp4" else "ts"
    args = [*_input(ffmpeg, src), "-map", "0", "-c", "copy", "-f", "hls",
            "-hls_time", str(options.hls_segment_seconds), "-hls_playlist_type", "vod",
            "-hls_flags", "independent_segments", "-hls_segment_type", options.hls_segment_type,
            "-hls_segment_filename", str(playlist.parent / f"seg-%05d.{ext}")]
    if options.hls_segment_type == "fmp4":
        args += ["-hls_fmp4_init_filename", "init.mp4"]
    return [*args, str(playlist)]


def split_args(ffmpeg: str, src: Path, pattern: Path, cut_times: list[float]) -> list[str]:
    """Cut the first video stream at the given keyframe times by stream copy (no audio)."""
    times = ",".join(f"{t:.6f}" for t in cut_times)
    args = [*_input(ffmpeg, src), "-map", "0:v:0", "-an", "-sn", "-dn", "-c", "copy",
            "-f", "segment", "-reset_timestamps", "1", "-segment_format", "matroska"]
    if times:
        args += ["-segment_times", times]
    return [*args, str(pattern)]


def concat_args(ffmpeg: str, listing: Path, audio: Path | None, dest: Path) -> list[str]:
    """Join video parts by stream copy and mux the separately encoded audio track."""
    args = [ffmpeg, *BASE, "-protocol_whitelist", "file", "-f", "concat", "-safe", "0", "-i", str(listing)]
    if audio is not None:
        args += [*SAFE_INPUT_OPTIONS, "-i", str(audio), "-map", "0:v:0", "-map", "1:a:0"]
    else:
        args += ["-map", "0:v:0"]
    return [*args, "-c", "copy", "-map_metadata", "-1", "-movflags", "+faststart", "-f", "mp4", str(dest)]
