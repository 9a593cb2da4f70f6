"""HLS: package MP4 renditions by stream copy and write the master playlist ourselves.

ffmpeg writes each variant playlist and its segments. The master is written
here, and only after every variant playlist has been parsed and every URI it
names (segments, the fMP4 init section) exists and is non-empty, so a player
never follows a master to a missing file. BANDWIDTH is the peak segment bit
rate measured from the written segments; CODECS comes from the probed stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scf_worker.transcode.errors import OutputInvalid
from scf_worker.transcode.outputs import PHASE_MASTER_PLAYLIST, PHASE_VARIANT_PLAYLIST, OutputFile
from scf_worker.transcode.presets import HLS_CONTENT_TYPES
from scf_worker.transcode.probe import MediaInfo

MASTER_NAME = "master.m3u8"
# avc1 profile_idc and constraint flags per profile name, as x264 writes them.
_AVC_PROFILE_HEX = {"High": "6400", "Main": "4d40", "Constrained Baseline": "42c0", "Baseline": "4200"}


@dataclass(frozen=True)
class VariantPlaylist:
    """A parsed media playlist: its URIs and segment durations."""

    path: Path
    uris: tuple[str, ...]
    segment_durations: tuple[float, ...]
    ended: bool

    @property
    def duration_seconds(self) -> float:
        return sum(self.segment_durations)


def parse_variant(path: Path) -> VariantPlaylist:
    uris: list[str] = []
    durations: list[float] = []
    ended = False
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("#EXTINF:"):
            durations.append(float(line[len("#EXTINF:"):].split(",")[0]))
        elif line.startswith("#EXT-X-MAP:"):
            uris.append(line.split('URI="', 1)[1].split('"', 1)[0])
        elif line == "#EXT-X-ENDLIST":
            ended = True
        elif line and not line.startswith("#"):
            uris.append(line)
    return VariantPlaylist(path, tuple(uris), tuple(durations), ended)


def missing_uris(playlist: Path) -> list[str]:
    """Return the URIs of a playlist that do not resolve to a non-empty local file."""
    missing = []
    for uri in parse_variant(playlist).uris:
        if "://" in uri or uri.startswith("/") or ".." in uri.split("/"):
            missing.append(uri)
            continue
        target = playlist.parent / uri
        if not target.is_file() or target.stat().st_size == 0:
            missing.append(uri)
    return missing


def codecs_of(video: MediaInfo) -> str:
    profile = _AVC_PROFILE_HEX.get(video.video_profile or "", "6400")
    level = f"{video.video_level or 40:02x}"
    codecs = [f"avc1.{profile}{level}"]
    if video.has_audio:
        codecs.append("mp4a.40.2")
    return ",".join(codecs)


def variant_outputs(name: str, playlist: Path, video: MediaInfo, expected_seconds: float) -> list[OutputFile]:
    """Check one packaged variant and return its segments and playlist as outputs."""
    parsed = parse_variant(playlist)
    if not parsed.ended or not parsed.uris:
        raise OutputInvalid(f"HLS variant {name} is incomplete (no segments or no ENDLIST)")
    missing = missing_uris(playlist)
    if missing:
        raise OutputInvalid(f"HLS variant {name} names missing files: {missing[:3]}")
    if abs(parsed.duration_seconds - expected_seconds) > 1.0:
        raise OutputInvalid(f"HLS variant {name} lasts {parsed.duration_seconds:.2f}s, "
                            f"expected {expected_seconds:.2f}s")

    outputs = []
    segment_sizes = []
    for uri in parsed.uris:
        path = playlist.parent / uri
        outputs.append(OutputFile(path, f"hls/{name}/{uri}", "hls_segment",
                                  HLS_CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
                                  listed=False))
        if path.name != "init.mp4":
            segment_sizes.append(path.stat().st_size)
    peak = max(size * 8 / max(d, 0.001) for size, d in zip(segment_sizes, parsed.segment_durations,
                                                           strict=True))
    average = sum(segment_sizes) * 8 / max(parsed.duration_seconds, 0.001)
    outputs.append(OutputFile(
        playlist, f"hls/{name}/{playlist.name}", "hls_variant", HLS_CONTENT_TYPES[".m3u8"],
        video.width, video.height, parsed.duration_seconds, phase=PHASE_VARIANT_PLAYLIST,
        extra={"segments": len(segment_sizes), "bandwidth": int(peak), "average_bandwidth": int(average),
               "codecs": codecs_of(video), "segments_size": sum(segment_sizes)},
    ))
    return outputs


def write_master(directory: Path, variants: list[OutputFile], frame_rate: float | None) -> OutputFile:
    """Write the master playlist over already checked variants, lowest bandwidth first."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:6", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for variant in sorted(variants, key=lambda v: v.extra["bandwidth"]):
        relative = variant.name[len("hls/"):]
        if not (directory / relative).is_file():
            raise OutputInvalid(f"HLS master would name missing playlist {relative}")
        attributes = [
            f"BANDWIDTH={variant.extra['bandwidth']}",
            f"AVERAGE-BANDWIDTH={variant.extra['average_bandwidth']}",
            f"RESOLUTION={variant.width}x{variant.height}",
            f'CODECS="{variant.extra["codecs"]}"',
        ]
        if frame_rate:
            attributes.append(f"FRAME-RATE={frame_rate:.3f}")
        lines += ["#EXT-X-STREAM-INF:" + ",".join(attributes), relative]
    master = directory / MASTER_NAME
    master.write_text("\n".join(lines) + "\n", encoding="utf-8")
    duration = max(v.duration_seconds for v in variants)
    top = max(variants, key=lambda v: v.height)
    return OutputFile(master, f"hls/{MASTER_NAME}", "hls_master", HLS_CONTENT_TYPES[".m3u8"],
                      top.width, top.height, duration, phase=PHASE_MASTER_PLAYLIST,
                      extra={"variants": len(variants)})
