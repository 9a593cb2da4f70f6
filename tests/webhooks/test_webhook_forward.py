"""webhook-forward end to end: loopback receivers, the queue worker and an injected clock."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest
import standardwebhooks
from webhook_support import FakeClock, Receiver, Reply, Stack, emit, reference_verify, sample_event

from scf_worker.handlers import webhook_forward
from scf_worker.jobs.worker import run_until_idle
from scf_worker.observability.logging import LOGGER_NAME
from scf_worker.retry.policy import PermanentError, TransientError
from scf_worker.runtime import samples
from scf_worker.webhooks import verify
from scf_worker.webhooks.deliveries import DeliveryLog
from scf_worker.webhooks.signing import generate_secret


def run_worker(stack: Stack, clock: FakeClock) -> None:
    run_until_idle(stack.services, max_wait_seconds=3600, sleep=clock.sleep)


def outcomes(stack: Stack) -> list[str]:
    rows = stack.services.db.query("SELECT outcome FROM webhook_deliveries ORDER BY id")
    return [row["outcome"] for row in rows]


def test_retry_keeps_id_body_and_refreshes_signature(make_stack: Callable[..., Stack], receiver: Receiver,
                                                     clock: FakeClock) -> None:
    receiver.script = [Reply(500), Reply(503), Reply(200)]
    stack = make_stack([receiver.url()], {"RETRY_BASE_MS": "2000"})

    emit(stack.services, sample_event())
    run_worker(stack, clock)

    requests = receiver.requests
    assert len(requests) == 3
    assert len({r.webhook_id for r in requests}) == 1
    assert len({r.body_sha256 for r in requests}) == 1
    assert requests[0].timestamp < requests[1].timestamp < requests[2].timestamp
    for received in requests:
        reference_verify(stack.secret, received, received.received_at)
    assert receiver.processed_ids == [requests[0].webhook_id]
    assert outcomes(stack) == ["failed", "failed", "delivered"]
    assert stack.services.db.query("SELECT * FROM scf_dlq ORDER BY id") == []


def test_delivered_event_is_not_sent_again(make_stack: Callable[..., Stack], receiver: Receiver) -> None:
    stack = make_stack([receiver.url()])
    event = sample_event()

    first = stack.forwarder.forward(event)
    second = stack.forwarder.forward(event)

    assert first == {"delivered": 1, "skipped": 0, "endpoints": 1}
    assert second == {"delivered": 0, "skipped": 1, "endpoints": 1}
    assert len(receiver.requests) == 1


def test_attempts_stored_with_numbers_and_status(make_stack: Callable[..., Stack], receiver: Receiver,
                                                 clock: FakeClock) -> None:
    receiver.script = [Reply(502, body=b"upstream down"), Reply(200, body=b'{"ok":true}')]
    stack = make_stack([receiver.url()])

    emit(stack.services, sample_event())
    run_worker(stack, clock)

    rows = list(reversed(DeliveryLog(stack.services.db).recent()))
    assert [r["attempt"] for r in rows] == [1, 2]
    assert [r["status"] for r in rows] == [502, 200]
    assert [r["response_head"] for r in rows] == ["upstream down", '{"ok":true}']
    assert all(r["latency_ms"] is not None and r["latency_ms"] >= 0 for r in rows)
    assert rows[0]["code"] == "http_502"
    assert rows[0]["signed_at"] == receiver.requests[0].timestamp


def test_always_failing_dead_letters_then_replay_verifies(make_stack: Callable[..., Stack],
                                                          receiver: Receiver, clock: FakeClock) -> None:
    receiver.default = Reply(500)
    stack = make_stack([receiver.url()], {"RETRY_MAX_ATTEMPTS": "3"})

    emit(stack.services, sample_event())
    run_worker(stack, clock)

    assert len(receiver.requests) == 3
    dead = stack.services.db.query("SELECT * FROM scf_dlq ORDER BY id")
    assert len(dead) == 1
    assert dead[0]["function"] == "webhook-forward"
    assert dead[0]["attempts"] == 3

    clock.advance(86_400)
    receiver.default = Reply(200)
    response = webhook_forward.main_handler(json.loads(dead[0]["payload"]),
                                            samples.context("webhook-forward"))

    assert response["results"][0]["status"] == "done"
    replayed = receiver.requests[-1]
    assert len(receiver.requests) == 4
    assert replayed.webhook_id == receiver.requests[0].webhook_id
    assert replayed.body == receiver.requests[0].body
    assert replayed.timestamp - receiver.requests[0].timestamp >= 86_400
    verified = verify(replayed.headers, replayed.body, stack.secret, tolerance_seconds=300, now=clock())
    assert verified.id == replayed.webhook_id
    reference_verify(stack.secret, replayed, clock())


def test_slow_receiver_retry_keeps_id(make_stack: Callable[..., Stack], receiver: Receiver,
                                      clock: FakeClock) -> None:
    receiver.script = [Reply(200, hold=True), Reply(200)]
    stack = make_stack([receiver.url()], {"WEBHOOK_TIMEOUT_MS": "200"})

    emit(stack.services, sample_event())
    run_worker(stack, clock)

    assert len(receiver.requests) == 2
    assert receiver.requests[0].webhook_id == receiver.requests[1].webhook_id
    assert outcomes(stack) == ["timeout", "delivered"]


def test_retry_after_is_honoured(make_stack: Callable[..., Stack], receiver: Receiver,
                                 clock: FakeClock) -> None:
    receiver.script = [Reply(429, headers={"Retry-After": "120"}), Reply(200)]
    stack = make_stack([receiver.url()])

    emit(stack.services, sample_event())
    run_worker(stack, clock)

    assert len(receiver.requests) == 2
    assert receiver.requests[1].received_at - receiver.requests[0].received_at >= 120


def test_retry_after_http_date(make_stack: Callable[..., Stack], receiver: Receiver,
                               clock: FakeClock) -> None:
    from email.utils import formatdate

    receiver.script = [Reply(503, headers={"Retry-After": formatdate(clock() + 90, usegmt=True)})]
    stack = make_stack([receiver.url()])

    with pytest.raises(TransientError) as caught:
        stack.forwarder.forward(sample_event())

    assert caught.value.retry_after_ms is not None
    assert 89_000 <= caught.value.retry_after_ms <= 90_000


def test_gone_disables_endpoint(make_stack: Callable[..., Stack], receiver: Receiver, logs) -> None:  # type: ignore[no-untyped-def]
    receiver.script = [Reply(410)]
    stack = make_stack([receiver.url()])

    with pytest.raises(PermanentError) as caught:
        stack.forwarder.forward(sample_event("job-a"))
    assert caught.value.code == "http_410"
    with pytest.raises(PermanentError) as skipped:
        stack.forwarder.forward(sample_event("job-b"))

    assert skipped.value.code == "endpoint_disabled"
    assert len(receiver.requests) == 1
    disabled = logs.events("webhook_endpoint_disabled")
    assert [line["level"] for line in disabled] == ["ERROR"]
    assert disabled[0]["reason"] == "http_410"


def test_rejected_status_is_permanent(make_stack: Callable[..., Stack], receiver: Receiver) -> None:
    receiver.script = [Reply(400)]
    stack = make_stack([receiver.url()])

    with pytest.raises(PermanentError) as caught:
        stack.forwarder.forward(sample_event())

    assert caught.value.code == "http_400"


def test_partial_success_resends_only_failed(make_stack: Callable[..., Stack],
                                             receivers: Callable[..., Receiver]) -> None:
    good, flaky = receivers(), receivers()
    flaky.script = [Reply(503)]
    stack = make_stack([good.url(), flaky.url()])
    event = sample_event()

    with pytest.raises(TransientError):
        stack.forwarder.forward(event)
    result = stack.forwarder.forward(event)

    assert result == {"delivered": 1, "skipped": 1, "endpoints": 2}
    assert len(good.requests) == 1
    assert len(flaky.requests) == 2
    assert good.requests[0].webhook_id != flaky.requests[0].webhook_id


def test_rotation_sends_signature_per_secret(make_stack: Callable[..., Stack], receiver: Receiver) -> None:
    old, new = generate_secret(), generate_secret()
    stack = make_stack([receiver.url()], secret=[old, new])

    stack.forwarder.forward(sample_event())

    received = receiver.requests[0]
    assert len(received.headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        standardwebhooks.Webhook(secret).verify(received.body, received.headers)


def test_event_filter(make_stack: Callable[..., Stack], receiver: Receiver) -> None:
    stack = make_stack([receiver.url()], endpoint_extra={"events": ["SCF_JOB_FAILED"]})

    result = stack.forwarder.forward(sample_event())

    assert result["endpoints"] == 0
    assert receiver.requests == []


def test_payload_cap(make_stack: Callable[..., Stack], receiver: Receiver) -> None:
    stack = make_stack([receiver.url()], {"WEBHOOK_MAX_PAYLOAD_BYTES": "1024"})

    with pytest.raises(PermanentError) as caught:
        stack.forwarder.forward(sample_event(data={"blob": "x" * 2000}))

    assert caught.value.code == "payload_too_large"
    assert "WEBHOOK_MAX_PAYLOAD_BYTES" in str(caught.value)
    assert receiver.requests == []


def test_invalid_event_is_permanent(make_stack: Callable[..., Stack], receiver: Receiver) -> None:
    stack = make_stack([receiver.url()])

    with pytest.raises(PermanentError) as caught:
        stack.forwarder.forward({"event": "SOMETHING", "jobId": "x"})

    assert caught.value.code == "invalid_event"


def test_response_head_capped_and_scrubbed(make_stack: Callable[..., Stack], receiver: Receiver,
                                           logs) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack([receiver.url()])
    event = sample_event()
    # A first attempt at the same timestamp gives the signature the second one will carry,
    # so the receiver's scripted body can echo it back.
    receiver.script = [Reply(503)]
    with pytest.raises(TransientError):
        stack.forwarder.forward(event)
    signature = receiver.requests[0].headers["webhook-signature"].partition(",")[2]
    echo = f"bad signature {signature} secret {stack.secret} {'y' * 5000}"
    receiver.default = Reply(500, body=echo.encode())

    with pytest.raises(TransientError):
        stack.forwarder.forward(event)

    assert receiver.requests[1].headers["webhook-signature"].partition(",")[2] == signature
    row = stack.services.db.query("SELECT response_head FROM webhook_deliveries ORDER BY id DESC LIMIT 1")[0]
    assert len(row["response_head"].encode()) <= 1024
    assert row["response_head"].startswith("bad signature [REDACTED] secret [REDACTED] yyy")
    assert signature not in logs.text
    assert stack.secret not in logs.text


def test_circuit_opens_after_consecutive_failures(make_stack: Callable[..., Stack], receiver: Receiver,
                                                  clock: FakeClock, logs) -> None:  # type: ignore[no-untyped-def]
    receiver.default = Reply(500)
    stack = make_stack([receiver.url()], {"WEBHOOK_BREAKER_FAILURES": "2",
                                          "WEBHOOK_BREAKER_OPEN_SEC": "60"})

    for job_id in ("job-1", "job-2"):
        with pytest.raises(TransientError):
            stack.forwarder.forward(sample_event(job_id))
    with pytest.raises(TransientError) as open_circuit:
        stack.forwarder.forward(sample_event("job-3"))

    assert open_circuit.value.code == "circuit_open"
    assert open_circuit.value.retry_after_ms == 60_000
    assert len(receiver.requests) == 2
    assert len(logs.events("webhook_circuit_opened")) == 1

    clock.advance(61)
    receiver.default = Reply(200)
    assert stack.forwarder.forward(sample_event("job-3"))["delivered"] == 1
    assert len(receiver.requests) == 3
    assert stack.forwarder.forward(sample_event("job-4"))["delivered"] == 1


def test_failing_period_disables_endpoint(make_stack: Callable[..., Stack], receiver: Receiver,
                                          clock: FakeClock, logs) -> None:  # type: ignore[no-untyped-def]
    receiver.default = Reply(503)
    stack = make_stack([receiver.url()], {"WEBHOOK_DISABLE_AFTER_SEC": "3600",
                                          "WEBHOOK_BREAKER_FAILURES": "100"})

    with pytest.raises(TransientError):
        stack.forwarder.forward(sample_event("job-1"))
    clock.advance(1800)
    with pytest.raises(TransientError):
        stack.forwarder.forward(sample_event("job-1"))
    assert logs.events("webhook_endpoint_disabled") == []
    clock.advance(1801)
    with pytest.raises(TransientError):
        stack.forwarder.forward(sample_event("job-1"))

    disabled = logs.events("webhook_endpoint_disabled")
    assert [line["reason"] for line in disabled] == ["failing_too_long"]
    with pytest.raises(PermanentError) as caught:
        stack.forwarder.forward(sample_event("job-2"))
    assert caught.value.code == "endpoint_disabled"
    assert len(receiver.requests) == 3


def test_success_resets_failing_period(make_stack: Callable[..., Stack], receiver: Receiver,
                                       clock: FakeClock) -> None:
    receiver.script = [Reply(503), Reply(200), Reply(503)]
    stack = make_stack([receiver.url()], {"WEBHOOK_DISABLE_AFTER_SEC": "3600"})

    with pytest.raises(TransientError):
        stack.forwarder.forward(sample_event("job-1"))
    clock.advance(3000)
    stack.forwarder.forward(sample_event("job-1"))
    clock.advance(3000)
    with pytest.raises(TransientError):
        stack.forwarder.forward(sample_event("job-2"))

    state = stack.forwarder.health.states([stack.forwarder.endpoints.configured(
        stack.services.settings)[0].id])
    assert next(iter(state.values())).enabled


def test_connection_refused_is_transient(make_stack: Callable[..., Stack], receivers) -> None:  # type: ignore[no-untyped-def]
    closed = receivers()
    url = closed.url()
    closed.close()
    stack = make_stack([url])

    with pytest.raises(TransientError) as caught:
        stack.forwarder.forward(sample_event())

    assert caught.value.code == "connect_failed"
    row = stack.services.db.query("SELECT detail FROM webhook_deliveries")[0]
    assert row["detail"].startswith("connect_failed reaching 127.0.0.1:")
    assert "/hook" not in row["detail"]


def test_large_response_keeps_first_kilobyte(make_stack: Callable[..., Stack], receiver: Receiver) -> None:
    receiver.script = [Reply(200, body=b"z" * 200_000), Reply(200, body=b"second")]
    stack = make_stack([receiver.url()])

    stack.forwarder.forward(sample_event("job-big"))
    stack.forwarder.forward(sample_event("job-after"))

    rows = stack.services.db.query("SELECT response_head FROM webhook_deliveries ORDER BY id")
    assert rows[0]["response_head"] == "z" * 1024
    assert rows[1]["response_head"] == "second"


def test_half_open_probe_taken_once(make_stack: Callable[..., Stack], receiver: Receiver,
                                    clock: FakeClock) -> None:
    receiver.default = Reply(500)
    stack = make_stack([receiver.url()], {"WEBHOOK_BREAKER_FAILURES": "1", "WEBHOOK_BREAKER_OPEN_SEC": "60"})
    endpoint_id = stack.forwarder.endpoints.configured(stack.services.settings)[0].id
    with pytest.raises(TransientError):
        stack.forwarder.forward(sample_event("job-1"))
    clock.advance(61)

    assert stack.forwarder.health.claim_probe(endpoint_id)  # another instance takes the probe
    with pytest.raises(TransientError) as skipped:
        stack.forwarder.forward(sample_event("job-2"))
    assert skipped.value.code == "circuit_open"
    assert len(receiver.requests) == 1

    clock.advance(61)
    with pytest.raises(TransientError) as probed:
        stack.forwarder.forward(sample_event("job-2"))
    assert probed.value.code == "http_500"
    assert len(receiver.requests) == 2
    with pytest.raises(TransientError) as reopened:
        stack.forwarder.forward(sample_event("job-3"))
    assert reopened.value.code == "circuit_open"
    assert len(receiver.requests) == 2


def test_timer_prunes_old_delivery_attempts(make_stack: Callable[..., Stack], receiver: Receiver,
                                            clock: FakeClock, request: pytest.FixtureRequest,
                                            logs) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack([receiver.url()], env={"WEBHOOK_DELIVERIES_RETENTION_DAYS": "7"})
    package_logger = logging.getLogger(LOGGER_NAME)
    previous_level = package_logger.level
    package_logger.setLevel(logging.INFO)
    request.addfinalizer(lambda: package_logger.setLevel(previous_level))
    old = sample_event()
    stack.forwarder.forward(old)
    clock.advance(8 * 86_400)
    stack.forwarder.forward(sample_event(job_id="job-recent"))

    tick = samples.timer_event("drain-webhook-queue")
    webhook_forward.main_handler(tick, samples.context("webhook-forward"))

    rows = stack.services.db.query("SELECT job_id FROM webhook_deliveries ORDER BY id")
    assert [row["job_id"] for row in rows] == ["job-recent"]
    assert logs.events("webhook_deliveries_pruned")[0]["deleted"] == 1


def test_prune_stops_at_limit(make_stack: Callable[..., Stack], receiver: Receiver, clock: FakeClock) -> None:
    stack = make_stack([receiver.url()])
    for index in range(5):
        stack.forwarder.forward(sample_event(job_id=f"job-{index}"))
    log = DeliveryLog(stack.services.db)

    assert log.prune(clock() + 1, limit=3) == 3
    assert log.prune(clock() + 1, limit=3) == 2
    assert log.prune(clock() + 1, limit=3) == 0
