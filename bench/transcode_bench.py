"""Transcode benchmarks: pipeline overhead, fan-out speedup, and per-preset memory and time.

    python bench/transcode_bench.py overhead --seconds 20 --size 1920x1080 --repeat 3
    python bench/transcode_bench.py fanout --seconds 60 --size 1920x1080 --segments 6 --workers 1,2
    python bench/transcode_bench.py presets --seconds 10 --size 1920x1080

``overhead`` runs the MP4 ladder preset through TranscodeService (download
from the folder store, probe, ffmpeg, output checks, upload) and the same
ffmpeg argument list on its own, and reports the ratio of wall times.
``fanout`` transcodes one source in one pass and by fan-out through the queue
with N worker threads. ``presets`` runs each preset in a fresh child process
and reports its wall time and peak resident memory (Python plus ffmpeg).
Every command prints one JSON object; docs/benchmarks.md records the results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from scf_worker.demo.hard_inputs import make_long_clip
from scf_worker.jobs.model import STATUS_RUNNING, STATUS_SCHEDULED, TYPE_TRANSCODE, Job, Resource
from scf_worker.storage.local import LocalObjectStore
from scf_worker.transcode.binaries import find_ffmpeg, find_ffprobe
from scf_worker.transcode.filters import can_tonemap
from scf_worker.transcode.options import config_from_env, options_for
from scf_worker.transcode.presets import Rung, ladder_args
from scf_worker.transcode.probe import probe
from scf_worker.transcode.render import plan_rungs
from scf_worker.transcode.service import TranscodeService

BUCKET = "media-1250000000"
PRESET_PARAMS = {
    "mp4": {"presets": ["mp4"]},
    "hls": {"presets": ["hls"]},
    "mp4+hls": {"presets": ["mp4", "hls"]},
    "thumbnail": {"presets": ["thumbnail"]},
    "sprite": {"presets": ["sprite"]},
    "all": {"presets": ["mp4", "hls", "thumbnail", "sprite"]},
}


def machine() -> dict[str, Any]:
    ffmpeg = find_ffmpeg()
    version = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True, check=False)
    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "ffmpeg": version.stdout.split("\n", 1)[0], "loadAverage": os.getloadavg()}


def source_clip(folder: Path, seconds: float, size: str) -> Path:
    dest = folder / f"source-{size}-{seconds:g}s.mp4"
    if not dest.exists():
        make_long_clip(dest, seconds, size=size)
    return dest


def make_service(root: Path, source: Path) -> TranscodeService:
    store = LocalObjectStore(root / "cos")
    store.upload(BUCKET, "uploads/bench/source.mp4", source, None)
    scratch = root / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    return TranscodeService(store, "outputs/", config_from_env({}), scratch_root=scratch)


def cpu_seconds() -> float:
    """CPU time used so far by this process and its waited-for children (user + system)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_pipeline(service: TranscodeService, params: dict[str, Any], job_id: str) -> float:
    return timed_pipeline(service, params, job_id)[0]


def timed_pipeline(service: TranscodeService, params: dict[str, Any], job_id: str) -> tuple[float, float]:
    """Return (wall seconds, CPU seconds) of one TranscodeService run."""
    job = Job(job_id, TYPE_TRANSCODE, STATUS_RUNNING, Resource(BUCKET, "uploads/bench/source.mp4"),
              params=params)
    cpu, started = cpu_seconds(), time.monotonic()
    service.run(job, time.monotonic() + 3600)
    return time.monotonic() - started, cpu_seconds() - cpu


def run_raw(source: Path, params: dict[str, Any], scratch: Path) -> tuple[float, float]:
    """Run the ladder's ffmpeg command alone, with the same arguments the pipeline builds."""
    ffmpeg = find_ffmpeg()
    info = probe(source, find_ffprobe(None, ffmpeg))
    options = options_for(config_from_env({}), params)

    class _Context:
        def __init__(self) -> None:
            self.options = options

        def directory(self, name: str) -> Path:
            path = scratch / name
            path.mkdir(parents=True, exist_ok=True)
            return path

    rungs: list[Rung] = plan_rungs(_Context(), info)  # type: ignore[arg-type]
    args = ladder_args(ffmpeg, source, info, rungs, options, can_tonemap(ffmpeg), info.has_audio)
    cpu, started = cpu_seconds(), time.monotonic()
    subprocess.run(args, check=True, capture_output=True)
    return time.monotonic() - started, cpu_seconds() - cpu


def overhead(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    source = source_clip(root, args.seconds, args.size)
    service = make_service(root, source)
    params = {"presets": ["mp4"]}
    pipeline_runs: list[tuple[float, float]] = []
    raw_runs: list[tuple[float, float]] = []
    for index in range(args.repeat):
        # Alternate the order so a warming cache or a neighbour's load favours neither.
        if index % 2:
            raw_runs.append(run_raw(source, params, root / f"raw-{index}"))
            pipeline_runs.append(timed_pipeline(service, params, f"bench-{index}"))
        else:
            pipeline_runs.append(timed_pipeline(service, params, f"bench-{index}"))
            raw_runs.append(run_raw(source, params, root / f"raw-{index}"))
    wall_pipeline, cpu_pipeline = zip(*pipeline_runs, strict=True)
    wall_raw, cpu_raw = zip(*raw_runs, strict=True)
    # On a shared machine wall time swings with the neighbours' load. The fastest run of each
    # kind saw the least interference, and CPU time does not depend on that load at all.
    return {"benchmark": "overhead", "preset": "mp4", "source": f"{args.size} {args.seconds:g}s",
            "pipelineWallSeconds": [round(v, 3) for v in wall_pipeline],
            "rawWallSeconds": [round(v, 3) for v in wall_raw],
            "pipelineCpuSeconds": [round(v, 3) for v in cpu_pipeline],
            "rawCpuSeconds": [round(v, 3) for v in cpu_raw],
            "wallRatioMedian": round(statistics.median(wall_pipeline) / statistics.median(wall_raw), 3),
            "wallRatioFastest": round(min(wall_pipeline) / min(wall_raw), 3),
            "cpuRatioMedian": round(statistics.median(cpu_pipeline) / statistics.median(cpu_raw), 3),
            "machine": machine()}


def fanout(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    source = source_clip(root, args.seconds, args.size)
    results: dict[str, Any] = {"benchmark": "fanout", "source": f"{args.size} {args.seconds:g}s",
                               "segments": args.segments, "presets": args.presets.split(","),
                               "machine": machine()}
    if not args.skip_single:
        single_root = root / "single"
        single_root.mkdir()
        results["singlePassSeconds"] = round(run_pipeline(make_service(single_root, source),
                                                          {"presets": args.presets.split(","), "segments": 1},
                                                          "single"), 3)
    by_workers: dict[str, float] = {}
    phases: dict[str, dict[str, float]] = {}
    for workers in [int(w) for w in args.workers.split(",")]:
        elapsed, breakdown = _fanout_once(root / f"workers-{workers}", source, workers, args.segments,
                                          args.presets.split(","))
        by_workers[str(workers)] = round(elapsed, 3)
        phases[str(workers)] = breakdown
    results["fanoutSeconds"] = by_workers
    results["phases"] = phases
    base = by_workers[min(by_workers, key=int)]
    results["speedupOverOneWorker"] = {w: round(base / s, 2) for w, s in by_workers.items()}
    if "singlePassSeconds" in results:
        results["speedupOverSinglePass"] = {w: round(results["singlePassSeconds"] / s, 2)
                                            for w, s in by_workers.items()}
    return results


def _fanout_once(root: Path, source: Path, workers: int, segments: int,
                 presets: list[str]) -> tuple[float, dict[str, float]]:
    """Run one fan-out through the queue; return wall seconds and the phase breakdown.

    ``criticalPathSeconds`` (split + slowest segment + join) estimates the wall
    time when every segment runs on its own instance, as on SCF.
    """
    root.mkdir(parents=True)
    os.environ.update({"WORKER_HOME": str(root / "home"), "STATE_URL": f"sqlite:///{root / 'state.db'}",
                       "STORAGE_URL": f"file://{root / 'cos'}", "LOG_LEVEL": "WARNING"})
    from scf_worker.app import get_services, reset_services
    from scf_worker.jobs.worker import run_pool

    reset_services()
    services = get_services()
    services.store.upload(BUCKET, "uploads/bench/source.mp4", source, None)
    job = Job("fanout", TYPE_TRANSCODE, STATUS_SCHEDULED, Resource(BUCKET, "uploads/bench/source.mp4"),
              params={"presets": presets, "segments": segments})
    with services.db.transaction() as tx:
        services.jobs.insert_job(tx, job)
        services.jobs.enqueue(tx, "transcode", {"jobId": job.id}, dedupe_key=job.id)
    started, started_epoch = time.monotonic(), time.time()
    stats = run_pool(services, workers)
    elapsed = time.monotonic() - started
    parent = services.jobs.get_job("fanout")
    children = [j for j in services.jobs.list_jobs() if j.parent_id == "fanout"]
    reset_services()
    if parent is None or parent.status != "done" or stats.dead:
        raise SystemExit(f"fan-out with {workers} workers failed: {stats.dead} dead letters")
    split = min(c.created_at for c in children) - started_epoch
    segment_seconds = [float(c.result["durationMs"]) / 1000 for c in children if c.result]
    join = parent.updated_at - max(c.updated_at for c in children)
    breakdown = {"splitSeconds": round(split, 2), "slowestSegmentSeconds": round(max(segment_seconds), 2),
                 "meanSegmentSeconds": round(statistics.mean(segment_seconds), 2),
                 "joinSeconds": round(join, 2),
                 "criticalPathSeconds": round(split + max(segment_seconds) + join, 2)}
    return elapsed, breakdown


def presets_memory(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="bench-presets-"))
    source = source_clip(root, args.seconds, args.size)
    rows = {}
    for name in PRESET_PARAMS:
        completed = subprocess.run([sys.executable, __file__, "_one", name, str(source)],
                                   capture_output=True, text=True, check=True)
        rows[name] = json.loads(completed.stdout)
    return {"benchmark": "presets", "source": f"{args.size} {args.seconds:g}s", "presets": rows,
            "machine": machine()}


def one_preset(name: str, source: Path) -> None:
    """Child process: run one preset and print wall time and peak RSS (self and children)."""
    root = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    service = make_service(root, source)
    elapsed, cpu = timed_pipeline(service, PRESET_PARAMS[name], f"bench-{name}")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"seconds": round(elapsed, 2), "cpuSeconds": round(cpu, 2),
                      "pythonPeakMB": round(own, 1), "ffmpegPeakMB": round(children, 1),
                      "totalPeakMB": round(own + children, 1)}))


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "_one":
        one_preset(sys.argv[2], Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func in (("overhead", overhead), ("fanout", fanout), ("presets", presets_memory)):
        command = sub.add_parser(name)
        command.add_argument("--seconds", type=float, default=20.0, help="source length in seconds")
        command.add_argument("--size", default="1920x1080", help="source size WxH")
        command.set_defaults(func=func)
        if name == "overhead":
            command.add_argument("--repeat", type=int, default=3)
        if name == "fanout":
            command.add_argument("--segments", type=int, default=6)
            command.add_argument("--workers", default="1,2", help="comma-separated worker counts")
            command.add_argument("--presets", default="mp4", help="comma-separated presets")
            command.add_argument("--skip-single", action="store_true",
                                 help="do not time the single-pass run (for sources too long for one)")
    args = parser.parse_args()
    print(json.dumps(args.func(args), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
