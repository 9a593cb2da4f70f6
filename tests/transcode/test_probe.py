"""probe() and keyframe_times() with ffprobe and with the PyAV fallback (the ``prober`` fixture)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from scf_worker.demo.hard_inputs import HARD_INPUTS
from scf_worker.transcode.errors import InvalidMedia
from scf_worker.transcode.probe import keyframe_times, probe

pytestmark = pytest.mark.slow


def test_probe_reads_720p_streams(media: Callable[[str], Path], prober: str | None) -> None:
    info = probe(media("h264_720p"), prober)

    assert (info.width, info.height) == (1280, 720)
    assert info.has_video
    assert info.has_audio
    assert info.video_codec == "h264"
    assert info.audio_codec == "aac"
    assert info.pix_fmt == "yuv420p"
    assert info.duration_seconds == pytest.approx(1.5, abs=0.1)
    assert not info.is_variable_frame_rate


def test_probe_reads_rotation(media: Callable[[str], Path], prober: str | None) -> None:
    info = probe(media("portrait_rotated"), prober)

    assert info.rotation in (90, 270)
    assert info.display_size == (360, 640)


def test_probe_reads_hdr_transfer_and_depth(media: Callable[[str], Path], prober: str | None) -> None:
    info = probe(media("hevc_10bit_hdr"), prober)

    assert info.video_codec == "hevc"
    assert info.color_transfer == "smpte2084"
    assert info.bit_depth == 10
    assert info.is_hdr


def test_probe_flags_variable_frame_rate(media: Callable[[str], Path], prober: str | None) -> None:
    assert probe(media("variable_frame_rate"), prober).is_variable_frame_rate


def test_probe_separates_cover_art(media: Callable[[str], Path], prober: str | None) -> None:
    info = probe(media("audio_cover_art"), prober)

    assert not info.has_video
    assert info.has_audio
    assert info.has_cover_art
    assert info.cover_art_size == (300, 300)


def test_probe_recognises_still_image(media: Callable[[str], Path], prober: str | None) -> None:
    info = probe(media("image"), prober)

    assert info.is_still_image
    assert (info.width, info.height) == (1601, 901)


@pytest.mark.parametrize("name", ["zero_length", "moov_cut_off", "text_as_mp4"])
def test_probe_rejects_non_media(name: str, media: Callable[[str], Path], prober: str | None) -> None:
    with pytest.raises(InvalidMedia) as caught:
        probe(media(name), prober)

    assert caught.value.code == "invalid_media"


@pytest.mark.parametrize("name", [i.name for i in HARD_INPUTS if i.expected == "done"])
def test_pyav_fills_what_ffprobe_fills(name: str, media: Callable[[str], Path], ffprobe: str,
                                      pyav: None) -> None:
    """The PyAV fallback reports the same facts as ffprobe, so the pipeline decides alike."""
    by_ffprobe = dataclasses.asdict(probe(media(name), ffprobe))
    by_pyav = dataclasses.asdict(probe(media(name), None))

    # FFmpeg versions disagree on an MP3's length by tens of milliseconds (5.1: 1.536 s, PyAV 17's: 1.5 s).
    timing = {k for k, v in by_ffprobe.items() if k.endswith("_seconds") and v is not None}
    assert {k: v for k, v in by_pyav.items() if k not in timing} == {
        k: v for k, v in by_ffprobe.items() if k not in timing}
    for key in timing:
        assert by_pyav[key] == pytest.approx(by_ffprobe[key], abs=0.05), key


def test_keyframes_listed_from_packets(media: Callable[[str], Path], prober: str | None) -> None:
    # The generator sets a keyframe every 25 frames at 25 fps.
    assert keyframe_times(media("h264_720p"), prober) == pytest.approx([0.0, 1.0])


def test_playlist_url_never_fetched(tmp_path: Path, prober: str | None) -> None:
    """An uploaded HLS playlist must not make the prober fetch what it names (SSRF)."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        playlist = tmp_path / "input"
        playlist.write_text("#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\n"
                            f"http://127.0.0.1:{port}/secret.ts\n#EXT-X-ENDLIST\n")
        with pytest.raises(InvalidMedia):
            probe(playlist, prober)
    finally:
        server.shutdown()
        server.server_close()

    assert hits == []


@pytest.mark.parametrize(("codec", "extradata", "level"), [
    ("h264", bytes([1, 0x64, 0, 40, 0xFF]), 40),  # avcC
    ("h264", b"\x00\x00\x00\x01\x09\xf0\x00\x00\x00\x01\x67\x64\x00\x1f\xac", 31),  # Annex B: AUD, SPS
    ("hevc", bytes([1, 1, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 93, 0xF0]), 93),  # hvcC
    ("h264", b"", None),
    ("vp9", bytes([1, 2, 3, 4]), None),
])
def test_level_read_from_extradata(codec: str, extradata: bytes, level: int | None) -> None:
    from scf_worker.transcode.probe import _level_of

    assert _level_of(codec, extradata) == level


def test_stream_without_decoder_is_unsupported_codec() -> None:
    from scf_worker.transcode.errors import UnsupportedCodec
    from scf_worker.transcode.probe import _from_ffprobe

    data = {"format": {"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "duration": "4.0"},
            "streams": [{"index": 0, "codec_type": "video", "codec_tag_string": "apv1", "width": 640,
                         "height": 360}]}

    with pytest.raises(UnsupportedCodec) as caught:
        _from_ffprobe(data)

    assert caught.value.code == "unsupported_codec"
    assert "apv1" in str(caught.value)
