"""``scf-worker dev`` end to end: an upload through the gateway reaches the webhook receiver,
then Ctrl-C stops every part and leaves no process behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from scf_worker.storage.local import LocalObjectStore
from scf_worker.uploads.client import cos_client, upload_with_grant
from scf_worker.webhooks.signing import decode_secret, signature_headers
from tests.deploy.conftest import REPO_ROOT

WAIT_SECONDS = 90


class Lines:
    """Collect a stream's lines on a thread; wait for one that matches, with a deadline."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for(self, predicate: Any, timeout: float = WAIT_SECONDS) -> str:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if predicate(line):
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("no matching line; last lines:\n" + "\n".join(self.lines[-20:]))
                self._changed.wait(remaining)


def json_lines(lines: list[str]) -> list[dict[str, Any]]:
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return parsed


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.slow
def test_dev_stack_upload_flows_to_webhook_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    from scf_worker.demo.media import make_clip

    workdir = tmp_path / "dev"
    process = subprocess.Popen(
        [sys.executable, "-m", "scf_worker", "dev", "--port", "0", "--workdir", str(workdir),
         "--root", str(REPO_ROOT), "--poll-seconds", "0.1", "--no-timers", "--lang", "en"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "RETRY_BASE_MS": "50"})
    out, err = Lines(process.stdout), Lines(process.stderr)
    try:
        out.wait_for(lambda line: line.startswith("Dev stack up"))
        info = json.loads((workdir / "dev.json").read_text())
        assert (workdir / "dev.json").stat().st_mode & 0o077 == 0
        clip = make_clip(tmp_path / "clip.mp4", seconds=1.0, width=320, height=240)

        status, signed = post(f"{info['gateway']}/upload/sign",
                              json.dumps({"filename": "clip.mp4", "mime": "video/mp4",
                                          "size": clip.stat().st_size}).encode(),
                              {"Authorization": f"Bearer {info['devToken']}",
                               "Content-Type": "application/json"})
        assert status == 200, signed
        grant = signed["data"]
        endpoint = urlsplit(info["cosEndpoint"])
        client = cos_client(grant, ip=endpoint.hostname, port=endpoint.port, scheme="http")
        upload_with_grant(client, grant, clip)
        stored = LocalObjectStore(Path(info["storeRoot"])).head(grant["bucket"], grant["key"])
        assert stored is not None

        err.wait_for(lambda line: '"cos_event_emitted"' in line and grant["key"] in line)
        done = err.wait_for(lambda line: '"webhook_received"' in line and '"SCF_JOB_DONE"' in line
                            and '"media.transcode"' in line)
        assert json.loads(done)["verified"] == 1

        callback = json.dumps({"objectKey": grant["key"], "etag": stored.etag, "bucket": grant["bucket"],
                               "size": stored.size, "mime": grant["mime"]}).encode()
        headers = signature_headers([decode_secret(info["callbackSecret"])], "msg_dev_1", int(time.time()),
                                    callback)
        status, recorded = post(f"{info['gateway']}/cos/callback", callback,
                                {**headers, "Content-Type": "application/json"})
        assert status == 200 and recorded["data"]["status"] == "duplicate"

        with urllib.request.urlopen(f"{info['gateway']}/metrics", timeout=10) as response:
            exposition = response.read().decode()
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert 'scf_worker_invocations_total{function="media-sign",outcome="ok"}' in exposition
        assert 'scf_worker_invocation_duration_ms_count{function="transcode"}' in exposition
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)

    assert code == 0
    out.wait_for(lambda line: line == "Dev stack stopped", timeout=5)
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)
    gateway_port = int(info["gateway"].rsplit(":", 1)[1])
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", gateway_port), timeout=1):
        pass
    logged = json_lines(err.lines)
    assert not [line for line in logged if line["level"] in ("ERROR", "CRITICAL")]
    secrets = (info["jwtSecret"], info["callbackSecret"], info["receiverSecret"], info["devToken"],
               grant["credentials"]["tmpSecretKey"], grant["credentials"]["sessionToken"])
    assert not any(secret in "\n".join(err.lines + out.lines) for secret in secrets)
