"""Long media by fan-out: split at keyframes, transcode segments as jobs, join.

1. **Split** (the parent job's first invocation): the source's video is cut
   by stream copy at keyframes near equal intervals, the audio is encoded
   once for the whole source, and both are stored under
   ``<outputs prefix><parentId>/_work/``. In one transaction the parent
   becomes ``waiting`` with the plan in its result, and one
   ``media.transcode.segment`` job per part is created and queued on the
   transcode topic.
2. **Segments** (parallel, any instance): each encodes its part to every rung,
   video only, with the filters the parent planned, and in one transaction
   marks itself done and queues a join message for the parent.
3. **Join**: a join message whose parent has every segment done concatenates
   each rung by stream copy, muxes the audio, and packages HLS and stills.
   The result must match the source (video duration within one frame, audio
   drift at most 40 ms) before it is stored and the parent gets SCF_JOB_DONE.

Each segment queues its own join message after its own commit, so the join of
the last segment to commit always sees every segment done. Two joins may see
that at once; both write the same keys and the parent's SCF_JOB_DONE is
stored once, so a duplicate join costs time, not correctness.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from scf_worker.jobs import lifecycle
from scf_worker.jobs.model import STATUS_DONE, STATUS_FAILED, STATUS_SCHEDULED, Job, job_id_for
from scf_worker.jobs.store import JobStore
from scf_worker.observability.logging import get_logger
from scf_worker.transcode import checks, presets
from scf_worker.transcode.errors import OutputInvalid
from scf_worker.transcode.filters import (
    TONEMAP_CHAIN,
    Size,
    can_tonemap,
    ladder_sizes,
    output_frame_rate,
    rotation_chain,
)
from scf_worker.transcode.options import TranscodeOptions, options_for
from scf_worker.transcode.outputs import OutputFile, key_for
from scf_worker.transcode.probe import MediaInfo, keyframe_times, probe
from scf_worker.transcode.render import RenderContext, finish_ladder, input_kind, render_stills
from scf_worker.transcode.service import TranscodeService, source_summary

log = get_logger(__name__)
SEGMENT_JOB_TYPE = "media.transcode.segment"
STATUS_WAITING = "waiting"
TRANSCODE_TOPIC = "transcode"
WORK_DIR = "_work"
MAX_AUDIO_DRIFT_SECONDS = 0.040


def should_fan_out(info: MediaInfo, options: TranscodeOptions) -> bool:
    if input_kind(info) != "video" or not (options.wants("mp4") or options.wants("hls")):
        return False
    if options.fanout_segments:
        return options.fanout_segments > 1
    return info.duration_seconds >= options.fanout_min_seconds


def segment_count(info: MediaInfo, options: TranscodeOptions) -> int:
    if options.fanout_segments:
        return options.fanout_segments
    return max(2, math.ceil(info.duration_seconds / options.fanout_segment_seconds))


def choose_cuts(keyframes: list[float], duration_seconds: float, count: int) -> list[float]:
    """Pick up to ``count - 1`` keyframe times nearest to equal divisions of the duration."""
    candidates = sorted(t for t in keyframes if 0 < t < duration_seconds)
    cuts: list[float] = []
    for index in range(1, count):
        target = duration_seconds * index / count
        later = [t for t in candidates if not cuts or t > cuts[-1]]
        if not later:
            break
        cuts.append(min(later, key=lambda t: abs(t - target)))
    return cuts


def segment_job_id(parent_id: str, index: int) -> str:
    return job_id_for(SEGMENT_JOB_TYPE, f"{parent_id}#{index}")


def planned_chain(info: MediaInfo, options: TranscodeOptions, tonemap: bool) -> list[str]:
    """Return the filters every segment applies before scaling: rate, rotation, tone mapping."""
    chain = []
    rate = output_frame_rate(info, options.max_frame_rate)
    if rate is not None:
        chain.append(f"fps={rate.numerator}/{rate.denominator}")
    chain += rotation_chain(info.rotation)
    if info.is_hdr and tonemap:
        chain += list(TONEMAP_CHAIN)
    return chain


class FanOut:
    """The three fan-out phases over one TranscodeService and the job store."""

    def __init__(self, service: TranscodeService, jobs: JobStore) -> None:
        self.service = service
        self.jobs = jobs

    # Phase 1: split.

    def split(self, job: Job, ctx: RenderContext, source: Path, info: MediaInfo) -> dict[str, Any] | None:
        """Split a long source and schedule its segments; return None to render in one pass."""
        options = ctx.options
        if not should_fan_out(info, options):
            return None
        cuts = choose_cuts(keyframe_times(source, ctx.ffprobe), info.duration_seconds,
                           segment_count(info, options))
        if not cuts:
            log.info("fanout_skipped", jobId=job.id, reason="no keyframe to cut at")
            return None

        parts_dir = ctx.directory("parts")
        ctx.run(presets.split_args(ctx.ffmpeg, source, parts_dir / "part-%03d.mkv", cuts), "split",
                info.duration_seconds)
        parts = sorted(parts_dir.glob("part-*.mkv"))
        uploads = [OutputFile(p, f"{WORK_DIR}/{p.name}", "part", "video/x-matroska", listed=False)
                   for p in parts]
        with ThreadPoolExecutor(max_workers=4) as pool:
            durations = list(pool.map(lambda p: _content_seconds(probe(p, ctx.ffprobe)), parts))
        audio_name = None
        if info.has_audio:
            audio = ctx.scratch / "audio.m4a"
            ctx.run(presets.audio_only_args(ctx.ffmpeg, source, audio, info, options), "audio",
                    info.duration_seconds)
            audio_info = checks.check_audio(audio, ctx.ffprobe, info.duration_seconds)
            if info.audio_duration_seconds is None:
                # Matroska and some other containers have no per-stream duration; the extracted
                # track stands in for the source's audio in the drift check.
                info = replace(info, audio_duration_seconds=audio_info.audio_duration_seconds)
            audio_name = f"{WORK_DIR}/audio.m4a"
            uploads.append(OutputFile(audio, audio_name, "part", "audio/mp4", listed=False))
        self.service.upload(job, uploads, ctx.deadline)

        plan = self._plan(job, info, options, can_tonemap(ctx.ffmpeg), parts, durations, audio_name)
        self._schedule(job, plan)
        log.info("fanout_scheduled", jobId=job.id, segments=len(parts),
                 durationSeconds=round(info.duration_seconds, 3))
        return {"status": "fanout", "segments": len(parts), "ffmpegMs": ctx.ffmpeg_ms}

    def _plan(self, job: Job, info: MediaInfo, options: TranscodeOptions, tonemap: bool, parts: list[Path],
              durations: list[float], audio_name: str | None) -> dict[str, Any]:
        rate = output_frame_rate(info, options.max_frame_rate) or info.frame_rate
        timing = _timing(info)
        if timing["videoDuration"] is None:
            # The parts hold exactly the source's video packets, so their sum is its duration.
            timing["videoDuration"] = sum(durations)
        return {
            "phase": "fanout",
            # lifecycle.begin stamped updated_at when this attempt started.
            "startedAt": job.updated_at or self.jobs.clock(),
            "segments": [{"index": i, "name": f"{WORK_DIR}/{p.name}", "durationSeconds": round(d, 6)}
                         for i, (p, d) in enumerate(zip(parts, durations, strict=True))],
            "audio": audio_name,
            "rungs": [{"name": name, "width": size.width, "height": size.height}
                      for name, size in ladder_sizes(info, options.ladder)],
            "filters": planned_chain(info, options, tonemap),
            "frameRate": f"{rate.numerator}/{rate.denominator}" if rate else None,
            "hdr": info.is_hdr,
            "source": source_summary(info),
            "sourceVideo": timing,
        }

    def _schedule(self, job: Job, plan: dict[str, Any]) -> None:
        job.status = STATUS_WAITING
        job.result = plan
        with self.jobs.db.transaction() as tx:
            self.jobs.update_job(tx, job)
            for segment in plan["segments"]:
                child = Job(segment_job_id(job.id, segment["index"]), SEGMENT_JOB_TYPE, STATUS_SCHEDULED,
                            job.resource, params={"parentJobId": job.id, "index": segment["index"]},
                            parent_id=job.id, request_id=job.request_id)
                self.jobs.insert_job(tx, child)
                self.jobs.enqueue(tx, TRANSCODE_TOPIC, {"jobId": child.id}, dedupe_key=child.id)

    # Phase 2: one segment.

    def run_segment(self, child: Job, deadline_monotonic: float, started_monotonic: float) -> dict[str, Any]:
        parent = self.jobs.get_job(str(child.params["parentJobId"]))
        if parent is None or parent.status in (STATUS_DONE, STATUS_FAILED) or not parent.result:
            self._mark_segment(child, STATUS_FAILED, "parent job is gone, failed or finished")
            return {"status": "skipped"}
        plan = parent.result
        segment = plan["segments"][int(child.params["index"])]
        options = options_for(self.service.config, parent.params)
        with self.service.context(options, deadline_monotonic) as ctx:
            part = ctx.scratch / "part.mkv"
            self.service.download(child.resource.bucket, key_for(self.service.output_prefix, parent.id,
                                                                  segment["name"]), part)
            info = probe(part, ctx.ffprobe)
            rungs = _rungs(ctx, plan)
            ctx.run(presets.ladder_args(ctx.ffmpeg, part, info, rungs, options, False, False,
                                        pre_chain=list(plan["filters"])),
                    f"segment_{segment['index']}", info.duration_seconds)
            outputs = []
            for rung in rungs:
                out = checks.check_video(rung.path, ctx.ffprobe, rung.size, segment["durationSeconds"], False)
                outputs.append(OutputFile(rung.path, _part_name(rung.name, segment["index"]), "part",
                                          "video/mp4", out.width, out.height, out.duration_seconds,
                                          listed=False))
            self.service.upload(child, outputs, deadline_monotonic, prefix_job_id=parent.id)
        self._finish_segment(child, parent.id, {"ffmpegMs": ctx.ffmpeg_ms, "index": segment["index"]},
                             started_monotonic)
        return {"status": "done", "segment": segment["index"]}

    def _finish_segment(self, child: Job, parent_id: str, result: dict[str, Any],
                        started_monotonic: float) -> None:
        """Mark the segment done and queue the parent's join, in one transaction.

        Segments emit no SCF_JOB_* events of their own: they are internal to
        the parent, whose events the CMS receives.
        """
        child.status = STATUS_DONE
        child.result = {**result, "durationMs": int((time.monotonic() - started_monotonic) * 1000)}
        child.error = None
        index = child.params["index"]
        # Each join message has its own idempotency key: the parent's jobId alone names the split,
        # which an idempotent consumer has already recorded as done.
        message = {"jobId": parent_id, "join": index, "idempotencyKey": f"{parent_id}#join:{index}"}
        with self.jobs.db.transaction() as tx:
            self.jobs.update_job(tx, child)
            self.jobs.enqueue(tx, TRANSCODE_TOPIC, message, dedupe_key=f"join:{parent_id}:{index}")

    def _mark_segment(self, child: Job, status: str, error: str | None) -> None:
        child.status = status
        child.error = error
        with self.jobs.db.transaction() as tx:
            self.jobs.update_job(tx, child)

    # Phase 3: join.

    def run_join(self, parent_id: str, deadline_monotonic: float) -> dict[str, Any]:
        parent = self.jobs.get_job(parent_id)
        if parent is None or parent.status in (STATUS_DONE, STATUS_FAILED):
            return {"status": "duplicate"}
        plan = parent.result or {}
        segments = plan.get("segments") or []
        done = sum(1 for s in segments
                   if (child := self.jobs.get_job(segment_job_id(parent_id, s["index"]))) is not None
                   and child.status == STATUS_DONE)
        if not segments or done < len(segments):
            return {"status": "waiting", "done": done, "segments": len(segments)}

        job = lifecycle.begin(self.jobs, parent_id)
        if job is None:
            return {"status": "duplicate"}
        result = self._join(job, plan, deadline_monotonic)
        # The parent's duration runs from the split, not from this invocation.
        started = time.monotonic() - (self.jobs.clock() - float(plan["startedAt"]))
        lifecycle.finish(self.jobs, job, result, started)
        self._clean_work(job)
        return {"status": "done", "outputs": len(result["outputs"])}

    def _join(self, job: Job, plan: dict[str, Any], deadline_monotonic: float) -> dict[str, Any]:
        options = options_for(self.service.config, job.params)
        bucket = job.resource.bucket
        prefix = self.service.output_prefix
        with self.service.context(options, deadline_monotonic) as ctx:
            rungs = _rungs(ctx, plan)
            audio = None
            if plan.get("audio"):
                audio = ctx.scratch / "audio.m4a"
                self.service.download(bucket, key_for(prefix, job.id, plan["audio"]), audio)
            for rung in rungs:
                listing = self._fetch_parts(ctx, job, plan, rung.name)
                ctx.run(presets.concat_args(ctx.ffmpeg, listing, audio, rung.path), f"concat_{rung.name}")
            source = plan["source"]
            rate = Fraction(plan["frameRate"]) if plan.get("frameRate") else None
            outputs = finish_ladder(ctx, rungs, float(source["durationSeconds"]), audio is not None, rate)
            drift = check_sync(probe(rungs[-1].path, ctx.ffprobe), plan["sourceVideo"], rate)
            stills_source = next((r for r in rungs if r.size.short_edge >= options.thumbnail_height),
                                 rungs[-1])
            outputs += render_stills(ctx, stills_source.path, probe(stills_source.path, ctx.ffprobe))
            stored = self.service.upload(job, outputs, deadline_monotonic)
        return {"outputs": stored, "ffmpegMs": ctx.ffmpeg_ms, "source": source,
                "presets": list(options.presets),
                "fanout": {"segments": len(plan["segments"]), **drift}}

    def _fetch_parts(self, ctx: RenderContext, job: Job, plan: dict[str, Any], rung: str) -> Path:
        folder = ctx.directory(f"parts/{rung}")
        lines = []
        for segment in plan["segments"]:
            local = folder / f"part-{segment['index']:03d}.mp4"
            self.service.download(job.resource.bucket, key_for(self.service.output_prefix, job.id,
                                                                _part_name(rung, segment["index"])),
                                  local, outputs_factor=0)
            lines.append(f"file '{local}'")
        listing = folder / "concat.txt"
        listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return listing

    def _clean_work(self, job: Job) -> None:
        """Delete the parts; a failure only leaves garbage behind, so it is logged, not raised."""
        prefix = key_for(self.service.output_prefix, job.id, f"{WORK_DIR}/")
        store = self.service.store
        try:
            for key in store.list_keys(job.resource.bucket, prefix):
                store.delete(job.resource.bucket, key)
        except Exception as exc:  # noqa: BLE001 (cleanup is best effort; the job already finished)
            log.warning("fanout_cleanup_failed", jobId=job.id, prefix=prefix, error=str(exc)[:300])

    # Dead letters.

    def fail(self, job_id: str, reason: str) -> None:
        """Fail a job for good; a dead segment fails its parent."""
        job = self.jobs.get_job(job_id)
        if job is None:
            return
        if job.type != SEGMENT_JOB_TYPE:
            lifecycle.fail(self.jobs, job_id, reason)
            return
        self._mark_segment(job, STATUS_FAILED, reason)
        lifecycle.fail(self.jobs, str(job.params["parentJobId"]),
                       f"segment {job.params['index']} failed: {reason}")


def _content_seconds(part: MediaInfo) -> float:
    """Seconds of video a part holds: a Matroska part's duration also counts its start offset."""
    return part.duration_seconds - (part.video_start_seconds or 0.0)


def _part_name(rung: str, index: int) -> str:
    return f"{WORK_DIR}/{rung}/part-{index:03d}.mp4"


def _rungs(ctx: RenderContext, plan: dict[str, Any]) -> list[presets.Rung]:
    folder = ctx.directory("mp4")
    return [presets.Rung(r["name"], Size(int(r["width"]), int(r["height"])), folder / f"{r['name']}.mp4")
            for r in plan["rungs"]]


def _timing(info: MediaInfo) -> dict[str, float | None]:
    return {"videoStart": info.video_start_seconds, "videoDuration": info.video_duration_seconds,
            "audioStart": info.audio_start_seconds, "audioDuration": info.audio_duration_seconds,
            "duration": info.duration_seconds}


def check_sync(out: MediaInfo, source: dict[str, Any], frame_rate: Fraction | None) -> dict[str, float]:
    """Check the joined output against the source: video within one frame, audio drift ≤ 40 ms.

    Drift compares where audio ends relative to video in the output and in
    the source; a segment that lost or gained frames shows up here.
    """
    frame = float(1 / frame_rate) if frame_rate else 0.040
    out_timing = _timing(out)
    src_video = source.get("videoDuration") or source["duration"]
    out_video = out_timing["videoDuration"] or out.duration_seconds
    video_gap = abs(float(out_video) - float(src_video))
    if video_gap > frame + 0.001:
        raise OutputInvalid(f"joined video lasts {out_video:.3f}s, source {src_video:.3f}s "
                            f"(more than one frame of {frame:.3f}s apart)")
    drift = 0.0
    if source.get("audioDuration") is not None and out_timing["audioDuration"] is not None:
        drift = abs(_audio_lead(out_timing) - _audio_lead(source))
        if drift > MAX_AUDIO_DRIFT_SECONDS:
            raise OutputInvalid(f"joined audio drifts {drift * 1000:.0f} ms from the video "
                                f"(limit {MAX_AUDIO_DRIFT_SECONDS * 1000:.0f} ms)")
    return {"videoGapSeconds": round(video_gap, 4), "audioDriftSeconds": round(drift, 4)}


def _audio_lead(timing: dict[str, Any]) -> float:
    """Seconds by which audio ends after video (negative: before)."""
    video_duration = timing.get("videoDuration") or timing["duration"]
    video_end = float(timing.get("videoStart") or 0) + float(video_duration)
    audio_end = float(timing.get("audioStart") or 0) + float(timing["audioDuration"])
    return audio_end - video_end
