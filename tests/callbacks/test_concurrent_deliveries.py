"""8 processes deliver the same 500 uploads at once: exactly 500 records and 500 transcode jobs."""

from __future__ import annotations

import multiprocessing
import os
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from callback_helpers import MP4, Harness, callback_body, cos_record, http_event, put, signature_headers

from backends import BACKENDS, backend
from scf_worker.app import reset_services

PROCESSES = 8
UPLOADS = 500
JOIN_TIMEOUT_SECONDS = 240


def _deliver(index: int, env: dict[str, str], events: list[dict[str, Any]], kind: str,
             barrier: Any, results: Any) -> None:
    """Child process: deliver every event once, in its own shuffled order."""
    os.environ.update(env)
    reset_services()
    from scf_worker.handlers import cos_callback
    from scf_worker.runtime import samples

    order = list(range(len(events)))
    random.Random(index).shuffle(order)
    answers: Counter[str] = Counter()
    barrier.wait(timeout=60)
    for position in order:
        context = samples.context("cos-callback", time_limit_ms=30_000)
        try:
            response = cos_callback.main_handler(events[position], context)
        except Exception as exc:  # an uncaught error is what SCF would retry; count it
            answers[f"raised {type(exc).__name__}"] += 1
            continue
        if kind == "http":
            answers[str(response["statusCode"])] += 1
        else:
            answers["ok" if response["code"] == 0 else "failed"] += 1
    results.put(dict(answers))


def _run(harness: Harness, events: list[dict[str, Any]], kind: str) -> Counter[str]:
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    env = {**harness.env, "LOG_LEVEL": "WARNING"}
    reset_services()  # no connection may cross the fork
    workers = [context.Process(target=_deliver, args=(i, env, events, kind, barrier, results))
               for i in range(PROCESSES)]
    for worker in workers:
        worker.start()
    totals: Counter[str] = Counter()
    for _ in workers:
        totals.update(results.get(timeout=JOIN_TIMEOUT_SECONDS))
    for worker in workers:
        worker.join(timeout=10)
    return totals


def _uploads(harness: Harness) -> list[tuple[str, str]]:
    uploads = []
    for number in range(UPLOADS):
        key = f"uploads/u{number % 7}/批次 {number}+v.mp4"
        uploads.append((key, put(harness.root, key, MP4 + number.to_bytes(4, "big"))))
    return uploads


@pytest.fixture(params=BACKENDS)
def store_harness(request: pytest.FixtureRequest, tmp_path: Path, local_env: dict[str, str],
                  monkeypatch: pytest.MonkeyPatch) -> Any:
    with backend(request.param, tmp_path) as chosen:
        monkeypatch.setenv("STATE_URL", chosen.state_url)
        reset_services()
        yield Harness(chosen, {**local_env, "STATE_URL": chosen.state_url})
        reset_services()


def _assert_exactly_once(harness: Harness) -> None:
    records = harness.records()
    assert len(records) == UPLOADS
    assert {r["status"] for r in records} == {"recorded"}
    transcode = harness.transcode_messages()
    assert len(transcode) == UPLOADS
    assert len({m["jobId"] for m in transcode}) == UPLOADS
    assert Counter(harness.event_names()) == {"SCF_JOB_DONE": UPLOADS, "SCF_JOB_SCHEDULED": UPLOADS}


def test_same_callbacks_from_8_processes(store_harness: Harness) -> None:
    events = []
    for number, (key, etag) in enumerate(_uploads(store_harness)):
        body = callback_body(key, etag, len(MP4) + 4)
        events.append(http_event(body, signature_headers(store_harness.secret, body, msg_id=f"msg_{number}")))

    answers = _run(store_harness, events, "http")

    assert answers == {"200": PROCESSES * UPLOADS}
    _assert_exactly_once(store_harness)


def test_same_cos_events_from_8_processes(store_harness: Harness) -> None:
    from scf_worker.runtime import samples

    events = [samples.cos_event(cos_record(key, etag, len(MP4) + 4)) for key, etag in _uploads(store_harness)]

    answers = _run(store_harness, events, "cos")

    assert answers == {"ok": PROCESSES * UPLOADS}
    _assert_exactly_once(store_harness)
