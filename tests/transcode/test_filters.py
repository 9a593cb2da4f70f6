from __future__ import annotations

from fractions import Fraction

import pytest

from scf_worker.transcode.filters import (
    Size,
    common_chain,
    fit_box,
    ladder_sizes,
    output_frame_rate,
    rotation_chain,
)
from scf_worker.transcode.probe import MediaInfo


def video(width: int, height: int, **fields: object) -> MediaInfo:
    values: dict = {"frame_rate": Fraction(25), **fields}
    return MediaInfo(format_name="mov,mp4,m4a,3gp,3g2,mj2", duration_seconds=10.0, has_video=True,
                     has_audio=True, width=width, height=height, **values)


def test_ladder_never_upscales() -> None:
    rungs = ladder_sizes(video(1280, 720), (360, 480, 720, 1080))

    assert [name for name, _ in rungs] == ["360p", "480p", "720p"]
    assert rungs[-1][1] == Size(1280, 720)


@pytest.mark.parametrize(("width", "height", "expected"), [
    (853, 480, [Size(640, 360), Size(852, 480)]),
    (1923, 1080, [Size(640, 360), Size(854, 480), Size(1282, 720), Size(1922, 1080)]),
])
def test_ladder_rounds_odd_sources_to_even(width: int, height: int, expected: list[Size]) -> None:
    sizes = [size for _, size in ladder_sizes(video(width, height), (360, 480, 720, 1080))]

    assert sizes == expected
    assert all(s.width % 2 == 0 for s in sizes)
    assert all(s.height % 2 == 0 for s in sizes)


def test_ladder_uses_displayed_orientation() -> None:
    portrait = video(1280, 720, rotation=90)

    rungs = ladder_sizes(portrait, (360, 720))

    assert rungs[-1] == ("720p", Size(720, 1280))


def test_ladder_applies_sample_aspect_ratio() -> None:
    anamorphic = video(720, 576, sample_aspect_ratio=Fraction(16, 15))

    assert ladder_sizes(anamorphic, (576,))[-1][1] == Size(768, 576)


def test_source_below_ladder_gets_one_rung() -> None:
    assert ladder_sizes(video(320, 240), (360, 720)) == [("240p", Size(320, 240))]


def test_fit_box_bounds_long_edge() -> None:
    assert fit_box(video(1601, 901), 320) == Size(320, 180)
    assert fit_box(video(100, 50), 320) == Size(100, 50)


def test_frame_rate_forced_when_needed() -> None:
    assert output_frame_rate(video(640, 360), 60) is None
    assert output_frame_rate(video(640, 360, is_variable_frame_rate=True), 60) == Fraction(25)
    assert output_frame_rate(video(640, 360, frame_rate=Fraction(120)), 60) == Fraction(60)


def test_hdr_source_gets_tonemap_chain() -> None:
    hdr = video(640, 360, color_transfer="smpte2084", pix_fmt="yuv420p10le")

    assert any(f.startswith("tonemap=") for f in common_chain(hdr, 60, tonemap=True))
    assert common_chain(hdr, 60, tonemap=False) == []


def test_rotation_chain_matches_autorotate() -> None:
    assert rotation_chain(90) == ["transpose=clock"]
    assert rotation_chain(270) == ["transpose=cclock"]
    assert rotation_chain(180) == ["hflip", "vflip"]
    assert rotation_chain(0) == []
