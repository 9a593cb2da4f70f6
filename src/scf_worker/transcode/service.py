"""Transcode one source object into an MP4 rendition and a JPEG thumbnail.

Object keys never become file paths: the job works in its own scratch
directory under the temp dir with fixed file names, removed in ``finally``.
Every output is probed before upload, so a truncated file is never stored.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from scf_worker.jobs.model import Job
from scf_worker.observability.logging import get_logger
from scf_worker.retry.policy import TransientError
from scf_worker.storage.base import ObjectStore
from scf_worker.storage.errors import ObjectNotFound, StorageError
from scf_worker.transcode.binaries import find_ffmpeg, find_ffprobe
from scf_worker.transcode.errors import InvalidMedia, OutputInvalid, TranscodeTimeout
from scf_worker.transcode.presets import mp4_args, thumbnail_args
from scf_worker.transcode.probe import MediaInfo, probe
from scf_worker.transcode.runner import run_ffmpeg

log = get_logger(__name__)
MIN_FREE_BYTES_MARGIN = 64 * 1024 * 1024
DURATION_TOLERANCE_SECONDS = 1.0


@dataclass(frozen=True)
class Output:
    key: str
    kind: str
    content_type: str
    size: int
    width: int
    height: int
    duration_seconds: float


class TranscodeService:
    def __init__(self, store: ObjectStore, output_prefix: str, ffmpeg_binary: str | None = None,
                 ffprobe_binary: str | None = None, scratch_root: Path | None = None) -> None:
        self.store = store
        self.output_prefix = output_prefix
        self.ffmpeg_binary = ffmpeg_binary
        self.ffprobe_binary = ffprobe_binary
        self.scratch_root = scratch_root

    def run(self, job: Job, deadline_monotonic: float) -> dict[str, Any]:
        ffmpeg = find_ffmpeg(self.ffmpeg_binary)
        ffprobe = find_ffprobe(self.ffprobe_binary, ffmpeg)
        scratch = Path(tempfile.mkdtemp(prefix="scf-transcode-", dir=self.scratch_root))
        try:
            source = scratch / "input"
            self._download(job, source)
            info = probe(source, ffprobe)
            outputs, ffmpeg_ms = self._render(job, ffmpeg, ffprobe, source, info, scratch,
                                              deadline_monotonic)
            if time.monotonic() >= deadline_monotonic:
                raise TranscodeTimeout("deadline passed before upload; nothing was uploaded")
            stored = [self._upload(job, path, output) for path, output in outputs]
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return {"outputs": [asdict(o) for o in stored], "ffmpegMs": ffmpeg_ms,
                "source": {"durationSeconds": info.duration_seconds, "width": info.display_size[0],
                           "height": info.display_size[1]}}

    def _download(self, job: Job, dest: Path) -> None:
        info = self.store.head(job.resource.bucket, job.resource.key)
        if info is None:
            raise InvalidMedia("source object no longer exists")
        free = shutil.disk_usage(dest.parent).free
        # Room for the source, the outputs (estimated at the source size again) and a margin.
        if free < info.size * 2 + MIN_FREE_BYTES_MARGIN:
            raise InvalidMedia(f"source of {info.size} bytes does not fit the scratch space")
        try:
            self.store.download(job.resource.bucket, job.resource.key, dest)
        except ObjectNotFound:
            raise InvalidMedia("source object no longer exists") from None
        except StorageError as exc:
            raise TransientError("storage_error", f"download failed: {exc}") from exc

    def _render(self, job: Job, ffmpeg: str, ffprobe: str | None, source: Path, info: MediaInfo,
                scratch: Path, deadline: float) -> tuple[list[tuple[Path, Output]], int]:
        planned: list[tuple[Path, str, str, list[str]]] = []
        if info.has_video and not info.is_still_image:
            video = scratch / "720p.mp4"
            planned.append((video, "video", "video/mp4",
                            mp4_args(ffmpeg, str(source), str(video), info)))
        if info.has_video:
            thumb = scratch / "thumbnail.jpg"
            planned.append((thumb, "thumbnail", "image/jpeg",
                            thumbnail_args(ffmpeg, str(source), str(thumb), info)))
        if not planned:
            raise InvalidMedia("audio-only sources are not handled by this preset")

        results = []
        ffmpeg_ms = 0
        for path, kind, content_type, args in planned:
            ffmpeg_ms += run_ffmpeg(args, deadline).duration_ms
            checked = self._check(path, kind, info, ffprobe)
            key = f"{self.output_prefix}{job.id}/{path.name}"
            results.append((path, Output(key, kind, content_type, path.stat().st_size,
                                         checked.width, checked.height, checked.duration_seconds)))
        return results, ffmpeg_ms

    def _check(self, path: Path, kind: str, source: MediaInfo, ffprobe: str | None) -> MediaInfo:
        try:
            out = probe(path, ffprobe)
        except InvalidMedia as exc:
            raise OutputInvalid(f"{path.name} is unreadable: {exc}") from None
        if out.width % 2 or out.height % 2:
            raise OutputInvalid(f"{path.name} has odd dimensions {out.width}x{out.height}")
        if kind == "video":
            if out.pix_fmt != "yuv420p" or out.video_codec != "h264":
                raise OutputInvalid(f"{path.name} is {out.video_codec}/{out.pix_fmt}")
            if abs(out.duration_seconds - source.duration_seconds) > DURATION_TOLERANCE_SECONDS:
                raise OutputInvalid(
                    f"{path.name} lasts {out.duration_seconds:.2f}s, source {source.duration_seconds:.2f}s"
                )
        return out

    def _upload(self, job: Job, path: Path, output: Output) -> Output:
        self.store.upload(job.resource.bucket, output.key, path, output.content_type)
        log.info("output_stored", jobId=job.id, key=output.key, kind=output.kind, size=output.size)
        return output
