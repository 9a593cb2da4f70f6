"""Probe media with ffprobe, or with PyAV where ffprobe is absent.

PyAV's view is turned into the JSON ffprobe prints, so both probers feed the
same checks and fill the same MediaInfo fields.

Inputs are untrusted, so ffprobe may open only local files: a playlist or
concat list that names a URL is rejected instead of fetched. Formats that
read text as pictures (``tty``) or follow references (``hls``, ``concat``)
are rejected outright, whatever the file's extension or declared MIME type.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scf_worker.transcode.errors import InvalidMedia, UnsupportedCodec

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.stream import Stream
    from av.video.stream import VideoStream

PROBE_TIMEOUT_SECONDS = 60
# Input options applied to every ffprobe and ffmpeg run on untrusted files.
SAFE_INPUT_OPTIONS = ("-protocol_whitelist", "file")
REJECTED_FORMATS = frozenset({
    "tty", "hls", "applehttp", "concat", "ffmetadata", "lavfi", "sdp", "rtp", "rtsp", "dash",
    "mpjpeg", "image2pipe",
})
REJECTED_VIDEO_CODECS = frozenset({"ansi", "bintext", "xbin", "idf"})
HDR_TRANSFERS = frozenset({"smpte2084", "arib-std-b67"})
STILL_IMAGE_CODECS = frozenset({"png", "mjpeg", "webp", "bmp", "tiff", "gif", "jpeg2000", "jpegls"})
# FFmpeg's names for the ITU-T H.273 colour codes, as ffprobe prints them; PyAV gives only the numbers.
COLOR_TRANSFER_NAMES = {
    1: "bt709", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 7: "smpte240m", 8: "linear", 9: "log100",
    10: "log316", 11: "iec61966-2-4", 12: "bt1361e", 13: "iec61966-2-1", 14: "bt2020-10",
    15: "bt2020-12", 16: "smpte2084", 17: "smpte428", 18: "arib-std-b67",
}
COLOR_PRIMARIES_NAMES = {
    1: "bt709", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "film", 9: "bt2020",
    10: "smpte428", 11: "smpte431", 12: "smpte432", 22: "ebu3213",
}


@dataclass(frozen=True)
class MediaInfo:
    """Facts about one file's streams that the pipeline decides on."""

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
    color_primaries: str | None = None
    frame_rate: Fraction | None = None
    is_variable_frame_rate: bool = False
    sample_aspect_ratio: Fraction = Fraction(1)
    is_still_image: bool = False
    cover_art_index: int | None = None
    cover_art_size: tuple[int, int] = (0, 0)
    video_profile: str | None = None
    video_level: int | None = None
    audio_channels: int = 0
    audio_profile: str | None = None
    audio_sample_rate: int = 0
    # Per-stream timing, for the audio drift check; None where the container has none (Matroska).
    video_start_seconds: float | None = None
    video_duration_seconds: float | None = None
    audio_start_seconds: float | None = None
    audio_duration_seconds: float | None = None

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height as shown: sample aspect ratio applied, then a 90° or 270° rotation."""
        width = round(self.width * self.sample_aspect_ratio) if self.sample_aspect_ratio else self.width
        if self.rotation % 180 == 90:
            return self.height, width
        return width, self.height

    @property
    def is_hdr(self) -> bool:
        return self.color_transfer in HDR_TRANSFERS

    @property
    def bit_depth(self) -> int:
        """Bits per sample of the video, read from the pixel format name (``yuv420p10le`` → 10)."""
        fmt = self.pix_fmt or ""
        for depth in (16, 14, 12, 10, 9):
            if f"p{depth}" in fmt:
                return depth
        return 8

    @property
    def audio_is_aac_lc(self) -> bool:
        """Whether the audio can be copied into MP4, M4A and HLS as it is (AAC-LC, ≤ 2 channels, ≤ 48 kHz)."""
        return (self.audio_codec == "aac" and self.audio_profile == "LC" and 0 < self.audio_channels <= 2
                and 0 < self.audio_sample_rate <= 48_000)

    @property
    def has_cover_art(self) -> bool:
        return self.cover_art_index is not None


def probe(path: Path, ffprobe: str | None) -> MediaInfo:
    """Describe the file's streams; raise InvalidMedia when it is not usable media."""
    if path.stat().st_size == 0:
        raise InvalidMedia("file is empty")
    if ffprobe is None:
        return _probe_pyav(path)
    command = [ffprobe, "-v", "error", *SAFE_INPUT_OPTIONS, "-print_format", "json",
               "-show_format", "-show_streams", str(path)]
    data = _run_probe(command)
    return _from_ffprobe(data)


def keyframe_times(path: Path, ffprobe: str | None) -> list[float]:
    """Return the presentation times of the first video stream's keyframes, in seconds.

    Only packets are read (no decoding), so this is fast even for long sources.
    """
    if ffprobe is None:
        return _keyframes_pyav(path)
    command = [ffprobe, "-v", "error", *SAFE_INPUT_OPTIONS, "-select_streams", "v:0",
               "-show_entries", "packet=pts_time,flags", "-print_format", "json", str(path)]
    packets = _run_probe(command).get("packets") or []
    times = [float(p["pts_time"]) for p in packets
             if "K" in str(p.get("flags", "")) and p.get("pts_time") not in (None, "N/A")]
    return sorted(times)


def _run_probe(command: list[str]) -> dict[str, Any]:
    try:
        completed = subprocess.run(command, capture_output=True, timeout=PROBE_TIMEOUT_SECONDS,
                                   check=False)
    except subprocess.TimeoutExpired:
        raise InvalidMedia("ffprobe timed out reading the file") from None
    if completed.returncode != 0:
        reason = completed.stderr.decode("utf-8", "replace").strip().splitlines()
        # Drop the scratch path ffprobe prefixes its message with; it means nothing to the caller.
        detail = reason[-1].replace(command[-1], "input")[:200] if reason else "no error output"
        raise _unreadable("ffprobe", detail)
    try:
        data: dict[str, Any] = json.loads(completed.stdout or b"{}")
    except json.JSONDecodeError:
        raise InvalidMedia("ffprobe printed output that is not JSON") from None
    return data


def _unreadable(prober: str, detail: str) -> InvalidMedia:
    """Return InvalidMedia for a file the prober cannot open, naming the prober first in the message."""
    return InvalidMedia(f"{prober} could not read the file as media ({detail})")


def _fraction(raw: Any) -> Fraction | None:
    """Parse ``30000/1001`` or ``25``; return None for ``0/0`` and other unusable values."""
    if raw in (None, "", "N/A"):
        return None
    try:
        text = str(raw).replace(":", "/")
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 else None


def _rotation_of(stream: dict[str, Any]) -> int:
    rotate = stream.get("tags", {}).get("rotate")
    if rotate is not None:
        return int(float(rotate)) % 360
    for side in stream.get("side_data_list", []):
        if "rotation" in side:
            return int(-float(side["rotation"])) % 360
    return 0


def _is_variable_frame_rate(video: dict[str, Any]) -> bool:
    """Guess VFR: the average rate (``avg_frame_rate``) differs from the base rate (``r_frame_rate``).

    NOTE: this is a heuristic. A CFR stream with a few dropped frames also
    reads as VFR, which only costs an fps filter that changes nothing.
    """
    average = _fraction(video.get("avg_frame_rate"))
    base = _fraction(video.get("r_frame_rate"))
    if average is None or base is None:
        return False
    return abs(float(average) - float(base)) > 0.01 * float(base)


def _from_ffprobe(data: dict[str, Any]) -> MediaInfo:
    """Decide on ffprobe's JSON, or on what ``_pyav_as_ffprobe`` made in its shape."""
    streams = data.get("streams") or []
    fmt = data.get("format") or {}
    format_name = str(fmt.get("format_name") or "")
    if format_name in REJECTED_FORMATS:
        raise InvalidMedia(f"format {format_name} is not accepted as a media upload")

    video = next((s for s in streams if s.get("codec_type") == "video"
                  and not s.get("disposition", {}).get("attached_pic")), None)
    cover = next((s for s in streams if s.get("codec_type") == "video"
                  and s.get("disposition", {}).get("attached_pic")), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video is None and audio is None:
        raise InvalidMedia("no audio or video stream")
    if video is not None and video.get("codec_name") in REJECTED_VIDEO_CODECS:
        raise InvalidMedia(f"video codec {video.get('codec_name')} is text, not a picture")
    for stream in (video, audio):
        if stream is not None and not stream.get("codec_name"):
            # ffprobe leaves codec_name out when this build has no decoder for the stream.
            tag = stream.get("codec_tag_string") or "unknown"
            raise UnsupportedCodec(f"no decoder for the {stream.get('codec_type')} stream (tag {tag})")

    duration = float(fmt.get("duration") or (video or audio or {}).get("duration") or 0)
    still = video is not None and audio is None and (
        format_name.endswith("_pipe") or format_name == "image2"
        or (video.get("codec_name") in STILL_IMAGE_CODECS and int(video.get("nb_frames") or 1) <= 1
            and duration < 0.1)
    )
    if duration <= 0 and not still:
        raise InvalidMedia("media has no duration")

    video = video or {}
    level = video.get("level")
    return MediaInfo(
        format_name=format_name,
        duration_seconds=0.0 if still else duration,
        has_video=bool(video),
        has_audio=audio is not None,
        width=int(video.get("width") or 0),
        height=int(video.get("height") or 0),
        rotation=_rotation_of(video) if video else 0,
        video_codec=video.get("codec_name"),
        audio_codec=(audio or {}).get("codec_name"),
        pix_fmt=video.get("pix_fmt"),
        color_transfer=video.get("color_transfer"),
        color_primaries=video.get("color_primaries"),
        frame_rate=_fraction(video.get("avg_frame_rate")) or _fraction(video.get("r_frame_rate")),
        is_variable_frame_rate=bool(video) and not still and _is_variable_frame_rate(video),
        sample_aspect_ratio=_fraction(video.get("sample_aspect_ratio")) or Fraction(1),
        is_still_image=still,
        cover_art_index=int(cover["index"]) if cover is not None else None,
        cover_art_size=(int(cover.get("width") or 0), int(cover.get("height") or 0)) if cover else (0, 0),
        video_profile=video.get("profile"),
        video_level=int(level) if isinstance(level, int) and level > 0 else None,
        audio_channels=int((audio or {}).get("channels") or 0),
        audio_profile=(audio or {}).get("profile"),
        audio_sample_rate=int((audio or {}).get("sample_rate") or 0),
        video_start_seconds=_seconds(video.get("start_time")),
        video_duration_seconds=_seconds(video.get("duration")),
        audio_start_seconds=_seconds((audio or {}).get("start_time")),
        audio_duration_seconds=_seconds((audio or {}).get("duration")),
    )


def _seconds(raw: Any) -> float | None:
    if raw in (None, "", "N/A"):
        return None
    try:
        return float(raw)
    except (TypeError, ValueError):
        return None


def _probe_pyav(path: Path) -> MediaInfo:
    # NOTE: PyAV runs in this process, so PROBE_TIMEOUT_SECONDS does not bound it as it bounds
    # ffprobe. A file that stalls the demuxer keeps the invocation busy until the function times out.
    try:
        import av
    except ImportError:
        raise InvalidMedia("no ffprobe and no PyAV to probe with; install scf-worker[media]") from None
    try:
        with av.open(str(path), options={"protocol_whitelist": "file"}) as container:
            return _from_pyav(container)
    except av.FFmpegError as exc:
        raise _unreadable("PyAV", exc.strerror or type(exc).__name__) from None


def _from_pyav(container: InputContainer) -> MediaInfo:
    return _from_ffprobe(_pyav_as_ffprobe(container))


def _pyav_as_ffprobe(container: InputContainer) -> dict[str, Any]:
    """Describe the container as ``ffprobe -show_format -show_streams`` JSON would.

    Both probers then go through the same checks in ``_from_ffprobe``, so a
    machine without ffprobe decides on the same facts.
    """
    import av

    attached_pic = av.stream.Disposition.attached_pic
    streams = {s.index: _pyav_stream(s) for s in container.streams if s.type in ("video", "audio")}
    format_name = container.format.name
    main = next((s for s in container.streams.video if not s.disposition & attached_pic), None)
    # Pictures are skipped to match ffprobe, which reports no rotation for them, because a newer
    # picture decoder may put the EXIF orientation on the frame.
    is_picture = format_name.endswith("_pipe") or format_name == "image2"
    if main is not None and main.codec_context is not None and not is_picture:
        # Decoded after the fields above are read, so decoding cannot change what they report.
        rotation = _display_rotation(container, main)
        if rotation:
            streams[main.index]["side_data_list"] = [{"rotation": rotation}]
    duration = container.duration / av.time_base if container.duration else None
    return {"format": {"format_name": format_name, "duration": duration}, "streams": list(streams.values())}


def _pyav_stream(stream: Stream) -> dict[str, Any]:
    import av

    entry: dict[str, Any] = {
        "index": stream.index,
        "codec_type": stream.type,
        "disposition": {"attached_pic": int(bool(stream.disposition & av.stream.Disposition.attached_pic))},
        "start_time": _ticks_to_seconds(stream.start_time, stream.time_base),
        "duration": _ticks_to_seconds(stream.duration, stream.time_base),
    }
    context = stream.codec_context
    if context is None:
        # PyAV opens no codec context when this build has no decoder; ffprobe then omits codec_name.
        return entry
    codec_name = context.codec.canonical_name
    entry.update(codec_name=codec_name, profile=context.profile)
    if isinstance(stream, av.VideoStream):
        video = stream.codec_context
        entry.update(
            width=video.width, height=video.height, pix_fmt=video.pix_fmt,
            color_transfer=COLOR_TRANSFER_NAMES.get(int(video.color_trc)),
            color_primaries=COLOR_PRIMARIES_NAMES.get(int(video.color_primaries)),
            avg_frame_rate=stream.average_rate, r_frame_rate=stream.base_rate,
            sample_aspect_ratio=stream.sample_aspect_ratio, nb_frames=stream.frames,
            level=_level_of(codec_name, video.extradata),
        )
    elif isinstance(stream, av.AudioStream):
        entry.update(channels=stream.codec_context.channels, sample_rate=stream.codec_context.sample_rate)
    return entry


def _ticks_to_seconds(ticks: int | None, time_base: Fraction | None) -> float | None:
    if ticks is None or time_base is None:
        return None
    return float(ticks * time_base)


def _display_rotation(container: InputContainer, stream: VideoStream) -> int | None:
    """Return the display matrix rotation (counter-clockwise degrees, as ffprobe prints it).

    PyAV 17 can write a stream's display matrix but not read it. Decoding
    attaches the matrix to the frames, so the first frame is decoded. A frame
    that does not decode leaves the rotation unknown, because a corrupt frame
    does not fail ffprobe either.
    """
    import av

    try:
        frame = next(container.decode(stream), None)
    except av.FFmpegError:
        return None
    return frame.rotation if frame is not None else None


def _level_of(codec_name: str, extradata: bytes | None) -> int | None:
    """Read the level from the decoder configuration, which PyAV does not expose as a field.

    avcC (H.264 in MP4) has ``level_idc`` at byte 3, hvcC (HEVC in MP4) has
    ``general_level_idc`` at byte 12; H.264 in Annex B form (MPEG-TS) has it
    in the sequence parameter set, two bytes after the profile.
    """
    if not extradata:
        return None
    if codec_name == "hevc":
        return extradata[12] if extradata[0] == 1 and len(extradata) > 12 else None
    if codec_name != "h264":
        return None
    if extradata[0] == 1:
        return extradata[3] if len(extradata) > 3 else None
    start = extradata.find(b"\x00\x00\x01")
    while start != -1 and start + 6 < len(extradata):
        if extradata[start + 3] & 0x1F == 7:  # NAL unit type 7: sequence parameter set
            return extradata[start + 6]
        start = extradata.find(b"\x00\x00\x01", start + 3)
    return None


def _keyframes_pyav(path: Path) -> list[float]:
    import av

    try:
        with av.open(str(path), options={"protocol_whitelist": "file"}) as container:
            if not container.streams.video:
                return []
            stream = container.streams.video[0]
            times = [float(packet.pts * packet.time_base) for packet in container.demux(stream)
                     if packet.is_keyframe and packet.pts is not None and packet.time_base is not None]
    except av.FFmpegError as exc:
        raise _unreadable("PyAV", exc.strerror or type(exc).__name__) from None
    return sorted(times)
