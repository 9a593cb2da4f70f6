"""HLS playlists: URI checks, the master written last, and never over a missing URI."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from scf_worker.jobs.model import STATUS_RUNNING, TYPE_TRANSCODE, Job, Resource
from scf_worker.storage.base import ObjectInfo
from scf_worker.storage.local import LocalObjectStore
from scf_worker.transcode.errors import StorageUnavailable
from scf_worker.transcode.hls import missing_uris, parse_variant
from scf_worker.transcode.options import config_from_env
from scf_worker.transcode.service import TranscodeService

BUCKET = "media-1250000000"


class RecordingStore(LocalObjectStore):
    """A folder store that records upload order and can lose chosen objects, as a faulty backend would."""

    def __init__(self, root: Path, lose_suffix: str | None = None) -> None:
        super().__init__(root)
        self.uploaded: list[str] = []
        self.lose_suffix = lose_suffix

    def upload(self, bucket: str, key: str, src: Path, content_type: str | None) -> ObjectInfo:
        self.uploaded.append(key)
        if self.lose_suffix and key.endswith(self.lose_suffix) and not key.startswith("uploads/"):
            return ObjectInfo(key, 0, "", content_type)
        return super().upload(bucket, key, src, content_type)


def run(store: RecordingStore, source: Path, tmp_path: Path) -> dict:
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    service = TranscodeService(store, "outputs/", config_from_env({}), scratch_root=scratch)
    store.upload(BUCKET, "uploads/u1/a.mp4", source, None)
    job = Job("job-1", TYPE_TRANSCODE, STATUS_RUNNING, Resource(BUCKET, "uploads/u1/a.mp4"),
              params={"presets": ["hls"], "ladder": [240, 360]})
    return service.run(job, time.monotonic() + 120)


def test_variant_parse_lists_uris_and_durations(tmp_path: Path) -> None:
    playlist = tmp_path / "index.m3u8"
    playlist.write_text('#EXTM3U\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:4.000,\nseg-00000.m4s\n'
                        "#EXTINF:1.5,\nseg-00001.m4s\n#EXT-X-ENDLIST\n")

    parsed = parse_variant(playlist)

    assert parsed.uris == ("init.mp4", "seg-00000.m4s", "seg-00001.m4s")
    assert parsed.duration_seconds == pytest.approx(5.5)
    assert parsed.ended


def test_missing_uris_reports_absent_and_external(tmp_path: Path) -> None:
    (tmp_path / "seg-00000.ts").write_bytes(b"x")
    (tmp_path / "seg-00001.ts").write_bytes(b"")
    playlist = tmp_path / "index.m3u8"
    playlist.write_text("#EXTM3U\n#EXTINF:4,\nseg-00000.ts\n#EXTINF:4,\nseg-00001.ts\n#EXTINF:4,\n"
                        "seg-00002.ts\n#EXTINF:4,\nhttp://127.0.0.1/seg.ts\n#EXTINF:4,\n../escape.ts\n")

    assert missing_uris(playlist) == ["seg-00001.ts", "seg-00002.ts", "http://127.0.0.1/seg.ts",
                                      "../escape.ts"]


@pytest.mark.slow
def test_hls_upload_order(media: Callable[[str], Path], tmp_path: Path) -> None:
    store = RecordingStore(tmp_path / "cos")

    run(store, media("no_audio"), tmp_path)

    outputs = [key for key in store.uploaded if key.startswith("outputs/")]
    kinds = ["master" if k.endswith("master.m3u8") else "variant" if k.endswith(".m3u8") else "segment"
             for k in outputs]
    assert kinds[-1] == "master"
    assert kinds.count("master") == 1
    assert max(i for i, kind in enumerate(kinds) if kind == "segment") < min(
        i for i, kind in enumerate(kinds) if kind == "variant")


@pytest.mark.slow
def test_master_withheld_when_segment_lost(media: Callable[[str], Path], tmp_path: Path) -> None:
    store = RecordingStore(tmp_path / "cos", lose_suffix="seg-00000.ts")

    with pytest.raises(StorageUnavailable) as caught:
        run(store, media("no_audio"), tmp_path)

    assert caught.value.code == "storage_unavailable"
    assert "HLS master not written" in str(caught.value)
    assert not [k for k in store.uploaded if k.endswith("master.m3u8")]
    assert not store.list_keys(BUCKET, "outputs/job-1/hls/master.m3u8")
