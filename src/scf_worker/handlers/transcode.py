"""transcode (queue or async): render the MP4 and thumbnail of one scheduled job."""

from __future__ import annotations

import time
from typing import Any

from scf_worker.app import Services
from scf_worker.jobs import lifecycle
from scf_worker.jobs.entry import job_function
from scf_worker.jobs.model import TYPE_TRANSCODE
from scf_worker.observability import metrics
from scf_worker.retry.policy import PermanentError
from scf_worker.runtime.invocation import Invocation
from scf_worker.transcode.service import TranscodeService

# Time kept back from the invocation limit for uploading outputs and recording the result.
UPLOAD_MARGIN_MS = 5000


def run(services: Services, payload: Any, invocation: Invocation) -> dict[str, Any]:
    if not isinstance(payload, dict) or not isinstance(payload.get("jobId"), str):
        raise PermanentError("invalid_params", 'payload must be {"jobId": "..."}')
    started = time.monotonic()
    job = lifecycle.begin(services.jobs, payload["jobId"])
    if job is None:
        return {"status": "duplicate"}
    settings = services.settings
    service = TranscodeService(services.store, settings.output_prefix, settings.ffmpeg_binary,
                               settings.ffprobe_binary, services.scratch_root)
    metrics.note(objectKey=job.resource.key)
    result = service.run(job, invocation.deadline(UPLOAD_MARGIN_MS))
    metrics.note(ffmpegMs=result.get("ffmpegMs", 0))
    lifecycle.finish(services.jobs, job, result, started)
    return {"status": "done", "outputs": len(result["outputs"])}


def on_dead(services: Services, payload: Any, reason: str) -> None:
    if isinstance(payload, dict) and isinstance(payload.get("jobId"), str):
        lifecycle.fail(services.jobs, payload["jobId"], reason)


main_handler = job_function("transcode", TYPE_TRANSCODE, run, on_dead)
