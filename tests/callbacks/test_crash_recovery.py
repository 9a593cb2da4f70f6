"""A holder killed with SIGKILL mid-claim: the redelivery records once.

With an IN_PROGRESS claim (Redis, or claims kept apart from SQL records) the
redelivery waits out the lease. With claims and records in one SQL database
the claim is written inside the recording transaction, which the kill rolls
back, so the redelivery records at once.
"""

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

from backends import Clock, backend, redis_prefix
from scf_worker.app import get_services, reset_services
from scf_worker.callbacks.errors import RecordsPending

READY_TIMEOUT_SECONDS = 60
TIME_LIMIT_MS = 3000
LEASE_SECONDS = TIME_LIMIT_MS / 1000 + 30  # the function timeout plus IDEMPOTENCY_LEASE_MARGIN_SEC

# The child runs the real handler and is killed while it owns the claim, before anything
# is recorded. "head": a folder store whose HEAD announces itself and then hangs (the
# claim is IN_PROGRESS). "transaction": a recorder that hangs once the transaction has
# written the claim row, uncommitted, next to the record it is about to write.
CHILD = f"""
import json, sys, time
from scf_worker.app import get_services
from scf_worker.callbacks.recorder import SqlUploadRecorder
from scf_worker.callbacks.service import CallbackService
from scf_worker.handlers import cos_callback
from scf_worker.runtime import samples
from scf_worker.storage.local import LocalObjectStore

class HangingStore(LocalObjectStore):
    def head(self, bucket, key):
        print("holding claim", flush=True)
        time.sleep(600)

class HangingRecorder(SqlUploadRecorder):
    def write_in(self, tx, upload, reason, request_id):
        print("holding claim", flush=True)
        time.sleep(600)

event = json.loads(sys.stdin.read())
services = get_services()
if sys.argv[1] == "head":
    services.store = HangingStore(services.store.root)
else:
    services.extensions["callback"] = CallbackService(
        services.settings, HangingRecorder(services.jobs), services.store, services.idempotency,
        services.clock)
cos_callback.main_handler(event, samples.context("cos-callback", time_limit_ms={TIME_LIMIT_MS}))
"""


def _kill_while_holding(env: dict[str, str], event: dict[str, Any], hang_at: str = "head") -> None:
    child = subprocess.Popen([sys.executable, "-c", CHILD, hang_at], env={**os.environ, **env},
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


# (records, claims): the stores that take an IN_PROGRESS claim with a lease.
LEASED = [("redis", "redis"), ("sqlite", "sqlite-apart"), ("mariadb", "redis")]


@pytest.fixture(params=LEASED, ids=["redis", "sqlite+sqlite-claims", "mariadb+redis-claims"])
def crash_harness(request: pytest.FixtureRequest, tmp_path: Path, local_env: dict[str, str],
                  monkeypatch: pytest.MonkeyPatch) -> Any:
    records, claims = request.param
    with backend(records, tmp_path) as chosen, redis_prefix() as redis_url:
        env = {**local_env, "STATE_URL": chosen.state_url, "IDEMPOTENCY_WAIT_MS": "0"}
        if claims == "redis" and records != "redis":
            env["IDEMPOTENCY_URL"] = redis_url
        elif claims == "sqlite-apart":
            env["IDEMPOTENCY_URL"] = f"sqlite:///{tmp_path / 'claims.db'}"
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        reset_services()
        yield Harness(chosen, env)
        reset_services()


@pytest.fixture(params=["sqlite", "mariadb"])
def one_transaction_harness(request: pytest.FixtureRequest, tmp_path: Path, local_env: dict[str, str],
                            monkeypatch: pytest.MonkeyPatch) -> Any:
    with backend(request.param, tmp_path) as chosen:
        env = {**local_env, "STATE_URL": chosen.state_url, "IDEMPOTENCY_WAIT_MS": "0"}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("IDEMPOTENCY_URL", raising=False)
        reset_services()
        yield Harness(chosen, env)
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


def test_http_redelivery_after_lease_records_once(crash_harness: Harness) -> None:
    key = "uploads/u1/crash.mp4"
    etag = put(crash_harness.root, key, MP4)
    body = callback_body(key, etag, len(MP4))
    event = http_event(body, signature_headers(crash_harness.secret, body, msg_id="msg_crash"))

    _kill_while_holding(crash_harness.env, event)
    clock = Clock(time.time())
    _with_clock(clock)

    held = crash_harness.http(event)
    clock.advance(LEASE_SECONDS + 1)
    recovered = crash_harness.http(event)

    assert held[0] == 409
    assert held[1]["message"] == "in_progress"
    assert recovered[0] == 200
    assert recovered[1]["data"]["status"] == "recorded"
    assert len(crash_harness.records()) == 1


def _claim_rows(harness: Harness) -> list[dict[str, Any]]:
    return get_services().db.query("SELECT status, response FROM idempotency")


def test_cos_kill_inside_the_transaction_records_once(one_transaction_harness: Harness) -> None:
    from scf_worker.runtime import samples

    harness = one_transaction_harness
    key = "uploads/u1/事务 中.mp4"
    etag = put(harness.root, key, MP4)
    record = cos_record(key, etag, len(MP4))

    _kill_while_holding(harness.env, samples.cos_event(record), hang_at="transaction")
    reset_services()
    assert harness.records() == []
    assert _claim_rows(harness) == []

    recovered = harness.cos(record, time_limit_ms=TIME_LIMIT_MS)
    # Past the lease too: nothing the killed holder wrote is left to take over.
    clock = Clock(time.time())
    _with_clock(clock)
    clock.advance(LEASE_SECONDS + 1)
    again = harness.cos(record, time_limit_ms=TIME_LIMIT_MS)

    assert recovered["results"][0]["status"] == "recorded"
    assert again["results"][0]["status"] == "duplicate"
    assert len(harness.records()) == 1
    assert len(harness.transcode_messages()) == 1
    assert [row["status"] for row in _claim_rows(harness)] == ["completed"]


def test_http_kill_inside_the_transaction_records_once(one_transaction_harness: Harness) -> None:
    harness = one_transaction_harness
    key = "uploads/u1/crash-in-transaction.mp4"
    etag = put(harness.root, key, MP4)
    body = callback_body(key, etag, len(MP4))
    event = http_event(body, signature_headers(harness.secret, body, msg_id="msg_crash_tx"))

    _kill_while_holding(harness.env, event, hang_at="transaction")
    reset_services()

    recovered = harness.http(event)
    again = harness.http(event)

    assert recovered[0] == 200
    assert recovered[1]["data"]["status"] == "recorded"
    assert again == recovered
    assert len(harness.records()) == 1
    assert len(harness.transcode_messages()) == 1
