"""The whole pipeline in one process on the embedded defaults.

credential (media-sign) → upload with the official COS SDK through the loopback
COS endpoint, which verifies the signature and the issued policy before writing
into the folder store → object-created event
delivered twice (cos-callback) → transcode job (worker) → signed webhooks to a
receiver on 127.0.0.1 that verifies each one.
"""

from __future__ import annotations

import json
import mimetypes
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scf_worker.app import Services, get_services, reset_services
from scf_worker.demo.receiver import WebhookReceiver
from scf_worker.jobs.worker import run_until_idle
from scf_worker.runtime import samples
from scf_worker.storage.base import ObjectInfo
from scf_worker.transcode.binaries import find_ffmpeg, find_ffprobe
from scf_worker.transcode.probe import probe
from scf_worker.webhooks.signing import generate_secret

DEMO_BUCKET = "media-1250000000"
DEMO_USER = "demo-user"
# Output kinds that are media files ffprobe can read; the others (playlists, WebVTT) are text.
PROBED_KINDS = ("video", "audio", "thumbnail", "sprite", "image")
EVENT_DELIVERIES = 2  # COS may deliver an event more than once; the demo always does.


@dataclass
class DemoReport:
    source: str
    workdir: str = ""
    steps: list[dict[str, Any]] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    webhooks: dict[str, Any] = field(default_factory=dict)
    callbacks: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.jobs) and all(j["status"] == "done" for j in self.jobs)

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "source": self.source, "workdir": self.workdir,
                "steps": self.steps, "jobs": self.jobs,
                "outputs": self.outputs, "webhooks": self.webhooks, "callbacks": self.callbacks,
                "error": self.error}


# Settings a caller's shell may carry that would change a local run. An STS key would even send
# requests to Tencent Cloud, so local runs unset these and set only what they need.
ISOLATED_PREFIXES = ("SIGN_EXPIRE_SEC", "MAX_UPLOAD_BYTES", "AUTH_", "STS_", "COS_", "CALLBACK_",
                     "WEBHOOK_", "STATE_URL", "IDEMPOTENCY_URL", "QUEUE_URL", "STORAGE_URL",
                     "OUTPUT_PREFIX", "CORS_", "UPLOAD_", "LOG_EVENTS", "LOG_DEBUG_SAMPLE_PERCENT")


@contextmanager
def local_environment(values: dict[str, str]) -> Iterator[None]:
    """Apply ``values`` for the duration of a local run, unsetting inherited product settings."""
    inherited = [name for name in os.environ if name.startswith(ISOLATED_PREFIXES)]
    saved = {name: os.environ.get(name) for name in [*values, *inherited]}
    for name in inherited:
        os.environ.pop(name, None)
    os.environ.update(values)
    reset_services()
    try:
        yield
    finally:
        reset_services()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _token(secret: str, user_id: str) -> str:
    import jwt

    return jwt.encode({"sub": user_id, "exp": int(time.time()) + 300}, secret, algorithm="HS256")


class _Steps:
    def __init__(self, report: DemoReport) -> None:
        self.report = report

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        yield
        self.report.steps.append({"name": name,
                                  "durationMs": int((time.monotonic() - started) * 1000)})


def run_demo(media_file: Path | None, workdir: Path | None = None,
             log_level: str = "INFO") -> DemoReport:
    """Run the pipeline once and return a report of each step, also when a step failed."""
    workdir = Path(workdir or tempfile.mkdtemp(prefix="scf-worker-demo-")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    report = DemoReport(source=str(media_file) if media_file else "generated", workdir=str(workdir))
    steps = _Steps(report)

    if media_file is None:
        from scf_worker.demo.media import make_clip

        with steps.step("generate_clip"):
            media_file = make_clip(workdir / "sample.mp4")
    callback_secret = generate_secret()
    receiver_secret = generate_secret()

    with WebhookReceiver(receiver_secret) as receiver:
        env = {
            "WORKER_HOME": str(workdir),
            "STATE_URL": f"sqlite:///{workdir / 'state.db'}",
            "STORAGE_URL": f"file://{workdir / 'cos'}",
            "COS_BUCKET": DEMO_BUCKET,
            "AUTH_JWT_SECRET": secrets.token_urlsafe(32),
            "CALLBACK_SHARED_SECRET": callback_secret,
            "WEBHOOK_ENDPOINTS": json.dumps([{"url": receiver.url, "secret": receiver_secret}]),
            "WEBHOOK_ALLOW_LOOPBACK": "true",
            "RETRY_BASE_MS": "200",
            "LOG_LEVEL": log_level,
        }
        with local_environment(env):
            try:
                _run_steps(steps, report, Path(media_file), env)
            except Exception as exc:  # noqa: BLE001 (the report carries the failure)
                report.error = f"{type(exc).__name__}: {exc}"
            _collect(report, workdir)
        verified = [w for w in receiver.received if w.verified]
        report.webhooks = {
            "received": len(receiver.received),
            "verified": len(verified),
            "uniqueIds": len(receiver.seen_ids),
            "events": [f"{w.event['event']} {w.event['type']}" for w in verified if w.event],
        }
    return report


def _run_steps(steps: _Steps, report: DemoReport, media_file: Path, env: dict[str, str]) -> None:
    from scf_worker.handlers import cos_callback, media_sign

    mime = mimetypes.guess_type(media_file.name)[0] or "application/octet-stream"
    size = media_file.stat().st_size
    with steps.step("media_sign"):
        body = json.dumps({"filename": media_file.name, "mime": mime, "size": size})
        headers = {"authorization": f"Bearer {_token(env['AUTH_JWT_SECRET'], DEMO_USER)}"}
        response = media_sign.main_handler(
            samples.apigw_event("POST", "/upload/sign", body, headers),
            samples.context("media-sign"),
        )
        payload = json.loads(response["body"])
        if response["statusCode"] != 200:
            detail = f": {payload['detail']}" if payload.get("detail") else ""
            raise RuntimeError(f"media-sign rejected {media_file.name} ({mime}, {size} bytes) with "
                               f"{response['statusCode']} {payload['message']}{detail}")
        grant = payload["data"]

    services = get_services()
    with steps.step("upload"):
        info = _upload_through_endpoint(services, grant, media_file)

    with steps.step("cos_callback"):
        record = samples.cos_record(grant["bucket"], grant["key"], info.size, info.etag,
                                    content_type=grant["mime"])
        for _ in range(EVENT_DELIVERIES):
            result = cos_callback.main_handler(samples.cos_event(record),
                                               samples.context("cos-callback"))
            report.callbacks.extend(r["status"] for r in result["results"])

    with steps.step("worker"):
        run_until_idle(services, max_wait_seconds=60)


def _upload_through_endpoint(services: Services, grant: dict[str, Any], media_file: Path) -> ObjectInfo:
    """Upload as a client would: the official SDK, the issued credentials, a verifying endpoint."""
    from scf_worker.storage.local import LocalObjectStore
    from scf_worker.uploads.client import cos_client, upload_with_grant
    from scf_worker.uploads.cos_endpoint import CosEndpoint
    from scf_worker.uploads.grants import SqlGrantStore

    store = services.store
    if not isinstance(store, LocalObjectStore):
        raise RuntimeError("the demo needs the folder object store (STORAGE_URL=file:///...)")
    buckets = {grant["bucket"]: grant["region"]}
    with CosEndpoint(store, SqlGrantStore(services.db), buckets) as endpoint:
        client = cos_client(grant, ip=endpoint.host, port=endpoint.port, scheme="http")
        upload_with_grant(client, grant, media_file)
    info = store.head(grant["bucket"], grant["key"])
    if info is None:
        raise RuntimeError(f"object {grant['key']} is missing after the upload")
    return info


def _collect(report: DemoReport, workdir: Path) -> None:
    services = get_services()
    report.jobs = [{"id": j.id, "type": j.type, "status": j.status, "attempts": j.attempts,
                    **({"error": j.error} if j.error else {})}
                   for j in services.jobs.list_jobs()]
    ffprobe = find_ffprobe(services.settings.ffprobe_binary, find_ffmpeg(services.settings.ffmpeg_binary))
    for job in services.jobs.list_jobs():
        for output in (job.result or {}).get("outputs", []):
            path = workdir / "cos" / job.resource.bucket / output["key"]
            if output["kind"] not in PROBED_KINDS:
                # Playlists and WebVTT are text; their entry already carries size and duration.
                report.outputs.append({
                    "path": str(path), "kind": output["kind"], "width": output.get("width", 0),
                    "height": output.get("height", 0),
                    "durationSeconds": output.get("duration_seconds", 0.0), "codec": None,
                    "pixFmt": None, "jobId": job.id,
                })
                continue
            info = probe(path, ffprobe)
            report.outputs.append({
                "path": str(path), "kind": output["kind"], "width": info.width,
                "height": info.height, "durationSeconds": round(info.duration_seconds, 3),
                "codec": info.video_codec or info.audio_codec, "pixFmt": info.pix_fmt, "jobId": job.id,
            })
