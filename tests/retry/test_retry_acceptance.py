"""Retries end to end through the worker, on SQLite, MariaDB and RabbitMQ (RETRY_BASE_MS=10)."""

from __future__ import annotations

import itertools

import pytest
from retry_support import JOB_TYPE, TOPIC, Stack, main_handler, plan, row, run_times

from scf_worker.jobs.dispatch import Attempt, execute
from scf_worker.jobs.stats import job_counts
from scf_worker.jobs.worker import run_until_idle
from scf_worker.observability.logging import REDACTED
from scf_worker.retry.deadletter import DeadLetterQuery, list_entries
from scf_worker.retry.errors import TransientError


def run_worker(stack: Stack) -> None:
    stats = run_until_idle(stack.services, max_wait_seconds=10, sleep=stack.sleep, topics=(TOPIC,))
    assert stats.infra_errors == 0


def dead_letters(stack: Stack) -> list:
    return list_entries(stack.services.dead_letters, DeadLetterQuery(statuses=()))


def test_three_transient_failures_then_success(stack: Stack) -> None:
    stack.services.queue.publish(TOPIC, plan(stack.db, "j1", fail_times=3))

    run_worker(stack)

    probe = row(stack.db, "j1")
    assert probe["runs"] == 4
    assert probe["effects"] == 1
    assert stack.services.ledger.is_done(TOPIC, "j1")
    assert dead_letters(stack) == []
    times = run_times(stack.db, "j1")
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(times)]
    schedule = [0.01, 0.02, 0.04]
    if stack.kind == "amqp":
        # Broker TTLs are real time: each gap is at least its delay, plus polling slack.
        assert all(s <= g < s + 1.0 for g, s in zip(gaps, schedule, strict=True)), gaps
    else:
        assert gaps == schedule


def test_always_transient_dead_letters_after_max_attempts(stack: Stack) -> None:
    stack.services.queue.publish(TOPIC, plan(stack.db, "j1", fail_times=1000))

    run_worker(stack)

    assert row(stack.db, "j1")["runs"] == 5
    assert row(stack.db, "j1")["effects"] == 0
    [entry] = dead_letters(stack)
    assert entry.function == TOPIC
    assert entry.job_type == JOB_TYPE
    assert entry.idempotency_key == "j1"
    assert entry.attempts == 5
    assert entry.status == "pending"
    assert entry.transient
    assert entry.first_failure.error_class == "TransientError"
    assert "503" in entry.last_failure.message
    assert entry.first_failed_at <= entry.last_failed_at
    [counts] = job_counts(stack.db, function=TOPIC)
    assert (counts.attempts, counts.retries, counts.dead_letters, counts.successes) == (5, 4, 1, 0)


def test_permanent_failure_dead_letters_after_one_attempt(stack: Stack) -> None:
    stack.services.queue.publish(TOPIC, plan(stack.db, "j1", fail_times=1000, kind="permanent"))

    run_worker(stack)

    assert row(stack.db, "j1")["runs"] == 1
    [entry] = dead_letters(stack)
    assert entry.attempts == 1
    assert not entry.transient
    assert entry.last_failure.error_class == "PermanentError"
    assert "rejects its input" in entry.last_failure.message


def test_duplicate_messages_run_completed_work_once(stack: Stack) -> None:
    payload = plan(stack.db, "j1")
    stack.services.queue.publish(TOPIC, payload)
    stack.services.queue.publish(TOPIC, payload)

    run_worker(stack)

    assert row(stack.db, "j1")["runs"] == 1
    assert row(stack.db, "j1")["effects"] == 1


def test_dead_letter_payload_has_secrets_stripped(stack: Stack) -> None:
    payload = {**plan(stack.db, "j1", fail_times=1, kind="permanent"), "apiToken": "tok-123456",
               "target": {"password": "hunter22", "bucket": "media"}, "标题": "视频"}
    stack.services.queue.publish(TOPIC, payload)

    run_worker(stack)

    [entry] = dead_letters(stack)
    assert entry.payload == {"jobId": "j1", "apiToken": REDACTED,
                             "target": {"password": REDACTED, "bucket": "media"}, "标题": "视频"}


@pytest.mark.parametrize(("retry_after_ms", "expected_ms"), [(500, 500), (10**9, 1000), (1, 10)])
def test_retry_after_honoured_within_cap(stack: Stack, retry_after_ms: int, expected_ms: int) -> None:
    if stack.kind != "sqlite":
        pytest.skip("the decision does not depend on the transport")

    def fail(payload: object) -> dict:
        raise TransientError("http_429", "slow down", retry_after_ms)

    outcome = execute(stack.services, Attempt(TOPIC, JOB_TYPE, {"jobId": "j1"}, 1, "j1"), fail)

    assert outcome.status == "retry"
    assert outcome.delay_ms == expected_ms


def test_direct_invocation_stores_retry_durably(stack: Stack) -> None:
    payload = plan(stack.db, "j1", fail_times=1)

    response = main_handler(payload, {"request_id": "r1", "time_limit_in_ms": 3000})

    assert response["results"][0]["status"] == "retry"
    run_worker(stack)
    assert row(stack.db, "j1")["runs"] == 2
    assert row(stack.db, "j1")["effects"] == 1
