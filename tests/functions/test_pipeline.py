"""Webhook delivery through the worker, the demo end to end, and the secret scan."""

import json
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import pytest
import standardwebhooks

from scf_worker.app import reset_services
from scf_worker.demo.receiver import WebhookReceiver
from scf_worker.handlers import cos_callback, media_sign, webhook_forward
from scf_worker.jobs.worker import run_until_idle
from scf_worker.runtime import samples
from scf_worker.webhooks.signing import generate_secret

from .helpers import callback_event, response_body, sign_event


def _configure_endpoint(monkeypatch, url, secret):
    monkeypatch.setenv("WEBHOOK_ENDPOINTS", json.dumps([{"url": url, "secret": secret}]))
    reset_services()


def _event(job_id="job-1"):
    return {"schemaVersion": 1, "event": "SCF_JOB_DONE", "jobId": job_id, "type": "media.upload",
            "status": "done", "resource": {"bucket": "b", "key": "k", "mime": "video/mp4"},
            "metrics": {"durationMs": 1, "attempts": 1}, "at": "2026-01-01T00:00:00Z"}


def test_webhook_forward_delivers_signed_event(local_env, monkeypatch):
    secret = generate_secret()
    with WebhookReceiver(secret) as receiver:
        _configure_endpoint(monkeypatch, receiver.url, secret)
        result = webhook_forward.main_handler(_event(), samples.context("webhook-forward"))
        assert result["results"][0]["status"] == "done"
        assert len(receiver.received) == 1
        delivery = receiver.received[0]
        assert delivery.verified
        # The reference library agrees with our signer.
        standardwebhooks.Webhook(secret).verify(delivery.body, delivery.headers)


def test_webhook_forward_sends_each_event_once(local_env, monkeypatch):
    secret = generate_secret()
    with WebhookReceiver(secret) as receiver:
        _configure_endpoint(monkeypatch, receiver.url, secret)
        for _ in range(2):
            webhook_forward.main_handler(_event(), samples.context("webhook-forward"))
        assert len(receiver.received) == 1


class _FlakyHandler(BaseHTTPRequestHandler):
    failures_left = 1
    statuses: list[int] = []  # noqa: RUF012 (reset by each test)

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        cls = type(self)
        status = 503 if cls.failures_left > 0 else 200
        cls.failures_left -= 1
        cls.statuses.append(status)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        return


def test_transient_failure_is_retried_by_the_worker(local_env, monkeypatch, services):
    _FlakyHandler.failures_left, _FlakyHandler.statuses = 1, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FlakyHandler)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        _configure_endpoint(monkeypatch, f"http://127.0.0.1:{server.server_address[1]}/h",
                            generate_secret())
        from scf_worker.app import get_services

        services = get_services()
        with services.db.transaction() as tx:
            services.jobs.enqueue(tx, "webhook-forward", _event())
        stats = run_until_idle(services, max_wait_seconds=5, sleep=lambda s: None)
    finally:
        server.shutdown()
        server.server_close()
    assert _FlakyHandler.statuses == [503, 200]
    assert stats.retried == 1
    assert stats.done == 1
    assert services.db.query("SELECT * FROM scf_dlq") == []


def test_secrets_never_reach_logs(local_env, monkeypatch, logs, services):
    webhook_secret = generate_secret()
    with WebhookReceiver(webhook_secret) as receiver:
        _configure_endpoint(monkeypatch, receiver.url, webhook_secret)
        from scf_worker.app import get_services

        services = get_services()
        sign = media_sign.main_handler(sign_event(local_env, {"filename": "a.mp4", "mime": "video/mp4",
                                                              "size": 10}), samples.context("s"))
        credentials = response_body(sign)["data"]["credentials"]
        from .test_handlers import MP4_BYTES, MP4_ETAG

        services.store.put_bytes("media-1250000000", "uploads/u1/a.mp4", MP4_BYTES)
        cos_callback.main_handler(callback_event(local_env, {
            "objectKey": "uploads/u1/a.mp4", "etag": MP4_ETAG, "bucket": "media-1250000000",
            "size": len(MP4_BYTES),
            "mime": "video/mp4"}), samples.context("c"))
        cos_callback.main_handler(callback_event(local_env, {"objectKey": "x"}, tamper=True),
                                  samples.context("c"))
        webhook_forward.main_handler(_event(), samples.context("w"))
    text = logs.text
    assert logs.lines(), "expected captured log lines"
    forbidden = [local_env["AUTH_JWT_SECRET"], local_env["CALLBACK_SHARED_SECRET"], webhook_secret,
                 *credentials.values()]
    for value in forbidden:
        assert value not in text
    assert "webhook-signature" not in text.lower()
    assert "v1," not in text


@pytest.mark.slow
def test_demo_end_to_end_json(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "scf_worker", "demo", "--workdir", str(tmp_path), "--json"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    report = json.loads(completed.stdout)

    types = sorted(job["type"] for job in report["jobs"])
    assert types == ["media.transcode", "media.upload"]
    assert all(job["status"] == "done" for job in report["jobs"])
    assert report["callbacks"] == ["recorded", "duplicate"]

    video = next(o for o in report["outputs"] if o["kind"] == "video")
    thumbnail = next(o for o in report["outputs"] if o["kind"] == "thumbnail")
    assert video["codec"] == "h264"
    assert video["pixFmt"] == "yuv420p"
    assert video["width"] % 2 == 0
    assert video["height"] % 2 == 0
    assert abs(video["durationSeconds"] - 3.0) <= 0.5
    assert Path(thumbnail["path"]).read_bytes()[:3] == b"\xff\xd8\xff"
    assert report["webhooks"]["verified"] >= 2
    assert report["webhooks"]["verified"] == report["webhooks"]["received"]


@pytest.mark.slow
def test_demo_with_non_media_file_exits_non_zero(tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video")
    completed = subprocess.run(
        [sys.executable, "-m", "scf_worker", "demo", str(fake), "--workdir", str(tmp_path / "w"),
         "--json"], capture_output=True, text=True, timeout=300, check=False,
    )
    assert completed.returncode == 1
    report = json.loads(completed.stdout)
    # The after-upload check sees no video magic bytes: the upload is rejected, nothing runs.
    assert report["callbacks"][0] == "rejected"
    assert not any(job["type"] == "media.transcode" for job in report["jobs"])


def test_every_function_keeps_secrets_out_of_logs(local_env, monkeypatch, logs, tmp_path):
    """Drive each function with every secret configured; no secret or signed query is logged."""
    from scf_worker.app import get_services
    from scf_worker.functions import FUNCTIONS
    from scf_worker.handlers import dlq_replay, media_import, reconcile, transcode
    from scf_worker.state.sql import open_database
    from scf_worker.uploads.grants import SqlGrantStore
    from scf_worker.uploads.sts_local import CallerKey, LocalSts

    webhook_secret = generate_secret()
    sts_id, sts_key = "AKIDsecretscan000000000000000001", "sts-secret-key-" + "k" * 24
    grants = SqlGrantStore(open_database(local_env["STATE_URL"]))
    with LocalSts({sts_id: CallerKey(sts_key)}, grants) as sts, WebhookReceiver(webhook_secret) as receiver:
        # media-sign calls STS for real, through the official SDK, at a loopback stand-in.
        monkeypatch.setenv("STS_SECRET_ID", sts_id)
        monkeypatch.setenv("STS_SECRET_KEY", sts_key)
        monkeypatch.setenv("STS_ENDPOINT", sts.endpoint)
        _configure_endpoint(monkeypatch, receiver.url, webhook_secret)
        services = get_services()
        sign = media_sign.main_handler(sign_event(local_env, {"filename": "a.mp4", "mime": "video/mp4",
                                                              "size": 10}), samples.context("s"))
        credentials = response_body(sign)["data"]["credentials"]
        from .test_handlers import MP4_BYTES, MP4_ETAG

        services.store.put_bytes("media-1250000000", "uploads/u1/a.mp4", MP4_BYTES)
        cos_callback.main_handler(callback_event(local_env, {
            "objectKey": "uploads/u1/a.mp4", "etag": MP4_ETAG, "bucket": "media-1250000000",
            "size": len(MP4_BYTES), "mime": "video/mp4"}), samples.context("c"))
        transcode.main_handler({"jobId": "missing"}, samples.context("transcode", 60_000))
        webhook_forward.main_handler(_event(), samples.context("w"))
        media_import.main_handler({"manifest": "imports/manifests/none.jsonl"},
                                  samples.context("media-import", 60_000))
        reconcile.main_handler(samples.timer_event("reconcile"), samples.context("reconcile", 60_000))
        dlq_replay.main_handler(samples.timer_event("dlq-replay"), samples.context("dlq-replay", 60_000))

    functions = {line.get("function") for line in logs.lines()}
    assert set(FUNCTIONS) <= functions
    text = logs.text
    for value in (local_env["AUTH_JWT_SECRET"], local_env["CALLBACK_SHARED_SECRET"], webhook_secret,
                  sts_key, *credentials.values()):
        assert value not in text
    for marker in ("q-signature=", "x-cos-security-token=", "webhook-signature", "v1,", "Bearer "):
        assert marker not in text
