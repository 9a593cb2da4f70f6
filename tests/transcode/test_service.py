"""TranscodeService on every generated hard input, against a real folder object store."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from scf_worker.jobs.model import STATUS_RUNNING, TYPE_TRANSCODE, Job, Resource
from scf_worker.storage.errors import StorageError
from scf_worker.storage.local import LocalObjectStore
from scf_worker.transcode.checks import is_faststart
from scf_worker.transcode.errors import InvalidMedia, SourceTooLarge, StorageRejected, StorageUnavailable
from scf_worker.transcode.hls import parse_variant
from scf_worker.transcode.options import config_from_env
from scf_worker.transcode.probe import probe
from scf_worker.transcode.service import TranscodeService, storage_call

pytestmark = pytest.mark.slow
BUCKET = "media-1250000000"
PREFIX = "outputs/"


@dataclass
class Rendered:
    result: dict[str, Any]
    store: LocalObjectStore

    def outputs(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.result["outputs"] if o["kind"] == kind]

    def path(self, key: str) -> Path:
        return self.store.path_of(BUCKET, key)


def make_service(root: Path, **env: str) -> TranscodeService:
    store = LocalObjectStore(root / "cos")
    scratch = root / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    return TranscodeService(store, PREFIX, config_from_env(env), scratch_root=scratch)


def run_job(service: TranscodeService, source: Path, params: dict[str, Any] | None = None,
            key: str | None = None, job_id: str = "job-1") -> dict[str, Any]:
    key = key or f"uploads/u1/{source.name}"
    service.store.upload(BUCKET, key, source, None)
    job = Job(job_id, TYPE_TRANSCODE, STATUS_RUNNING, Resource(BUCKET, key), params=params or {})
    return service.run(job, time.monotonic() + 120)


def render(name: str, media: Callable[[str], Path], root: Path) -> Rendered:
    service = make_service(root)
    result = run_job(service, media(name), job_id=f"job-{name}")
    return Rendered(result, service.store)  # type: ignore[arg-type]


# Input → (rendition sizes, whether the renditions carry audio). Each input is
# rendered once, with every preset, and all its invariants are checked together.
VIDEO_CASES = {
    "h264_720p": ([(640, 360), (854, 480), (1280, 720)], True),
    "portrait_rotated": ([(360, 640)], True),
    "odd_853x480": ([(640, 360), (852, 480)], True),
    "odd_1923x1080": ([(640, 360), (854, 480), (1282, 720), (1922, 1080)], True),
    "no_audio": ([(320, 240)], False),
    "hevc_10bit_hdr": ([(640, 360)], True),
    "variable_frame_rate": ([(320, 240)], True),
}


def check_mp4_renditions(done: Rendered, sizes: list[tuple[int, int]], has_audio: bool,
                         probers: list[str | None]) -> None:
    videos = done.outputs("video")
    assert [(o["width"], o["height"]) for o in videos] == sizes
    for output, prober in ((o, p) for o in videos for p in probers):
        path = done.path(output["key"])
        info = probe(path, prober)
        assert info.video_codec == "h264"
        assert info.video_profile == "High"
        assert info.pix_fmt == "yuv420p"
        assert info.bit_depth == 8
        assert info.width % 2 == 0
        assert info.height % 2 == 0
        assert info.rotation == 0
        assert info.color_transfer in (None, "bt709")
        assert not info.is_variable_frame_rate
        assert info.has_audio == has_audio
        assert info.audio_codec == ("aac" if has_audio else None)
        assert is_faststart(path)
        assert output["size"] == path.stat().st_size
        assert (output["width"], output["height"]) == (info.width, info.height)
        assert abs(output["duration_seconds"] - done.result["source"]["durationSeconds"]) <= 1.0


def check_hls(done: Rendered, has_audio: bool) -> None:
    [master] = done.outputs("hls_master")
    master_path = done.path(master["key"])
    variants = [line for line in master_path.read_text().splitlines() if line and not line.startswith("#")]
    assert len(variants) == len(done.outputs("hls_variant"))
    for variant in variants:
        playlist = master_path.parent / variant
        assert playlist.is_file()
        parsed = parse_variant(playlist)
        assert parsed.ended
        assert parsed.uris
        for uri in parsed.uris:
            assert (playlist.parent / uri).is_file(), f"{variant} names missing {uri}"
    for variant in done.outputs("hls_variant"):
        assert variant["content_type"] == "application/vnd.apple.mpegurl"
        assert ("mp4a.40.2" in variant["codecs"]) == has_audio
    assert master["content_type"] == "application/vnd.apple.mpegurl"


def check_stills(done: Rendered, sizes: list[tuple[int, int]]) -> None:
    [thumbnail] = done.outputs("thumbnail")
    [sheet] = done.outputs("sprite")
    [index] = done.outputs("sprite_index")
    smallest = sizes[0]
    assert (thumbnail["width"], thumbnail["height"]) == smallest
    assert thumbnail["content_type"] == "image/jpeg"
    text = done.path(index["key"]).read_text()
    cues = [line for line in text.splitlines() if "#xywh=" in line]
    assert text.startswith("WEBVTT")
    assert len(cues) == sheet["tiles"]
    for cue in cues:
        name, _, box = cue.partition("#xywh=")
        x, y, w, h = (int(v) for v in box.split(","))
        assert name == "sprite.jpg"
        assert x + w <= sheet["width"]
        assert y + h <= sheet["height"]


@pytest.mark.parametrize("name", list(VIDEO_CASES))
def test_video_input_renditions(name: str, media: Callable[[str], Path], tmp_path: Path,
                                probers: list[str | None]) -> None:
    sizes, has_audio = VIDEO_CASES[name]

    done = render(name, media, tmp_path)

    check_mp4_renditions(done, sizes, has_audio, probers)
    check_hls(done, has_audio)
    check_stills(done, sizes)
    for output in done.result["outputs"]:
        assert output["key"].startswith(f"{PREFIX}job-{name}/")
        assert {"size", "duration_seconds", "width", "height", "content_type"} <= set(output)
    assert not done.outputs("hls_segment")
    assert list((tmp_path / "scratch").iterdir()) == []


def test_cover_art_audio_gives_m4a(media: Callable[[str], Path], tmp_path: Path,
                                   probers: list[str | None]) -> None:
    done = render("audio_cover_art", media, tmp_path)
    [audio] = done.outputs("audio")
    [cover] = done.outputs("thumbnail")

    assert audio["key"].endswith("/audio.m4a")
    assert audio["content_type"] == "audio/mp4"
    for prober in probers:
        info = probe(done.path(audio["key"]), prober)
        assert info.audio_codec == "aac"
        assert info.audio_is_aac_lc
        assert not info.has_video
        assert not info.has_cover_art
    assert is_faststart(done.path(audio["key"]))
    assert audio["duration_seconds"] == pytest.approx(1.5, abs=0.1)
    assert (cover["width"], cover["height"]) == (300, 300)
    assert done.outputs("video") == []


def test_image_gives_webp_and_jpeg(media: Callable[[str], Path], tmp_path: Path,
                                   probers: list[str | None]) -> None:
    done = render("image", media, tmp_path)
    images = done.outputs("image")

    assert sorted((o["content_type"], o["width"], o["height"]) for o in images) == [
        ("image/jpeg", 320, 180), ("image/jpeg", 1280, 720), ("image/webp", 320, 180),
        ("image/webp", 1280, 720)]
    for output, prober in ((o, p) for o in images for p in probers):
        info = probe(done.path(output["key"]), prober)
        assert info.pix_fmt in ("yuv420p", "yuvj420p")


@pytest.mark.parametrize("name", ["zero_length", "moov_cut_off", "text_as_mp4"])
def test_non_media_fails_permanently(name: str, media: Callable[[str], Path],
                                                      tmp_path: Path) -> None:
    service = make_service(tmp_path)

    with pytest.raises(InvalidMedia) as caught:
        run_job(service, media(name))

    assert caught.value.code == "invalid_media"
    assert service.store.list_keys(BUCKET, PREFIX) == []
    assert list((tmp_path / "scratch").iterdir()) == []


def test_fmp4_hls_and_webp_thumbnail(media: Callable[[str], Path], tmp_path: Path) -> None:
    service = make_service(tmp_path, TRANSCODE_HLS_SEGMENT_TYPE="fmp4")

    result = run_job(service, media("no_audio"), params={"presets": ["hls", "thumbnail"],
                                                         "thumbnailFormat": "webp"})
    keys = service.store.list_keys(BUCKET, PREFIX)

    assert any(k.endswith("/init.mp4") for k in keys)
    assert any(k.endswith(".m4s") for k in keys)
    assert not any(k.endswith(".ts") for k in keys)
    assert [o["kind"] for o in result["outputs"]] == ["thumbnail", "hls_variant", "hls_master"]
    assert result["outputs"][0]["content_type"] == "image/webp"
    assert not any(k.startswith(f"{PREFIX}job-1/mp4/") for k in keys)


def test_object_key_never_reaches_shell(media: Callable[[str], Path], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    service = make_service(tmp_path)
    key = "uploads/u1/$(touch pwned); `touch pwned2` & name with spaces.mp4"

    result = run_job(service, media("no_audio"), params={"presets": ["mp4"]}, key=key)

    assert [o["kind"] for o in result["outputs"]] == ["video"]
    assert not (tmp_path / "pwned").exists()
    assert not (tmp_path / "pwned2").exists()


def test_oversized_source_is_permanent(media: Callable[[str], Path], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    service = make_service(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10, 10, 0))  # type: ignore[attr-defined]

    with pytest.raises(SourceTooLarge) as caught:
        run_job(service, media("no_audio"))

    assert caught.value.code == "source_too_large"


def test_late_deadline_stores_nothing(media: Callable[[str], Path], tmp_path: Path) -> None:
    service = make_service(tmp_path)
    source = media("no_audio")
    service.store.upload(BUCKET, "uploads/u1/a.mp4", source, None)
    job = Job("job-1", TYPE_TRANSCODE, STATUS_RUNNING, Resource(BUCKET, "uploads/u1/a.mp4"))

    with pytest.raises(Exception) as caught:
        service.run(job, time.monotonic() - 1)

    assert getattr(caught.value, "code", None) == "timeout"
    assert service.store.list_keys(BUCKET, PREFIX) == []


class _Throttled(Exception):
    def get_status_code(self) -> int:
        return 503


class _Forbidden(Exception):
    def get_status_code(self) -> int:
        return 403


def _raise(exc: Exception) -> None:
    raise exc


def test_storage_5xx_and_errors_are_transient() -> None:
    for exc in (StorageError("HEAD failed with 500"), ConnectionResetError("reset"), _Throttled()):
        with pytest.raises(StorageUnavailable) as caught:
            storage_call("PUT k", lambda e=exc: _raise(e))
        assert caught.value.code == "storage_unavailable"


def test_storage_4xx_is_permanent() -> None:
    with pytest.raises(StorageRejected) as caught:
        storage_call("PUT k", lambda: _raise(_Forbidden()))

    assert caught.value.code == "storage_rejected"
