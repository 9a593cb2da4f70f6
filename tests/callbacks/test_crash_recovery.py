"""A holder killed with SIGKILL mid-claim: the redelivery waits out the lease, then records once."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from callback_helpers import MP4, Harness, callback_body, cos_record, http_event, put, signature_headers

from backends import BACKENDS, Clock, backend
from scf_worker.app import get_services, reset_services
from scf_worker.callbacks.errors import RecordsPending

READY_TIMEOUT_SECONDS = 60
TIME_LIMIT_MS = 3000
LEASE_SECONDS = TIME_LIMIT_MS / 1000 + 30  # the function timeout plus IDEMPOTENCY_LEASE_MARGIN_SEC

# The child runs the real handler on a folder store whose HEAD announces itself and then
# hangs, so the child is killed while it holds the claim and before it records anything.
CHILD = f"""
import json, sys, time
from scf_worker.app import get_services
from scf_worker.handlers import cos_callback
from scf_worker.runtime import samples
from scf_worker.storage.local import LocalObjectStore

class HangingStore(LocalObjectStore):
    def head(self, bucket, key):
        print("holding claim", flush=True)
        time.sleep(600)

event = json.loads(sys.stdin.read())
services = get_services()
services.store = HangingStore(services.store.root)
cos_callback.main_handler(event, samples.context("cos-callback", time_limit_ms={TIME_LIMIT_MS}))
"""


def _kill_while_holding(env: dict[str, str], event: dict[str, Any]) -> None:
    child = subprocess.Popen([sys.executable, "-c", CHILD], env={**os.environ, **env},
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(json.dumps(event).encode())
        child.stdin.close()
        ready, _, _ = select.select([child.stdout], [], [], READY_TIMEOUT_SECONDS)
        assert ready, "the child never reached the HEAD"
        assert child.stdout.readline().strip() == b"holding claim"
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def _with_clock(clock: Clock) -> None:
    reset_services()
    get_services().clock = clock


@pytest.fixture(params=BACKENDS)
def crash_harness(request: pytest.FixtureRequest, tmp_path: Path, local_env: dict[str, str],
                  monkeypatch: pytest.MonkeyPatch) -> Any:
    with backend(request.param, tmp_path) as chosen:
        monkeypatch.setenv("STATE_URL", chosen.state_url)
        monkeypatch.setenv("IDEMPOTENCY_WAIT_MS", "0")
        reset_services()
        yield Harness(chosen, {**local_env, "STATE_URL": chosen.state_url, "IDEMPOTENCY_WAIT_MS": "0"})
        reset_services()


def test_cos_redelivery_after_lease_records_once(crash_harness: Harness) -> None:
    key = "uploads/u1/崩溃 后.mp4"
    etag = put(crash_harness.root, key, MP4)
    record = cos_record(key, etag, len(MP4))
    from scf_worker.runtime import samples

    _kill_while_holding(crash_harness.env, samples.cos_event(record))
    clock = Clock(time.time())
    _with_clock(clock)

    with pytest.raises(RecordsPending):
        crash_harness.cos(record, time_limit_ms=TIME_LIMIT_MS)
    assert crash_harness.records() == []

    clock.advance(LEASE_SECONDS + 1)
    recovered = crash_harness.cos(record, time_limit_ms=TIME_LIMIT_MS)
    again = crash_harness.cos(record, time_limit_ms=TIME_LIMIT_MS)

    assert recovered["results"][0]["status"] == "recorded"
    assert again["results"][0]["status"] == "duplicate"
    assert len(crash_harness.records()) == 1
    assert len(crash_harness.transcode_messages()) == 1


def test_http_redelivery_after_lease_records_once(sqlite_harness: Harness,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDEMPOTENCY_WAIT_MS", "0")
    key = "uploads/u1/crash.mp4"
    etag = put(sqlite_harness.root, key, MP4)
    body = callback_body(key, etag, len(MP4))
    event = http_event(body, signature_headers(sqlite_harness.secret, body, msg_id="msg_crash"))

    _kill_while_holding({**sqlite_harness.env, "IDEMPOTENCY_WAIT_MS": "0"}, event)
    clock = Clock(time.time())
    _with_clock(clock)

    held = sqlite_harness.http(event)
    clock.advance(LEASE_SECONDS + 1)
    recovered = sqlite_harness.http(event)

    assert held[0] == 409
    assert held[1]["message"] == "in_progress"
    assert recovered[0] == 200
    assert recovered[1]["data"]["status"] == "recorded"
    assert len(sqlite_harness.records()) == 1
