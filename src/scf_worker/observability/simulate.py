"""Measured runs of each function on the local stack, with injected faults.

Each simulator drives the real handler (and the local worker for queued work)
against a fresh state store and folder object store, so the figures in a
report come from the same code paths production runs. Faults are injected at
the edges: tampered signatures, duplicate deliveries, a storage read that fails
once, a receiver that responds with 503 once, with 400, or slowly.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from scf_worker.app import Services, get_services
from scf_worker.runtime import samples
from scf_worker.storage.errors import StorageError

SLOW_RECEIVER_SECONDS = 0.2
# The first bytes of an MP4 file, enough for cos-callback's magic-byte check.
MP4_HEADER = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 16


@dataclass(frozen=True)
class FaultSpec:
    """Fractions of requests that get each fault, e.g. ``bad_signature=0.05,duplicate=0.1``."""

    bad_signature: float = 0.0
    duplicate: float = 0.0
    transient: float = 0.0
    permanent: float = 0.0
    slow: float = 0.0

    @classmethod
    def parse(cls, text: str) -> FaultSpec:
        names = {f.name for f in fields(cls)}
        values: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, raw = part.partition("=")
            if name not in names:
                raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(names))}")
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"fault {name} needs a fraction from 0 to 1, got {raw!r}") from None
            if not 0 <= value <= 1:
                raise ValueError(f"fault {name} needs a fraction from 0 to 1, got {raw!r}")
            values[name] = value
        return cls(**values)

    def pick(self, rng: random.Random, allowed: tuple[str, ...]) -> str | None:
        """Choose at most one fault for a request, by the configured fractions."""
        draw = rng.random()
        for name in allowed:
            share = getattr(self, name)
            if draw < share:
                return name
            draw -= share
        return None

    def describe(self) -> str:
        active = [f"{f.name}={getattr(self, f.name):g}" for f in fields(self) if getattr(self, f.name)]
        return ",".join(active) or "none"


def _jwt(secret: str, user_id: str) -> str:
    import jwt

    return jwt.encode({"sub": user_id, "exp": int(time.time()) + 600}, secret, algorithm="HS256")


def simulate_media_sign(env: dict[str, str], requests: int, faults: FaultSpec,
                        rng: random.Random) -> dict[str, int]:
    from scf_worker.handlers.media_sign import main_handler

    counts: dict[str, int] = {}
    for index in range(requests):
        fault = faults.pick(rng, ("bad_signature", "permanent"))
        token = _jwt(env["AUTH_JWT_SECRET"] + ("x" if fault == "bad_signature" else ""), f"u{index % 50}")
        mime = "application/x-msdownload" if fault == "permanent" else "video/mp4"
        body = json.dumps({"filename": f"clip{index}.mp4", "mime": mime, "size": 1000 + index})
        response = main_handler(
            samples.apigw_event("POST", "/upload/sign", body, {"authorization": f"Bearer {token}"}),
            samples.context("media-sign", 10_000),
        )
        counts[str(response["statusCode"])] = counts.get(str(response["statusCode"]), 0) + 1
    return counts


def simulate_cos_callback(env: dict[str, str], requests: int, faults: FaultSpec,
                          rng: random.Random) -> dict[str, int]:
    from scf_worker.handlers.cos_callback import main_handler
    from scf_worker.webhooks.signing import decode_secret, signature_headers

    key = decode_secret(env["CALLBACK_SHARED_SECRET"])
    from scf_worker.storage.local import LocalObjectStore

    store = get_services().store
    if not isinstance(store, LocalObjectStore):
        raise RuntimeError("the simulation needs the folder object store (STORAGE_URL=file:///...)")
    counts: dict[str, int] = {}
    sent: list[bytes] = []
    for index in range(requests):
        fault = faults.pick(rng, ("bad_signature", "duplicate"))
        if fault == "duplicate" and sent:
            body = rng.choice(sent)
        else:
            # cos-callback checks the object itself, so each callback names a stored MP4 header.
            object_key = f"uploads/u{index % 50}/{index:06d}.mp4"
            info = store.put_bytes(env["COS_BUCKET"], object_key, MP4_HEADER + index.to_bytes(4, "big"))
            body = json.dumps({"objectKey": object_key, "etag": info.etag, "bucket": env["COS_BUCKET"],
                               "size": info.size, "mime": "video/mp4"}).encode()
            sent.append(body)
        headers = signature_headers([key], f"msg_{index}", int(time.time()), body)
        if fault == "bad_signature":
            headers["webhook-signature"] = "v1," + "A" * 43 + "="
        response = main_handler(samples.apigw_event("POST", "/cos/callback", body.decode(), headers),
                                samples.context("cos-callback", 30_000))
        counts[str(response["statusCode"])] = counts.get(str(response["statusCode"]), 0) + 1
    return counts


class _FlakyStore:
    """Wrap an object store so the first download of chosen keys fails like a COS 503."""

    def __init__(self, inner: Any, flaky_keys: set[str]) -> None:
        self.inner = inner
        self.flaky_keys = set(flaky_keys)

    def download(self, bucket: str, key: str, dest: Path) -> Any:
        if key in self.flaky_keys:
            self.flaky_keys.discard(key)
            raise StorageError("injected: storage responded with 503")
        return self.inner.download(bucket, key, dest)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def simulate_transcode(env: dict[str, str], requests: int, faults: FaultSpec, rng: random.Random,
                       workdir: Path, configure: Callable[[dict[str, str]], Services]) -> dict[str, int]:
    from scf_worker.callbacks.recorder import SqlUploadRecorder, VerifiedUpload
    from scf_worker.demo.media import make_clip
    from scf_worker.jobs.worker import run_until_idle
    from scf_worker.webhooks.signing import generate_secret

    # Events go to a loopback receiver, so only transcode's own failures reach the dead letters.
    receiver = _Receiver()
    services = configure({"WEBHOOK_ENDPOINTS": json.dumps(
        [{"url": receiver.url, "secret": generate_secret()}])})
    clip = make_clip(workdir / "sim.mp4", seconds=1.0, width=160, height=90)
    junk = workdir / "junk.mp4"
    junk.write_text("not a video")
    flaky: set[str] = set()
    for index in range(requests):
        fault = faults.pick(rng, ("transient", "permanent"))
        key = f"uploads/sim/{index:05d}.mp4"
        info = services.store.upload(env["COS_BUCKET"], key, junk if fault == "permanent" else clip,
                                     "video/mp4")
        if fault == "transient":
            flaky.add(key)
        recorder = SqlUploadRecorder(services.jobs)
        recorder.record(VerifiedUpload(env["COS_BUCKET"], key, info.etag, info.size, "video/mp4"),
                        f"sim-{index}")
    services.__dict__["store"] = _FlakyStore(services.store, flaky)
    try:
        stats = run_until_idle(services, max_wait_seconds=120)
    finally:
        receiver.close()
    return {"processed": stats.by_topic.get("transcode", 0), "retried": stats.retried,
            "dead": stats.dead}


class _Receiver:
    """A loopback webhook receiver whose behaviour depends on the event's job id."""

    def __init__(self) -> None:
        self.failed_once: set[str] = set()
        # While set, every delivery gets a 503 (the dead-letter replay simulation).
        self.fail_all = False
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                job_id = json.loads(body).get("jobId", "")
                self.send_response(receiver.status_for(job_id))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def status_for(self, job_id: str) -> int:
        if self.fail_all:
            return 503
        if job_id.startswith("sim-slow"):
            time.sleep(SLOW_RECEIVER_SECONDS)
        if job_id.startswith("sim-permanent"):
            return 400
        if job_id.startswith("sim-transient"):
            with self.lock:
                if job_id not in self.failed_once:
                    self.failed_once.add(job_id)
                    return 503
        return 204

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def simulate_webhook_forward(env: dict[str, str], requests: int, faults: FaultSpec,
                             rng: random.Random,
                             configure: Callable[[dict[str, str]], Services]) -> dict[str, int]:
    from scf_worker.jobs.worker import run_until_idle
    from scf_worker.webhooks.signing import generate_secret

    receiver = _Receiver()
    try:
        services = configure({"WEBHOOK_ENDPOINTS": json.dumps(
            [{"url": receiver.url, "secret": generate_secret()}])})
        with services.db.transaction() as tx:
            for index in range(requests):
                fault = faults.pick(rng, ("transient", "permanent", "slow", "duplicate")) or "ok"
                job_id = f"sim-{fault}-{index:05d}"
                event = {"schemaVersion": 1, "event": "SCF_JOB_DONE", "jobId": job_id,
                         "type": "media.transcode", "status": "done",
                         "resource": {"bucket": env["COS_BUCKET"], "key": f"k/{index}", "mime": None},
                         "metrics": {"durationMs": 1, "attempts": 1}, "at": "2026-01-01T00:00:00Z"}
                services.jobs.enqueue(tx, "webhook-forward", event)
                if fault == "duplicate":
                    services.jobs.enqueue(tx, "webhook-forward", event)
        stats = run_until_idle(services, max_wait_seconds=120)
    finally:
        receiver.close()
    return {"processed": stats.processed, "retried": stats.retried, "dead": stats.dead}


def _media_sources(env: dict[str, str], count: int, bad: set[int], prefix: str) -> list[str]:
    """Store ``count`` small sources (MP4 headers, or text for the ``bad`` ones); return their keys."""
    from scf_worker.storage.local import LocalObjectStore

    store = get_services().store
    if not isinstance(store, LocalObjectStore):
        raise RuntimeError("the simulation needs the folder object store (STORAGE_URL=file:///...)")
    keys = []
    for index in range(count):
        key = f"{prefix}{index:05d}.mp4"
        content = b"plain text, not media" if index in bad else MP4_HEADER + index.to_bytes(4, "big")
        store.put_bytes(env["COS_BUCKET"], key, content)
        keys.append(key)
    return keys


def simulate_media_import(env: dict[str, str], requests: int, faults: FaultSpec,
                          rng: random.Random) -> dict[str, int]:
    """Import a manifest of ``requests`` rows; ``permanent`` rows name text files or missing keys."""
    from scf_worker.handlers.media_import import main_handler
    from scf_worker.storage.local import LocalObjectStore

    bad = {i for i in range(requests) if faults.pick(rng, ("permanent",))}
    keys = _media_sources(env, requests, {i for i in bad if i % 2 == 0}, "staging/sim/")
    rows = [{"source": key if not (i in bad and i % 2) else f"staging/missing/{i}.mp4", "id": f"r{i}"}
            for i, key in enumerate(keys)]
    manifest_key = "imports/manifests/sim.jsonl"
    store = get_services().store
    assert isinstance(store, LocalObjectStore)
    store.put_bytes(env["COS_BUCKET"], manifest_key,
                    "\n".join(json.dumps(row) for row in rows).encode())
    counts: dict[str, int] = {}
    for _ in range(50):  # bounded: each tick resumes from the checkpoint
        response = main_handler({"manifest": manifest_key}, samples.context("media-import", 900_000))
        imports = response.get("imports") or []
        status = imports[0].get("status") if imports and isinstance(imports[0], dict) else None
        counts["invocations"] = counts.get("invocations", 0) + 1
        if status in ("done", "failed", None):
            break
    report = store.path_of(env["COS_BUCKET"], manifest_key + ".report.jsonl")
    for line in report.read_text().splitlines() if report.exists() else []:
        row_status = json.loads(line).get("status", "unknown")
        counts[row_status] = counts.get(row_status, 0) + 1
    return counts


def simulate_reconcile(env: dict[str, str], requests: int, faults: FaultSpec,
                       rng: random.Random) -> dict[str, int]:
    """Seed ``requests`` orphan uploads (objects with no record) and run reconcile until clean."""
    from scf_worker.handlers.reconcile import main_handler

    _media_sources(env, requests, set(), "uploads/sim/")
    counts: dict[str, int] = {}
    for _ in range(3):
        result = main_handler(samples.timer_event("reconcile"), samples.context("reconcile", 300_000))
        summary = result.get("result") or {}
        for name in ("orphans", "recorded", "stuckJobs", "requeued"):
            counts[name] = counts.get(name, 0) + int(summary.get(name) or 0)
    return counts


def simulate_dlq_replay(env: dict[str, str], requests: int, faults: FaultSpec, rng: random.Random,
                        configure: Callable[[dict[str, str]], Services]) -> dict[str, int]:
    """Dead-letter ``requests`` webhook events against a failing receiver, then replay them."""
    from scf_worker.handlers.dlq_replay import main_handler
    from scf_worker.jobs.worker import run_until_idle
    from scf_worker.webhooks.signing import generate_secret

    receiver = _Receiver()
    try:
        secret = generate_secret()
        url = receiver.url
        # First every delivery fails for good (400), so each event lands in the dead letters.
        # The breaker stays closed here, so the replay measures delivery, not the breaker's wait.
        services = configure({"WEBHOOK_ENDPOINTS": json.dumps([{"url": url + "?fail", "secret": secret}]),
                              "RETRY_MAX_ATTEMPTS": "2", "WEBHOOK_BREAKER_FAILURES": "1000"})
        receiver.fail_all = True
        with services.db.transaction() as tx:
            for index in range(requests):
                event = {"schemaVersion": 1, "event": "SCF_JOB_DONE", "jobId": f"sim-replay-{index:05d}",
                         "type": "media.transcode", "status": "done",
                         "resource": {"bucket": env["COS_BUCKET"], "key": f"k/{index}", "mime": None},
                         "metrics": {"durationMs": 1, "attempts": 1}, "at": "2026-01-01T00:00:00Z"}
                services.jobs.enqueue(tx, "webhook-forward", event)
        run_until_idle(services, max_wait_seconds=60)
        receiver.fail_all = False
        configure({"DLQ_REPLAY_BUDGET": str(max(requests, 1))})
        response = main_handler(samples.timer_event("dlq-replay"), samples.context("dlq-replay", 900_000))
    finally:
        receiver.close()
    return {k: int(v) for k, v in response.items() if isinstance(v, int) and k != "code"}
