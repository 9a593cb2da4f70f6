"""The retry policy: schedule, jitter, cap, attempt budget, classification and Retry-After."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scf_worker.retry.classify import PERMANENT, TRANSIENT, classify
from scf_worker.retry.errors import PermanentError, TransientError
from scf_worker.retry.policy import RetryPolicy, error_for_status, is_retryable_status, parse_retry_after
from scf_worker.state.errors import StateError


def test_schedule_doubles_from_base() -> None:
    policy = RetryPolicy(base_ms=1000, max_delay_ms=300_000, jitter=False)

    assert [policy.delay_ms(n) for n in range(1, 6)] == [1000, 2000, 4000, 8000, 16000]


def test_schedule_is_capped() -> None:
    policy = RetryPolicy(base_ms=1000, max_delay_ms=5000, jitter=False)

    assert policy.delay_ms(3) == 4000
    assert policy.delay_ms(4) == 5000
    assert policy.delay_ms(10_000) == 5000


def test_jitter_stays_within_half_and_full_delay() -> None:
    low = RetryPolicy(base_ms=1000, random_fn=lambda: 0.0)
    high = RetryPolicy(base_ms=1000, random_fn=lambda: 1.0)

    assert low.delay_ms(3) == 2000
    assert high.delay_ms(3) == 4000


def test_jitter_clamps_out_of_range_random() -> None:
    policy = RetryPolicy(base_ms=1000, random_fn=lambda: 7.5)

    assert policy.delay_ms(1) == 1000


def test_retry_after_raises_delay_within_cap() -> None:
    policy = RetryPolicy(base_ms=100, max_delay_ms=10_000, jitter=False)

    assert policy.delay_ms(1, retry_after_ms=3000) == 3000
    assert policy.delay_ms(1, retry_after_ms=50) == 100
    assert policy.delay_ms(1, retry_after_ms=10**12) == 10_000


def test_should_retry_honours_max_attempts_exactly() -> None:
    policy = RetryPolicy(max_attempts=5)

    assert [policy.should_retry(n) for n in range(1, 7)] == [True, True, True, True, False, False]


def test_invalid_policy_rejected() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="base_ms"):
        RetryPolicy(base_ms=-1)


@settings(max_examples=500, deadline=None)
@given(attempt=st.integers(min_value=-5, max_value=10_000),
       base_ms=st.integers(min_value=0, max_value=3_600_000),
       cap_ms=st.integers(min_value=0, max_value=86_400_000),
       draw=st.floats(min_value=-1.0, max_value=2.0, allow_nan=False),
       retry_after=st.one_of(st.none(), st.integers(min_value=-10**6, max_value=10**15)))
def test_delay_always_within_zero_and_cap(attempt: int, base_ms: int, cap_ms: int, draw: float,
                                          retry_after: int | None) -> None:
    policy = RetryPolicy(base_ms=base_ms, max_delay_ms=cap_ms, random_fn=lambda: draw)

    delay = policy.delay_ms(attempt, retry_after)

    assert isinstance(delay, int)
    assert 0 <= delay <= cap_ms


@pytest.mark.parametrize(("status", "retryable"), [
    (400, False), (401, False), (403, False), (404, False), (409, False), (413, False), (422, False),
    (408, True), (425, True), (429, True), (500, True), (502, True), (503, True), (504, True),
])
def test_status_classification(status: int, retryable: bool) -> None:
    assert is_retryable_status(status) is retryable
    error = error_for_status(status, "answered")
    assert isinstance(error, TransientError if retryable else PermanentError)
    assert error.code == f"http_{status}"


@pytest.mark.parametrize(("exc", "kind", "code"), [
    (PermanentError("unsupported_media", "not a video"), PERMANENT, "unsupported_media"),
    (TransientError("http_503", "busy", 2000), TRANSIENT, "http_503"),
    (json.JSONDecodeError("bad", "{", 0), PERMANENT, "invalid_input"),
    (KeyError("jobId"), PERMANENT, "invalid_input"),
    (TimeoutError("slow"), TRANSIENT, "timeout"),
    (ConnectionRefusedError("refused"), TRANSIENT, "connection_failed"),
    (OSError("disk"), TRANSIENT, "io_error"),
    (StateError("mysql statement failed"), TRANSIENT, "StateError"),
    (RuntimeError("surprise"), TRANSIENT, "RuntimeError"),
])
def test_exception_classification(exc: Exception, kind: str, code: str) -> None:
    failure = classify(exc, at=12.0)

    assert failure.kind == kind
    assert failure.code == code
    assert failure.error_class == type(exc).__name__
    assert failure.at == 12.0


def test_classification_keeps_retry_after_and_truncates() -> None:
    failure = classify(TransientError("http_429", "x" * 5000, retry_after_ms=1500))

    assert failure.retry_after_ms == 1500
    assert len(failure.message) == 1000


@pytest.mark.parametrize(("header", "expected"), [
    ("120", 120_000),
    (" 3 ", 3000),
    ("Wed, 21 Oct 2015 07:28:30 GMT", 30_000),
    ("Wed, 21 Oct 2015 07:27:00 GMT", 0),
    ("soon", None),
    ("", None),
    (None, None),
    ("-5", None),
])
def test_retry_after_parsing(header: str | None, expected: int | None) -> None:
    now = 1445412480.0  # 2015-10-21T07:28:00Z

    assert parse_retry_after(header, now) == expected


def test_retry_after_capped() -> None:
    assert parse_retry_after("999999999", 0.0, max_ms=60_000) == 60_000
