"""transcode (queue or async): render the presets of one scheduled job.

A message is ``{"jobId": ...}`` for a transcode job or one of its fan-out
segments, or ``{"jobId": <parent>, "join": <segment index>}`` when a segment
finished and the parent may be ready to join. The deadline given to ffmpeg is
the invocation's remaining time minus ``TRANSCODE_UPLOAD_MARGIN_MS``.
"""

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
from scf_worker.transcode.fanout import SEGMENT_JOB_TYPE, STATUS_WAITING, FanOut
from scf_worker.transcode.options import config_from_env
from scf_worker.transcode.service import TranscodeService

EXTENSION_KEY = "transcode.fanout"


def fanout_for(services: Services) -> FanOut:
    """Build the transcode service once per instance, with ``TRANSCODE_*`` read at that point."""
    fanout = services.extensions.get(EXTENSION_KEY)
    if fanout is None:
        settings = services.settings
        service = TranscodeService(services.store, settings.output_prefix, config_from_env(),
                                   settings.ffmpeg_binary, settings.ffprobe_binary, services.scratch_root)
        fanout = FanOut(service, services.jobs)
        services.extensions[EXTENSION_KEY] = fanout
    assert isinstance(fanout, FanOut)
    return fanout


def run(services: Services, payload: Any, invocation: Invocation) -> dict[str, Any]:
    if not isinstance(payload, dict) or not isinstance(payload.get("jobId"), str):
        raise PermanentError("invalid_params", 'payload must be {"jobId": "..."}')
    started = time.monotonic()
    fanout = fanout_for(services)
    deadline = invocation.deadline(fanout.service.config.upload_margin_ms)
    if "join" in payload:
        return fanout.run_join(payload["jobId"], deadline)

    current = services.jobs.get_job(payload["jobId"])
    if current is not None and current.status == STATUS_WAITING:
        # A redelivered first message after the split committed: the segments carry on.
        return {"status": "waiting"}
    job = lifecycle.begin(services.jobs, payload["jobId"])
    if job is None:
        return {"status": "duplicate"}
    metrics.note(objectKey=job.resource.key)
    if job.type == SEGMENT_JOB_TYPE:
        return fanout.run_segment(job, deadline, started)

    result = fanout.service.run(job, deadline,
                                fan_out=lambda ctx, src, info: fanout.split(job, ctx, src, info))
    metrics.note(ffmpegMs=result.get("ffmpegMs", 0))
    if result.get("status") == "fanout":
        return result
    lifecycle.finish(services.jobs, job, result, started)
    return {"status": "done", "outputs": len(result["outputs"])}


def on_dead(services: Services, payload: Any, reason: str) -> None:
    if isinstance(payload, dict) and isinstance(payload.get("jobId"), str):
        fanout_for(services).fail(payload["jobId"], reason)


main_handler = job_function("transcode", TYPE_TRANSCODE, run, on_dead)
