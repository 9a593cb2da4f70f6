"""Transcode one source object: download, probe, render, check, upload.

Object keys never become file paths: each run works in its own scratch
directory under the temp dir with fixed file names, removed in ``finally``.
Every output is checked before the first upload, and nothing is uploaded once
the deadline (the invocation's remaining time minus the upload margin) has
passed, so a truncated file is never stored. A source too long for one
invocation is handed to the fan-out instead (see ``fanout``).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from scf_worker.jobs.model import Job
from scf_worker.observability.logging import get_logger
from scf_worker.retry.policy import is_retryable_status
from scf_worker.storage.base import ObjectStore
from scf_worker.storage.errors import InvalidObjectKey, ObjectNotFound, StorageError
from scf_worker.transcode.binaries import find_ffmpeg, find_ffprobe
from scf_worker.transcode.errors import (
    InvalidMedia,
    SourceTooLarge,
    StorageRejected,
    StorageUnavailable,
    TranscodeTimeout,
)
from scf_worker.transcode.options import TranscodeOptions, options_for
from scf_worker.transcode.outputs import PHASE_MASTER_PLAYLIST, OutputFile, key_for, upload_order
from scf_worker.transcode.probe import MediaInfo, probe
from scf_worker.transcode.render import RenderContext, render_source

log = get_logger(__name__)
MIN_FREE_BYTES_MARGIN = 64 * 1024 * 1024
# Outputs (ladder, HLS copies, stills) are estimated at this multiple of the source size.
SCRATCH_OUTPUT_FACTOR = 2
T = TypeVar("T")
# Called with the probed source; returns a result when it took the job over, else None.
FanOutHook = Callable[[RenderContext, Path, MediaInfo], "dict[str, Any] | None"]


def storage_call(action: str, call: Callable[[], T]) -> T:
    """Run one object-store call, mapping its failures to the retry classes.

    A missing object or an invalid key is left to the caller; 5xx, throttling
    and connection errors become StorageUnavailable (transient); other 4xx
    responses from the COS SDK become StorageRejected (permanent).
    """
    try:
        return call()
    except (ObjectNotFound, InvalidObjectKey):
        raise
    except (StorageError, OSError) as exc:
        raise StorageUnavailable(f"{action} failed: {exc}") from exc
    except Exception as exc:
        status = getattr(exc, "get_status_code", None)
        code = status() if callable(status) else None
        if code is None or is_retryable_status(int(code)):
            raise StorageUnavailable(f"{action} failed with {code or type(exc).__name__}") from exc
        raise StorageRejected(f"{action} was rejected with {code}; check the function role's COS "
                              "permissions") from exc


def source_summary(info: MediaInfo) -> dict[str, Any]:
    width, height = info.display_size
    summary: dict[str, Any] = {
        "durationSeconds": round(info.duration_seconds, 3), "width": width, "height": height,
        "format": info.format_name, "videoCodec": info.video_codec, "audioCodec": info.audio_codec,
        "pixFmt": info.pix_fmt, "colorTransfer": info.color_transfer, "rotation": info.rotation,
        "variableFrameRate": info.is_variable_frame_rate, "coverArt": info.has_cover_art,
    }
    return {k: v for k, v in summary.items() if v is not None}


class TranscodeService:
    """Render one job's presets from its source object and store them under the job's prefix."""

    def __init__(self, store: ObjectStore, output_prefix: str, config: TranscodeOptions | None = None,
                 ffmpeg_binary: str | None = None, ffprobe_binary: str | None = None,
                 scratch_root: Path | None = None) -> None:
        self.store = store
        self.output_prefix = output_prefix
        self.config = config or TranscodeOptions()
        self.ffmpeg_binary = ffmpeg_binary
        self.ffprobe_binary = ffprobe_binary
        self.scratch_root = scratch_root

    # Shared steps, also used by the fan-out phases.

    def options(self, job: Job) -> TranscodeOptions:
        return options_for(self.config, job.params)

    @contextmanager
    def context(self, options: TranscodeOptions, deadline_monotonic: float) -> Iterator[RenderContext]:
        """Yield a render context on a fresh scratch directory, removed afterwards."""
        ffmpeg = find_ffmpeg(self.ffmpeg_binary)
        ffprobe = find_ffprobe(self.ffprobe_binary, ffmpeg)
        scratch = Path(tempfile.mkdtemp(prefix="scf-transcode-", dir=self.scratch_root))
        try:
            yield RenderContext(ffmpeg, ffprobe, scratch, deadline_monotonic, options)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def download(self, bucket: str, key: str, dest: Path,
                 outputs_factor: int = SCRATCH_OUTPUT_FACTOR) -> None:
        info = storage_call(f"HEAD {key}", lambda: self.store.head(bucket, key))
        if info is None:
            raise InvalidMedia("source object no longer exists")
        free = shutil.disk_usage(dest.parent).free
        needed = info.size * (1 + outputs_factor) + MIN_FREE_BYTES_MARGIN
        if free < needed:
            raise SourceTooLarge(f"source of {info.size} bytes needs {needed} bytes of scratch space, "
                                 f"{free} free; mount CFS or lower the source size limit")
        try:
            storage_call(f"GET {key}", lambda: self.store.download(bucket, key, dest))
        except ObjectNotFound:
            raise InvalidMedia("source object no longer exists") from None

    def upload(self, job: Job, outputs: list[OutputFile], deadline_monotonic: float,
               prefix_job_id: str | None = None) -> list[dict[str, Any]]:
        """Upload in phase order; return the SCF_JOB_DONE entries of the listed outputs.

        The deadline is checked once before the first upload: past it, nothing
        is stored. The HLS master goes last, after a listing confirms every
        playlist and segment it reaches is in the store.
        """
        if time.monotonic() >= deadline_monotonic:
            raise TranscodeTimeout("deadline passed before upload; nothing was uploaded")
        bucket = job.resource.bucket
        owner = prefix_job_id or job.id
        entries = []
        for output in upload_order(outputs):
            key = key_for(self.output_prefix, owner, output.name)
            if output.phase == PHASE_MASTER_PLAYLIST:
                self._require_stored(bucket, key_for(self.output_prefix, owner, ""), outputs)
            storage_call(f"PUT {key}", lambda k=key, o=output: self.store.upload(bucket, k, o.path,  # type: ignore[misc]
                                                                                  o.content_type))
            if output.listed:
                entries.append(output.describe(key))
        log.info("outputs_stored", jobId=job.id, count=len(outputs), listed=len(entries))
        return entries

    def _require_stored(self, bucket: str, prefix: str, outputs: list[OutputFile]) -> None:
        stored = set(storage_call(f"LIST {prefix}", lambda: self.store.list_keys(bucket, prefix)))
        needed = {prefix + o.name for o in outputs if o.kind in ("hls_segment", "hls_variant")}
        missing = sorted(needed - stored)
        if missing:
            # The files were checked locally and uploaded, so the store lost or hid them: retry.
            raise StorageUnavailable(f"HLS master not written: {len(missing)} uploaded URIs are not "
                                     f"listed in the store, e.g. {missing[0]}")

    # Single pass.

    def run(self, job: Job, deadline_monotonic: float,
            fan_out: FanOutHook | None = None) -> dict[str, Any]:
        """Render and store every preset of ``job`` in this invocation.

        When ``fan_out`` is given and the probed source is long enough, the
        hook takes over (it splits the source and schedules segment jobs) and
        its result is returned instead.
        """
        options = self.options(job)
        with self.context(options, deadline_monotonic) as ctx:
            source = ctx.scratch / "input"
            self.download(job.resource.bucket, job.resource.key, source)
            info = probe(source, ctx.ffprobe)
            if fan_out is not None:
                handed_over = fan_out(ctx, source, info)
                if handed_over is not None:
                    return handed_over
            outputs = render_source(ctx, source, info)
            stored = self.upload(job, outputs, deadline_monotonic)
        return {"outputs": stored, "ffmpegMs": ctx.ffmpeg_ms, "source": source_summary(info),
                "presets": list(options.presets)}
